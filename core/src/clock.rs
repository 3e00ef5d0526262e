//! Time in Indonesian offices: fixed UTC offsets (WIB +7, WITA +8, WIT +9;
//! Indonesia has no daylight saving), civil dates, Indonesian date words.

/// Minutes east of UTC for an IANA zone or Indonesian abbreviation.
#[must_use]
pub fn utc_offset_minutes(tz: &str) -> Option<i32> {
    match tz.trim() {
        "Asia/Jakarta" | "Asia/Pontianak" | "WIB" | "wib" => Some(7 * 60),
        "Asia/Makassar" | "WITA" | "wita" => Some(8 * 60),
        "Asia/Jayapura" | "WIT" | "wit" => Some(9 * 60),
        "UTC" | "Etc/UTC" => Some(0),
        _ => None,
    }
}

/// The abbreviation citizens know for an offset.
#[must_use]
pub fn zone_name(offset_minutes: i32) -> &'static str {
    match offset_minutes {
        420 => "WIB",
        480 => "WITA",
        540 => "WIT",
        _ => "UTC",
    }
}

/// Month names in Bahasa Indonesia.
pub const MONTHS: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// Weekday names in Bahasa Indonesia, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
];

/// The weekday of a day number, as an index into [`WEEKDAYS`] (Monday 0).
#[must_use]
pub fn weekday_of_day(day: i64) -> usize {
    // 1970-01-01 was a Thursday (index 3).
    (day + 3).rem_euclid(7) as usize
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
#[must_use]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// A moment in an office's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Days since 1970-01-01, local.
    pub day: i64,
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub dom: u32,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: usize,
    /// Minutes since local midnight.
    pub minute: u32,
}

impl Local {
    /// `ms` (Unix milliseconds) at `offset` minutes east of UTC.
    #[must_use]
    pub fn at(ms: u64, offset: i32) -> Self {
        let local_min = i64::try_from(ms / 60_000).unwrap_or(i64::MAX) + i64::from(offset);
        let day = local_min.div_euclid(1440);
        let minute = local_min.rem_euclid(1440) as u32;
        let (year, month, dom) = civil_from_days(day);
        let weekday = weekday_of_day(day);
        Self {
            day,
            year,
            month,
            dom,
            weekday,
            minute,
        }
    }

    /// `5 Desember 2026`.
    #[must_use]
    pub fn date_text(&self) -> String {
        format!(
            "{} {} {}",
            self.dom,
            MONTHS[self.month as usize - 1],
            self.year
        )
    }

    /// `YYYY-MM-DD`.
    #[must_use]
    pub fn iso_date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.dom)
    }
}

/// Unix milliseconds of local midnight of `day` plus `minute`.
#[must_use]
pub fn ms_of(day: i64, minute: u32, offset: i32) -> u64 {
    let utc_min = day * 1440 + i64::from(minute) - i64::from(offset);
    u64::try_from(utc_min.max(0)).unwrap_or(0) * 60_000
}

/// `Sabtu, 5 Desember 2026`: a day number as a citizen reads it.
#[must_use]
pub fn day_text(day: i64) -> String {
    let l = Local::at(ms_of(day, 0, 0), 0);
    format!("{}, {}", WEEKDAYS[l.weekday], l.date_text())
}

/// `Selasa, 5 Desember 2026 pukul 08.00 WIB`.
#[must_use]
pub fn datetime_text(ms: u64, offset: i32) -> String {
    let l = Local::at(ms, offset);
    format!(
        "{}, {} pukul {:02}.{:02} {}",
        WEEKDAYS[l.weekday],
        l.date_text(),
        l.minute / 60,
        l.minute % 60,
        zone_name(offset)
    )
}

fn month_of(word: &str) -> Option<u32> {
    let w = word.to_lowercase();
    if w.len() < 3 {
        return None;
    }
    let short: [&str; 12] = [
        "jan", "feb", "mar", "apr", "mei", "jun", "jul", "agu", "sep", "okt", "nov", "des",
    ];
    MONTHS
        .iter()
        .position(|m| m.to_lowercase() == w)
        .or_else(|| short.iter().position(|s| w.starts_with(s)))
        .or_else(|| (w == "agt" || w == "ags").then_some(7))
        .map(|i| i as u32 + 1)
}

/// The years a date may fall in; anything outside is taken for a typo.
pub const YEARS: std::ops::RangeInclusive<i64> = 1900..=2200;

