//! SMS text: the GSM-7 alphabet, folding typographic characters so plain
//! text stays GSM-7, and counting segments.
//!
//! A GSM-7 message holds 160 septets in one segment, 153 per segment when
//! concatenated; the extension characters `^{}\[~]|€` (and form feed) take
//! two septets (an escape and the character), and an escape pair is never
//! split across segments. Anything outside GSM-7 sends the whole message as
//! UCS-2: 70 UTF-16 units in one segment, 67 when concatenated, and a
//! surrogate pair (an emoji) is never split.

/// The GSM 03.38 basic character set (the escape 0x1B excluded).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: two septets each.
const EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How a message is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The 7-bit default alphabet.
    Gsm7,
    /// UTF-16, for anything else.
    Ucs2,
}

/// Septets `c` takes in GSM-7, or `None` when it is not in the alphabet.
#[must_use]
pub fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether all of `text` is GSM-7.
#[must_use]
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// The encoding `text` needs.
#[must_use]
pub fn encoding(text: &str) -> Encoding {
    if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// `text` with typographic quotes, dashes, ellipses, bullets and special
/// spaces replaced by their plain GSM-7 forms, accents outside GSM-7
/// dropped, and emoji removed, so that ordinary Indonesian text is sent as
/// GSM-7 (more characters per segment, and no mangled symbols on old
/// phones). Characters with no plain form (other scripts) are kept; the
/// message is then UCS-2.
#[must_use]
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if septets(c).is_some() {
            out.push(c);
            continue;
        }
        match c {
            '‘' | '’' | '‚' | '‛' | '′' | '`' | '´' => out.push('\''),
            '“' | '”' | '„' | '‟' | '″' | '«' | '»' => out.push('"'),
            '–' | '—' | '―' | '‒' | '−' | '•' | '·' => out.push('-'),
            '…' => out.push_str("..."),
            '\t' | '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' => out.push(' '),
            '×' => out.push('x'),
            '÷' => out.push('/'),
            '©' => out.push_str("(c)"),
            '®' => out.push_str("(R)"),
            '™' => out.push_str("TM"),
            '₹' | '₽' | '₩' | '₺' => out.push(c),
            'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => out.push('a'),
            'Á' | 'Â' | 'Ã' | 'À' | 'Ā' => out.push('A'),
            'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => out.push('e'),
            'È' | 'Ê' | 'Ë' | 'Ē' => out.push('E'),
            'í' | 'î' | 'ï' | 'ī' => out.push('i'),
            'Í' | 'Ì' | 'Î' | 'Ï' => out.push('I'),
            'ó' | 'ô' | 'õ' | 'ō' => out.push('o'),
            'Ó' | 'Ò' | 'Ô' | 'Õ' => out.push('O'),
            'ú' | 'û' | 'ū' => out.push('u'),
            'Ú' | 'Ù' | 'Û' => out.push('U'),
            'ç' => out.push('c'),
            'ý' | 'ÿ' => out.push('y'),
            // Zero-width characters, variation selectors and emoji carry no words.
            '\u{200b}'..='\u{200f}' | '\u{fe00}'..='\u{fe0f}' | '\u{2060}' => {}
            c if is_pictograph(c) => {}
            c => out.push(c),
        }
    }
    // Removing emoji can leave doubled spaces and trailing blanks.
    let mut tidy = String::with_capacity(out.len());
    for line in out.split('\n') {
        if !tidy.is_empty() {
            tidy.push('\n');
        }
        let mut last_space = false;
        for c in line.trim_end().chars() {
            if c == ' ' && last_space {
                continue;
            }
            last_space = c == ' ';
            tidy.push(c);
        }
    }
    tidy
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xE0020..=0xE007F | 0x2190..=0x21FF | 0x2300..=0x23FF)
}

/// `text` cut into the segments a phone receives: each part is what one
/// segment carries, never splitting an escape pair or a surrogate pair.
#[must_use]
pub fn segments(text: &str) -> (Encoding, Vec<String>) {
    let enc = encoding(text);
    let (single, multi, size): (usize, usize, fn(char) -> usize) = match enc {
        Encoding::Gsm7 => (160, 153, |c| septets(c).unwrap_or(1)),
        Encoding::Ucs2 => (70, 67, char::len_utf16),
    };
    let total: usize = text.chars().map(size).sum();
    if total <= single {
        return (enc, vec![text.to_owned()]);
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        let n = size(c);
        if used + n > multi {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += n;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    (enc, parts)
}

/// How many segments `text` takes.
#[must_use]
pub fn segment_count(text: &str) -> usize {
    segments(text).1.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_standard() {
        let cases: &[(&str, usize, Encoding, usize)] = &[
            // text, repeat, encoding, segments
            ("a", 160, Encoding::Gsm7, 1),
            ("a", 161, Encoding::Gsm7, 2),
            ("a", 306, Encoding::Gsm7, 2),
            ("a", 307, Encoding::Gsm7, 3),
            ("€", 80, Encoding::Gsm7, 1),
            ("€", 81, Encoding::Gsm7, 2),
            ("é", 160, Encoding::Gsm7, 1),
            ("ш", 70, Encoding::Ucs2, 1),
            ("ш", 71, Encoding::Ucs2, 2),
            ("ш", 134, Encoding::Ucs2, 2),
            ("ш", 135, Encoding::Ucs2, 3),
            ("😀", 35, Encoding::Ucs2, 1),
            ("😀", 36, Encoding::Ucs2, 2),
        ];
        for &(unit, n, enc, count) in cases {
            let text = unit.repeat(n);
            let (e, parts) = segments(&text);
            assert_eq!((e, parts.len()), (enc, count), "{unit} × {n}");
            assert_eq!(parts.concat(), text, "nothing lost");
        }
    }

    #[test]
    fn an_escape_pair_is_never_split() {
        // 152 plain septets, then "€": 154 would straddle the first segment.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let (_, parts) = segments(&text);
        assert_eq!(
            parts[0],
            "a".repeat(152),
            "the € moves whole to the next segment"
        );
        assert!(parts[1].starts_with('€'));
    }

    #[test]
    fn a_surrogate_pair_is_never_split() {
        let text = format!("{}😀{}", "ш".repeat(66), "ш".repeat(10));
        let (_, parts) = segments(&text);
        assert_eq!(parts[0].chars().count(), 66);
        assert!(parts[1].starts_with('😀'));
    }

    #[test]
    fn typographic_text_folds_to_gsm7() {
        let cases = [
            ("“Izin” – cek di OSS…", "\"Izin\" - cek di OSS..."),
            ("Terima kasih 🙏 ya", "Terima kasih ya"),
            ("Jam buka: 08.00—15.00", "Jam buka: 08.00-15.00"),
            ("Kami ‘siap’ membantu", "Kami 'siap' membantu"),
            ("Biaya Rp0 • gratis", "Biaya Rp0 - gratis"),
            ("café", "café"),
        ];
        for (input, want) in cases {
            let got = fold(input);
            assert_eq!(got, want);
            assert!(is_gsm7(&got), "{got}");
        }
        assert_eq!(
            encoding(&fold("Привет")),
            Encoding::Ucs2,
            "other scripts are kept"
        );
    }
}
