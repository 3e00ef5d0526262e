//! Masking personal numbers (NIK, phone numbers) in logs and exports.

use std::sync::OnceLock;

use regex::Regex;

fn patterns() -> &'static (Regex, Regex) {
    static P: OnceLock<(Regex, Regex)> = OnceLock::new();
    P.get_or_init(|| {
        (
            // 16 digits, optionally grouped: a NIK.
            Regex::new(r"\b\d{4}[ .-]?\d{4}[ .-]?\d{4}[ .-]?\d{4}\b").expect("NIK pattern"),
            // Indonesian phone numbers: 08…, +62…, 62…, with separators.
            Regex::new(r"(?:\+62|\b62|\b0)[ -]?8\d{1,3}(?:[ -]?\d){6,9}\b").expect("phone pattern"),
        )
    })
}

/// `text` with every NIK and phone number masked, keeping the first four
/// and last two digits: `1601********0001` → `1601**********01`,
/// `+6281234567890` → `+6281*******90`.
#[must_use]
pub fn mask(text: &str) -> String {
    let (nik, phone) = patterns();
    let masked = nik.replace_all(text, |c: &regex::Captures<'_>| mask_digits(&c[0]));
    phone
        .replace_all(&masked, |c: &regex::Captures<'_>| mask_digits(&c[0]))
        .into_owned()
}

fn mask_digits(s: &str) -> String {
    let total = s.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= 4 || seen > total - 2 {
                c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_nik_and_phones() {
        let cases = [
            ("NIK 1601235512900001", "NIK 1601**********01"),
            ("NIK 1601 2355 1290 0001", "NIK 1601 **** **** **01"),
            ("hp 081234567890 ya", "hp 0812******90 ya"),
            ("+6281234567890", "+6281*******90"),
            ("+62 812-3456-7890", "+62 81*-****-**90"),
            ("tiket ADU-2026-000123", "tiket ADU-2026-000123"),
            ("harga 15000 rupiah", "harga 15000 rupiah"),
        ];
        for (input, want) in cases {
            assert_eq!(mask(input), want, "{input}");
        }
    }
}
