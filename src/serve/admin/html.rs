//! Server-rendered pages: escaping, the common layout, and formatting of
//! times for staff. Every value that comes from a citizen, a pack or the
//! config goes through [`esc`].

use std::fmt::Write;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use layan_core::clock;

use super::auth::Login;

/// The dashboard's stylesheet.
pub const CSS: &str = include_str!("admin.css");
/// The dashboard's only script: live updates over server-sent events.
pub const JS: &str = include_str!("admin.js");

/// `text` safe inside HTML text and attribute values.
#[must_use]
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `text` safe as one component of a URL path or query.
#[must_use]
pub fn url(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `2026-11-26 14.05` in office time.
#[must_use]
pub fn when(ms: u64, offset: i32) -> String {
    if ms == 0 {
        return "—".to_owned();
    }
    let l = clock::Local::at(ms, offset);
    format!("{} {:02}.{:02}", l.iso_date(), l.minute / 60, l.minute % 60)
}

/// `3 jam 5 menit`, `2 hari 4 jam`, `45 detik`.
#[must_use]
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 && h > 0 {
        format!("{d} hari {h} jam")
    } else if d > 0 {
        format!("{d} hari")
    } else if h > 0 && m > 0 {
        format!("{h} jam {m} menit")
    } else if h > 0 {
        format!("{h} jam")
    } else if m > 0 {
        format!("{m} menit")
    } else {
        format!("{s} detik")
    }
}

/// How long ago, as a live list shows it: `baru saja` under a minute, then
/// `5 menit lalu`. Never seconds, so a list the server keeps current does not
/// change (and is not sent again) just because a second passed.
#[must_use]
pub fn ago(ms: u64) -> String {
    if ms < 60_000 {
        "baru saja".to_owned()
    } else {
        format!("{} lalu", duration(ms))
    }
}

/// The hidden CSRF field every form carries.
#[must_use]
pub fn csrf(login: &Login) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(&login.csrf)
    )
}

const NAV: [(&str, &str); 6] = [
    ("/admin", "Antrian"),
    ("/admin/tiket", "Tiket"),
    ("/admin/eskalasi", "Eskalasi"),
    ("/admin/statistik", "Statistik"),
    ("/admin/gagal", "Gagal terkirim"),
    ("/admin/paket", "Paket"),
];

/// A whole page: head, navigation for `login`, `body`.
#[must_use]
pub fn page(title: &str, login: Option<&Login>, active: &str, body: &str) -> Response {
    let mut nav = String::new();
    if let Some(login) = login {
        nav.push_str(r#"<nav aria-label="Menu utama"><ul>"#);
        let mut items: Vec<(&str, &str)> = NAV.to_vec();
        if login.is_admin() {
            items.push(("/admin/audit", "Audit"));
        }
        for (href, label) in items {
            let current = if href == active {
                r#" aria-current="page""#
            } else {
                ""
            };
            let _ = write!(nav, r#"<li><a href="{href}"{current}>{label}</a></li>"#);
        }
        let _ = write!(
            nav,
            r#"</ul><form method="post" action="/admin/keluar" class="logout">{}<span>{} ({})</span> <button type="submit">Keluar</button></form></nav>"#,
            csrf(login),
            esc(&login.user),
            login.role.label()
        );
    }
    let html = format!(
        r#"<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Layan</title>
<link rel="stylesheet" href="/admin/aset/admin.css">
<script src="/admin/aset/admin.js" defer></script>
</head>
<body>
<header><a class="brand" href="/admin">Layan · Dasbor petugas</a>{nav}</header>
<main id="isi">
<h1>{title}</h1>
{body}
</main>
</body>
</html>"#,
        title = esc(title),
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45_000), "45 detik");
        assert_eq!(ago(45_000), "baru saja");
        assert_eq!(ago(5 * 60_000 + 59_000), "5 menit lalu");
        assert_eq!(duration(5 * 60_000), "5 menit");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3 jam 5 menit");
        assert_eq!(duration(50 * 3_600_000), "2 hari 2 jam");
        assert_eq!(duration(48 * 3_600_000 + 59 * 60_000), "2 hari");
        assert_eq!(duration(3 * 3_600_000), "3 jam");
    }
}
