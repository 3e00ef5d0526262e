//! Rendering replies for what a channel can show, and reading a citizen's
//! answer to a numbered menu.
//!
//! A channel without buttons gets a numbered menu; the citizen's answer —
//! `2`, `no 2`, `nomor 2`, `dua`, `yang kedua`, or the option's title with a
//! typo — is mapped back by [`resolve_choice`]. Long text is split at the
//! channel's limit on paragraph, line or sentence boundaries, never inside a
//! word or a character.

use crate::matcher::edit_distance;
use crate::message::{Button, Capabilities, ListRow, Reply};
use crate::normalise::fold_chars;

/// A message ready for one channel: nothing in it exceeds the channel's limits.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outgoing {
    /// Plain text.
    Text(String),
    /// Text with native buttons.
    Buttons {
        /// The text.
        text: String,
        /// The buttons (at most the channel's `max_buttons`).
        buttons: Vec<Button>,
    },
    /// Text with a native list.
    List {
        /// The text.
        text: String,
        /// The label of the button that opens the list.
        button: String,
        /// The rows (at most the channel's `max_list_rows`).
        rows: Vec<ListRow>,
    },
    /// A picture or file.
    Media {
        /// `image`, `document`, …
        kind: String,
        /// Where the file is.
        url: String,
        /// The caption.
        caption: Option<String>,
    },
    /// A place on the map.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// The place's name.
        name: Option<String>,
    },
}

impl Outgoing {
    /// The text a person reads.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) | Self::Buttons { text: t, .. } | Self::List { text: t, .. } => t,
            Self::Media { caption, .. } => caption.as_deref().unwrap_or(""),
            Self::Location { name, .. } => name.as_deref().unwrap_or(""),
        }
    }
}

/// The line under a numbered menu.
pub const MENU_HINT: &str = "Balas dengan nomor pilihan.";
/// The option that shows the next page of a long menu.
pub const MORE_TITLE: &str = "Lainnya";
/// The payload of [`MORE_TITLE`], followed by the index of the first option
/// of the next page (`@lainnya:9`); the engine answers it with the rest of
/// the menu the citizen was shown.
pub const MORE_PAYLOAD: &str = "@lainnya:";

/// Renders `replies` for a channel with `caps`.
#[must_use]
pub fn render(replies: &[Reply], caps: &Capabilities) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for reply in replies {
        match reply {
            Reply::Text(text) => push_text(&mut out, text, caps, None),
            Reply::Buttons { text, buttons } => render_options(&mut out, text, buttons, caps),
            Reply::List { text, rows, .. } => {
                let buttons: Vec<Button> = reply.options();
                if caps.rich && rows.len() <= caps.max_list_rows {
                    let rows = rows
                        .iter()
                        .map(|r| ListRow {
                            title: truncate_title(&r.title, caps.max_button_title.max(24)),
                            ..r.clone()
                        })
                        .collect();
                    let button = match reply {
                        Reply::List { button, .. } => {
                            truncate_title(button, caps.max_button_title.max(20))
                        }
                        _ => String::new(),
                    };
                    push_text(&mut out, text, caps, Some(Tail::List { button, rows }));
                } else {
                    render_options(&mut out, text, &buttons, caps);
                }
            }
            Reply::Media { kind, url, caption } => {
                if caps.rich {
                    out.push(Outgoing::Media {
                        kind: kind.clone(),
                        url: url.clone(),
                        caption: caption.clone(),
                    });
                } else {
                    let text = match caption {
                        Some(c) => format!("{c}\n{url}"),
                        None => url.clone(),
                    };
                    push_text(&mut out, &text, caps, None);
                }
            }
            Reply::Location {
                latitude,
                longitude,
                name,
            } => {
                if caps.rich {
                    out.push(Outgoing::Location {
                        latitude: *latitude,
                        longitude: *longitude,
                        name: name.clone(),
                    });
                } else {
                    let link = format!("https://maps.google.com/?q={latitude},{longitude}");
                    let text = match name {
                        Some(n) => format!("{n}\n{link}"),
                        None => link,
                    };
                    push_text(&mut out, &text, caps, None);
                }
            }
        }
    }
    out
}

