//! A light, rule-based Indonesian stemmer.
//!
//! It strips particles (`-lah`, `-kah`), possessives (`-nya`, `-ku`, `-mu`),
//! derivational suffixes (`-kan`, `-an`, `-i`) and prefixes (`di-`, `ke-…-an`,
//! `ber-`, `ter-`, `meN-`, `peN-`, `per-`). It needs no dictionary and
//! so is not always linguistically right, but it is consistent: `perizinan`,
//! `izinnya` and `izin` share a stem, and the matcher uses stems only beside
//! the surface words.

use std::borrow::Cow;

/// The stem of one normalised word; short words are returned unchanged.
#[must_use]
pub fn stem(word: &str) -> Cow<'_, str> {
    if word.len() <= 4 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return Cow::Borrowed(word);
    }
    let mut w: &str = word;
    for particle in ["lah", "kah", "pun"] {
        if let Some(rest) = w.strip_suffix(particle)
            && rest.len() >= 4
        {
            w = rest;
            break;
        }
    }
    for possessive in ["nya", "ku", "mu"] {
        if let Some(rest) = w.strip_suffix(possessive)
            && rest.len() >= 4
        {
            w = rest;
            break;
        }
    }
    // Colloquial suffix -in (sambungin, patenin) stands for -kan or -i.
    if let Some(rest) = w.strip_suffix("in")
        && rest.len() >= 4
        && !rest.ends_with(['a', 'i', 'u', 'e', 'o'])
    {
        w = rest;
    }
    let (prefixed, root) = strip_prefix(w);
    let mut w: Cow<'_, str> = root;
    for suffix in ["kan", "an"] {
        if let Some(rest) = w.strip_suffix(suffix)
            && rest.len() >= 3
        {
            w = Cow::Owned(rest.to_owned());
            break;
        }
    }
    if prefixed
        && let Some(rest) = w.strip_suffix('i')
        && rest.len() >= 4
    {
        w = Cow::Owned(rest.to_owned());
    }
    if w == word { Cow::Borrowed(word) } else { w }
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Strips one prefix layer (two for `di-per-`, `mem-per-`, `ke-ter-`…),
/// returning whether anything was stripped.
fn strip_prefix(w: &str) -> (bool, Cow<'_, str>) {
    let mut stripped = false;
    let mut cur: Cow<'_, str> = Cow::Borrowed(w);
    for _ in 0..2 {
        match strip_one(&cur) {
            // Roots of three letters are real (cek, isi) but after a formal
            // two-letter prefix they are mostly misreadings (me-sin).
            Some(next) if next.len() >= 4 || (next.len() == 3 && cur.starts_with("ng")) => {
                cur = Cow::Owned(next);
                stripped = true;
            }
            _ => break,
        }
    }
    (stripped, cur)
}

fn strip_one(w: &str) -> Option<String> {
    let b = w.as_bytes();
    let after = |n: usize| w.get(n..).map(str::to_owned);
    let starts = |p: &str| w.starts_with(p) && w.len() > p.len() + 2;
    // Colloquial nge-/ng- (ngecek, ngurus, ngadu).
    if starts("nge") && !is_vowel(b[3]) {
        return after(3);
    }
    if starts("ng") && is_vowel(b[2]) {
        return after(2);
    }
    if starts("meng") || starts("peng") {
        return after(4);
    }
    if starts("meny") || starts("peny") {
        return Some(format!("s{}", &w[4..]));
    }
    if starts("mem") || starts("pem") {
        // mem+vowel: the root began with p (memakai → pakai); otherwise b/f/v.
        return if is_vowel(b[3]) {
            Some(format!("p{}", &w[3..]))
        } else {
            after(3)
        };
    }
    if starts("men") || starts("pen") {
        // men+vowel: the root began with t (menanyakan → tanya).
        return if is_vowel(b[3]) {
            Some(format!("t{}", &w[3..]))
        } else {
            after(3)
        };
    }
    for p in ["ber", "ter", "per"] {
        if starts(p) {
            return after(3);
        }
    }
    for p in ["me", "pe", "be", "di"] {
        if starts(p) {
            return after(2);
        }
    }
    // ke- only as the ke-…-an confix (kegiatan); `se-` is left alone, too
    // many roots begin with it (sertifikat, sembako).
    if starts("ke") && w.ends_with("an") {
        return after(2);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn table() {
        let cases = [
            ("perizinan", "izin"),
            ("izinnya", "izin"),
            ("pendaftaran", "daftar"),
            ("mendaftar", "daftar"),
            ("menanyakan", "tanya"),
            ("persyaratan", "syarat"),
            ("berusaha", "usaha"),
            ("membuat", "buat"),
            ("pengurusan", "urus"),
            ("mengurus", "urus"),
            ("bantuan", "bantu"),
            ("izin", "izin"),
            ("nib", "nib"),
            ("sertifikat", "sertifikat"),
            ("ngurus", "urus"),
            ("ngecek", "cek"),
            ("sambungin", "sambung"),
            ("patenin", "paten"),
            ("mematenkan", "paten"),
            ("mesin", "mesin"),
            ("ingin", "ingin"),
        ];
        for (word, want) in cases {
            assert_eq!(stem(word), want, "stem of {word}");
        }
    }
}