/// A date written exactly `YYYY-MM-DD` (config files, command lines), as a
/// day number; `None` for anything else, with [`iso_date_hint`] to say why.
#[must_use]
pub fn parse_iso_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped.then(|| parse_date(text, 0)).flatten()
}

/// What to tell someone whose `YYYY-MM-DD` date did not read.
#[must_use]
pub fn iso_date_hint() -> String {
    format!(
        "write the date as YYYY-MM-DD, a day that exists, in the years {}–{}",
        YEARS.start(),
        YEARS.end()
    )
}

fn valid(y: i64, m: u32, d: u32) -> bool {
    if !(1..=12).contains(&m) || d == 0 || !YEARS.contains(&y) {
        return false;
    }
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    i64::from(d) <= next - days_from_civil(y, m, 1)
}

/// Words around a date in a chat answer that say nothing about the day:
/// `insya allah besok`, `rencana tanggal 7 desember`, `senin aja pak`.
const DATE_FILLERS: &[&str] = &[
    "insya",
    "insyaallah",
    "insyallah",
    "allah",
    "rencana",
    "rencananya",
    "mungkin",
    "sekitar",
    "kira",
    "kira-kira",
    "pada",
    "tanggal",
    "tgl",
    "saya",
    "sy",
    "ambil",
    "datang",
    "ke",
    "kantor",
    "nanti",
    "aja",
    "saja",
    "ya",
    "pak",
    "bu",
    "min",
    "kak",
    "pagi",
    "siang",
    "sore",
    "malam",
];

/// Where a time of day starts (`besok jam 10`): the rest is not read.
const TIME_WORDS: &[&str] = &["jam", "pukul", "pkl"];

fn weekday_of(word: &str) -> Option<usize> {
    let word = match word {
        "jum'at" | "jumaat" => "jumat",
        w => w,
    };
    WEEKDAYS.iter().position(|w| w.eq_ignore_ascii_case(word))
}