enum Tail {
    Buttons(Vec<Button>),
    List { button: String, rows: Vec<ListRow> },
}

fn render_options(out: &mut Vec<Outgoing>, text: &str, buttons: &[Button], caps: &Capabilities) {
    if buttons.is_empty() {
        return push_text(out, text, caps, None);
    }
    let fitted = |buttons: &[Button]| -> Vec<Button> {
        buttons
            .iter()
            .map(|b| {
                Button::new(
                    truncate_title(&b.title, caps.max_button_title),
                    b.payload.clone(),
                )
            })
            .collect()
    };
    if caps.rich && buttons.len() <= caps.max_buttons {
        return push_text(out, text, caps, Some(Tail::Buttons(fitted(buttons))));
    }
    if caps.rich && caps.max_buttons >= 2 && caps.max_list_rows < caps.max_buttons {
        // More options than buttons and no lists: a page of buttons and "Lainnya".
        let page = caps.max_buttons - 1;
        let mut shown = fitted(&buttons[..page]);
        shown.push(Button::new(MORE_TITLE, format!("{MORE_PAYLOAD}{page}")));
        return push_text(out, text, caps, Some(Tail::Buttons(shown)));
    }
    if caps.rich && caps.max_list_rows >= 2 {
        // A list; with more options than rows, a page of them and "Lainnya".
        let page = if buttons.len() <= caps.max_list_rows {
            buttons.len()
        } else {
            caps.max_list_rows - 1
        };
        let mut rows: Vec<ListRow> = buttons[..page]
            .iter()
            .map(|b| ListRow {
                title: truncate_title(&b.title, 24),
                description: None,
                payload: b.payload.clone(),
            })
            .collect();
        if page < buttons.len() {
            rows.push(ListRow {
                title: MORE_TITLE.to_owned(),
                description: Some(format!("{} pilihan lagi", buttons.len() - page)),
                payload: format!("{MORE_PAYLOAD}{page}"),
            });
        }
        return push_text(
            out,
            text,
            caps,
            Some(Tail::List {
                button: "Pilih".to_owned(),
                rows,
            }),
        );
    }
    push_text(out, &numbered_menu(text, buttons), caps, None);
}

/// `text` followed by the options as a numbered menu and [`MENU_HINT`].
#[must_use]
pub fn numbered_menu(text: &str, options: &[Button]) -> String {
    let mut s = text.trim_end().to_owned();
    if !s.is_empty() {
        s.push_str("\n\n");
    }
    for (i, b) in options.iter().enumerate() {
        s.push_str(&format!("{}. {}\n", i + 1, b.title));
    }
    s.push_str(MENU_HINT);
    s
}

fn push_text(out: &mut Vec<Outgoing>, text: &str, caps: &Capabilities, tail: Option<Tail>) {
    let mut parts = split_text(text, caps.max_text.max(1));
    if parts.is_empty() {
        parts.push(String::new());
    }
    let last = parts.pop().unwrap_or_default();
    out.extend(parts.into_iter().map(Outgoing::Text));
    out.push(match tail {
        None => Outgoing::Text(last),
        Some(Tail::Buttons(buttons)) => Outgoing::Buttons {
            text: last,
            buttons,
        },
        Some(Tail::List { button, rows }) => Outgoing::List {
            text: last,
            button,
            rows,
        },
    });
}

/// A title cut to `max` characters, with `…` when cut.
#[must_use]
pub fn truncate_title(title: &str, max: usize) -> String {
    if max == 0 || title.chars().count() <= max {
        return title.to_owned();
    }
    let mut s: String = title.chars().take(max.saturating_sub(1)).collect();
    s = s.trim_end().to_owned();
    s.push('…');
    s
}

/// Splits `text` into parts of at most `max` characters, cutting at the last
/// paragraph break, line break, sentence end or space that fits; a single
/// word longer than `max` is cut between characters. Parts are trimmed.
#[must_use]
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((limit, at_limit)) = rest.char_indices().nth(max) else {
            parts.push(rest.to_owned());
            break;
        };
        // The window holds one character more than fits, so that a
        // separator right at the limit is seen. A cut `p` keeps `rest[..p]`
        // (at most `max` characters) and drops the separator after it.
        let window = &rest[..limit + at_limit.len_utf8()];
        let cut = ["\n\n", "\n"]
            .iter()
            .find_map(|sep| window.rfind(sep).filter(|&i| i > 0))
            .or_else(|| {
                [". ", "? ", "! ", "; "]
                    .iter()
                    .filter_map(|sep| window.rfind(sep).map(|i| i + 1))
                    .filter(|&i| i > 1 && i <= limit)
                    .max()
            })
            .or_else(|| window.rfind(char::is_whitespace).filter(|&i| i > 0))
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim();
        if !head.is_empty() {
            parts.push(head.to_owned());
        }
        rest = tail.trim_start();
    }
    parts
}

const FILLERS: &[&str] = &[
    "no", "nomor", "nomer", "nmr", "nmor", "pilih", "pilihan", "opsi", "yang", "yg", "angka",
    "saya", "sy", "aku", "mau", "pilihnya", "aja", "saja", "ya", "dong", "min", "kak", "deh",
    "itu", "nya",
];

const NUMERALS: &[&str] = &[
    "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan", "sepuluh",
];

const ORDINALS: &[&str] = &[
    "pertama",
    "kedua",
    "ketiga",
    "keempat",
    "kelima",
    "keenam",
    "ketujuh",
    "kedelapan",
    "kesembilan",
    "kesepuluh",
];

/// The number a short answer names — `2`, `no 2`, `nomor 2`, `dua`, `yang
/// kedua`, `ke-2` — or `None` when it is not such an answer.
#[must_use]
pub fn choice_number(input: &str) -> Option<usize> {
    // "yang ke-2 saja dong" is as long as such an answer gets.
    if input.split_whitespace().nth(5).is_some() {
        return None;
    }
    let folded = fold_chars(input);
    let words: Vec<&str> = folded
        .split_whitespace()
        .filter(|w| !FILLERS.contains(w))
        .collect();
    let joined = words.concat();
    let token = match words.as_slice() {
        [single] => *single,
        ["ke", _] => joined.as_str(),
        _ => return None,
    };
    let digits = token
        .strip_prefix("ke")
        .map_or(token, |t| t.trim_start_matches('-'));
    if let Ok(n) = digits.parse::<usize>() {
        return Some(n);
    }
    if token == "kesatu" {
        return Some(1);
    }
    NUMERALS
        .iter()
        .position(|w| *w == token)
        .or_else(|| ORDINALS.iter().position(|w| *w == token))
        .map(|i| i + 1)
}