/// Reads an Indonesian date relative to `today` (local day number):
/// `5 Desember 2026`, `5 des`, `05/12/2026`, `5-12-2026`, `2026-12-05`,
/// `hari ini`, `besok`, `lusa`, `kemarin`, a weekday name (its next
/// occurrence, today included; `jumat ini` the same; `jumat depan` the
/// Friday of next week), or a day of the month alone (`tanggal 7`: the
/// next 7th). Words around the date that a chat answer carries are
/// skipped: `insya allah besok pagi`, `senin jam 10`, `rabu, 9 desember`.
/// Returns the local day number.
#[must_use]
pub fn parse_date(text: &str, today: i64) -> Option<i64> {
    let lower = text.trim().to_lowercase();
    let mut words: Vec<&str> = Vec::new();
    for word in lower.split_whitespace() {
        let word = word.trim_end_matches([',', '.', '!', '?']);
        if TIME_WORDS.contains(&word) {
            break;
        }
        if !word.is_empty() && !DATE_FILLERS.contains(&word) {
            words.push(word);
        }
    }
    // "rabu, 9 desember": the weekday before a written date adds nothing.
    if words.len() > 1
        && weekday_of(words[0]).is_some()
        && words[1].starts_with(|c: char| c.is_ascii_digit())
    {
        words.remove(0);
    }
    let said_day = words.first() == Some(&"hari");
    if said_day {
        words.remove(0);
    }
    match words.as_slice() {
        ["ini"] if said_day => return Some(today),
        ["sekarang"] => return Some(today),
        ["besok" | "besuk"] => return Some(today + 1),
        ["lusa"] => return Some(today + 2),
        ["kemarin" | "kemaren"] => return Some(today - 1),
        // "minggu depan" alone is next week, not a day.
        ["minggu", "depan"] if !said_day => return None,
        [w, rest @ ..] if matches!(rest, [] | ["ini"] | ["depan"]) => {
            if let Some(w) = weekday_of(w) {
                let now_w = weekday_of_day(today);
                return Some(if rest == ["depan"] {
                    today - now_w as i64 + 7 + w as i64
                } else {
                    today + ((w + 7 - now_w) % 7) as i64
                });
            }
        }
        _ => {}
    }
    let t = words.join(" ");
    let (ty, tm, td) = civil_from_days(today);
    let nums: Vec<&str> = t
        .split(['/', '-', '.', ' ', ','])
        .filter(|p| !p.is_empty())
        .collect();
    let (y, m, d) = match nums.as_slice() {
        [a, b, c] if a.len() == 4 => (a.parse().ok()?, b.parse().ok()?, c.parse().ok()?),
        [d, m, y] => {
            let m = m.parse().ok().or_else(|| month_of(m))?;
            let y: i64 = y.parse().ok()?;
            (if y < 100 { 2000 + y } else { y }, m, d.parse().ok()?)
        }
        [d, m] => (ty, m.parse().ok().or_else(|| month_of(m))?, d.parse().ok()?),
        // A day of the month alone: this month's, or next month's once it has passed.
        [d] if d.len() <= 2 => {
            let d: u32 = d.parse().ok()?;
            let (ny, nm) = if tm == 12 { (ty + 1, 1) } else { (ty, tm + 1) };
            return if d >= td && valid(ty, tm, d) {
                Some(days_from_civil(ty, tm, d))
            } else {
                valid(ny, nm, d).then(|| days_from_civil(ny, nm, d))
            };
        }
        _ => return None,
    };
    valid(y, m, d).then(|| days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekdays() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 12, 5), (2024, 12, 31)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        // 2026-12-01 09:00 WIB is a Tuesday.
        let ms = ms_of(days_from_civil(2026, 12, 1), 9 * 60, 420);
        let l = Local::at(ms, 420);
        assert_eq!(
            (l.year, l.month, l.dom, l.weekday, l.minute),
            (2026, 12, 1, 1, 540)
        );
        assert_eq!(
            datetime_text(ms, 420),
            "Selasa, 1 Desember 2026 pukul 09.00 WIB"
        );
    }

    #[test]
    fn a_day_reads_with_its_weekday() {
        assert_eq!(
            day_text(days_from_civil(2026, 12, 5)),
            "Sabtu, 5 Desember 2026"
        );
        assert_eq!(
            day_text(days_from_civil(2027, 1, 1)),
            "Jumat, 1 Januari 2027"
        );
    }

    #[test]
    fn iso_dates_are_exactly_yyyy_mm_dd() {
        assert_eq!(
            parse_iso_date("2026-12-05").map(civil_from_days),
            Some((2026, 12, 5))
        );
        // Ten characters each, all read by the chat's date reader.
        for bad in [
            "hari jumat",
            "05-12-2026",
            "05/12/2026",
            "2026-13-01",
            "2300-01-01",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn indonesian_dates() {
        let today = days_from_civil(2026, 12, 1); // a Tuesday
        let cases = [
            ("5 Desember 2026", Some((2026, 12, 5))),
            ("5 des 2026", Some((2026, 12, 5))),
            ("05/12/2026", Some((2026, 12, 5))),
            ("5-12-26", Some((2026, 12, 5))),
            ("2026-12-05", Some((2026, 12, 5))),
            ("tgl 7 desember", Some((2026, 12, 7))),
            ("besok", Some((2026, 12, 2))),
            ("lusa", Some((2026, 12, 3))),
            ("hari ini", Some((2026, 12, 1))),
            ("jumat", Some((2026, 12, 4))),
            ("selasa", Some((2026, 12, 1))),
            ("senin", Some((2026, 12, 7))),
            ("31/02/2026", None),
            ("32 desember 2026", None),
            ("kapan-kapan", None),
            // As citizens write them in a chat.
            ("besok pagi", Some((2026, 12, 2))),
            ("Besok jam 10", Some((2026, 12, 2))),
            ("insya allah lusa", Some((2026, 12, 3))),
            ("hari jumat", Some((2026, 12, 4))),
            ("jum'at ini", Some((2026, 12, 4))),
            ("jumat depan", Some((2026, 12, 11))),
            ("senin depan", Some((2026, 12, 7))),
            ("selasa depan", Some((2026, 12, 8))),
            ("hari minggu depan", Some((2026, 12, 13))),
            ("minggu depan", None),
            ("rabu, 9 desember", Some((2026, 12, 9))),
            ("tanggal 7", Some((2026, 12, 7))),
            ("tgl 1", Some((2026, 12, 1))),
            ("tgl 30 pak", Some((2026, 12, 30))),
            ("rencana tanggal 7 desember jam 9 pagi", Some((2026, 12, 7))),
            ("senin siang aja", Some((2026, 12, 7))),
            ("7 desember.", Some((2026, 12, 7))),
            ("32", None),
            ("secepatnya", None),
            ("jam 10", None),
            // "hari ini" is today; "ini" alone says nothing.
            ("ini", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_date(text, today).map(civil_from_days);
            assert_eq!(got, want, "{text:?}");
        }
    }
}