/// Which of `options` (shown as a numbered menu) the citizen's `input`
/// chooses, as an index, or `None` when the input is not a choice.
#[must_use]
pub fn resolve_choice(input: &str, options: &[Button]) -> Option<usize> {
    if options.is_empty() {
        return None;
    }
    if let Some(n) = choice_number(input) {
        return (1..=options.len()).contains(&n).then(|| n - 1);
    }
    // The option's title, possibly with a typo: not much longer than the longest title.
    let longest = options
        .iter()
        .map(|b| b.title.chars().count())
        .max()
        .unwrap_or(0);
    if input.trim().chars().count() > longest + longest / 5 + 4 {
        return None;
    }
    let said = fold_chars(input)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if said.is_empty() || said.chars().count() > 60 {
        return None;
    }
    let mut best: Option<(usize, usize)> = None;
    let mut tie = false;
    for (i, b) in options.iter().enumerate() {
        let title = fold_chars(&b.title)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let d = edit_distance(&said, &title);
        let allowed = (title.chars().count() / 5).max(1);
        if d > allowed {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, i));
                tie = false;
            }
        }
    }
    if tie { None } else { best.map(|(_, i)| i) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Vec<Button> {
        vec![
            Button::new("Izin usaha", "izin_usaha"),
            Button::new("Bantuan usaha", "bantuan_usaha"),
            Button::new("Tera ulang", "tera_ulang"),
        ]
    }

    #[test]
    fn choices_map_back() {
        let cases = [
            ("2", Some(1)),
            ("no 2", Some(1)),
            ("No. 2", Some(1)),
            ("nomor 2", Some(1)),
            ("dua", Some(1)),
            ("yang kedua", Some(1)),
            ("yg ke-2", Some(1)),
            ("ke 2", Some(1)),
            ("bantuan usha", Some(1)),
            ("Bantuan Usaha", Some(1)),
            ("1", Some(0)),
            ("pertama", Some(0)),
            ("tiga", Some(2)),
            ("4", None),
            ("0", None),
            ("bagaimana cara membuat izin usaha", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(resolve_choice(input, &menu()), want, "input {input:?}");
        }
    }

    #[test]
    fn plain_channels_get_numbered_menus() {
        let reply = Reply::Buttons {
            text: "Pilih layanan:".to_owned(),
            buttons: menu(),
        };
        let out = render(&[reply], &Capabilities::terminal());
        assert_eq!(
            out,
            [Outgoing::Text(
                "Pilih layanan:\n\n1. Izin usaha\n2. Bantuan usaha\n3. Tera ulang\nBalas dengan nomor pilihan.".to_owned()
            )]
        );
    }

    #[test]
    fn rich_channels_get_buttons_then_lists() {
        let wa = Capabilities::whatsapp();
        let out = render(
            &[Reply::Buttons {
                text: "x".into(),
                buttons: menu(),
            }],
            &wa,
        );
        assert!(matches!(&out[0], Outgoing::Buttons { buttons, .. } if buttons.len() == 3));
        let mut many = menu();
        many.push(Button::new(
            "Harga bahan pokok hari ini di pasar",
            "harga_bahan_pokok",
        ));
        let out = render(
            &[Reply::Buttons {
                text: "x".into(),
                buttons: many,
            }],
            &wa,
        );
        match &out[0] {
            Outgoing::List { rows, .. } => {
                assert_eq!(rows.len(), 4);
                assert!(rows[3].title.chars().count() <= 24);
            }
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn long_text_splits_on_boundaries() {
        let text = "Kalimat pertama. Kalimat kedua yang agak panjang. Kalimat ketiga.";
        let parts = split_text(text, 30);
        assert_eq!(
            parts,
            [
                "Kalimat pertama.",
                "Kalimat kedua yang agak",
                "panjang. Kalimat ketiga."
            ]
        );
        let lines = split_text("baris satu\nbaris dua\nbaris tiga", 20);
        assert_eq!(lines, ["baris satu\nbaris dua", "baris tiga"]);
        let emoji = split_text("🙏🙏🙏🙏🙏", 2);
        assert_eq!(emoji, ["🙏🙏", "🙏🙏", "🙏"]);
    }

    proptest::proptest! {
        #[test]
        fn split_respects_limit_and_keeps_words(s in "\\PC{0,400}", max in 1usize..80) {
            let parts = split_text(&s, max);
            for p in &parts {
                proptest::prop_assert!(p.chars().count() <= max);
                proptest::prop_assert!(!p.is_empty());
            }
            let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>().concat();
            proptest::prop_assert_eq!(words(&parts.join(" ")), words(&s));
        }

        #[test]
        fn render_never_exceeds_limits(s in "\\PC{0,300}", titles in proptest::collection::vec("\\PC{1,40}", 0..15)) {
            let buttons: Vec<Button> = titles.iter().map(|t| Button::new(t.clone(), "x")).collect();
            for caps in [Capabilities::whatsapp(), Capabilities::telegram(), Capabilities::plain(160)] {
                let out = render(&[Reply::Buttons { text: s.clone(), buttons: buttons.clone() }], &caps);
                for o in &out {
                    proptest::prop_assert!(o.text().chars().count() <= caps.max_text);
                    if let Outgoing::Buttons { buttons, .. } = o {
                        proptest::prop_assert!(buttons.len() <= caps.max_buttons);
                        for b in buttons {
                            proptest::prop_assert!(b.title.chars().count() <= caps.max_button_title);
                        }
                    }
                }
            }
        }
    }
}
