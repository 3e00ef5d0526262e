//! Loading packs: the bundled one, and one broken fixture per kind of error.

use std::path::{Path, PathBuf};

use layan::{Error, Pack, PackProblem};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn problems(name: &str) -> Vec<PackProblem> {
    match Pack::load(fixture(name)) {
        Err(Error::Pack(p)) => p,
        other => panic!("{name} should fail with problems, got {other:?}"),
    }
}

#[test]
fn each_kind_of_error_is_reported_with_file_line_and_hint() {
    // (fixture, file, line, message contains, hint contains)
    let cases = [
        (
            "duplicate_id",
            "intents/a.toml",
            7,
            "duplicate intent id `salam`",
            "first defined at intents/a.toml:2",
        ),
        (
            "unknown_button",
            "intents/a.toml",
            6,
            "unknown intent `izin_usha`",
            "did you mean `izin_usaha`?",
        ),
        (
            "bad_regex",
            "intents/a.toml",
            3,
            "pattern does not compile",
            "regex syntax",
        ),
        (
            "unknown_field",
            "intents/a.toml",
            3,
            "unknown field `keywrds`",
            "did you mean `keywords`?",
        ),
        (
            "empty_intent",
            "intents/a.toml",
            2,
            "can never be matched",
            "commands, keywords, patterns or examples",
        ),
        (
            "unknown_variable",
            "intents/a.toml",
            4,
            "unknown variable `{office.adress}`",
            "did you mean `{office.address}`?",
        ),
        (
            "bad_toml",
            "intents/a.toml",
            4,
            "invalid TOML",
            "quotes, brackets and commas",
        ),
        (
            "bad_holiday",
            "pack.toml",
            9,
            "holiday `2300-01-01` is not a date",
            "in the years 1900–2200",
        ),
        (
            // A name slot's pattern is fine; a phone slot's would be ignored.
            "pattern_on_phone",
            "forms/daftar.toml",
            16,
            "has a `pattern`, which only text and name slots use",
            "a `phone` answer is checked by its type",
        ),
        (
            // Office days cannot be counted without opening hours.
            "sla_without_schedule",
            "forms/daftar.toml",
            5,
            "counts office days, but the office has no opening hours",
            "add [office.schedule]",
        ),
        (
            // A count is never silently cut: 30.5 minutes is not 30.
            "fractional_count",
            "pack.toml",
            8,
            "`session_timeout_minutes` in [settings] must be a whole number from 1 to 100000",
            "without a decimal point",
        ),
        (
            "two_slas",
            "forms/daftar.toml",
            6,
            "sets both `sla_hours` and `sla_working_days`",
            "keep one",
        ),
        (
            "missing_meta",
            "pack.toml",
            1,
            "[pack] has no `version`",
            "add version",
        ),
    ];
    for (name, file, line, message, hint) in cases {
        let found = problems(name);
        assert_eq!(
            found.len(),
            1 + usize::from(name == "missing_meta") * 2,
            "{name}: {found:#?}"
        );
        let p = &found[0];
        assert_eq!(p.file, Path::new(file), "{name}");
        assert_eq!(p.line, line, "{name}: {p}");
        assert!(p.message.contains(message), "{name}: {p}");
        assert!(
            p.hint.as_deref().unwrap_or("").contains(hint),
            "{name}: {p}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let found = problems("many_problems");
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    let want = [
        "intents/a.toml:4: reply of intent `menu` names unknown variable `{office.nama}`",
        "intents/a.toml:5: button `X` leads to unknown intent `tidak_ada`",
        "intents/a.toml:8: duplicate intent id `menu`",
        "intents/a.toml:9: unknown field `keywrds`",
        "intents/b.toml:2: intent id `Bad Id` is not a valid id",
        "intents/b.toml:3: pattern does not compile",
    ];
    for w in want {
        assert!(
            lines.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in\n{}",
            lines.join("\n")
        );
    }
    let settings = problems("missing_meta");
    assert!(
        settings
            .iter()
            .any(|p| p.line == 5 && p.message.contains("confidence_threshold")),
        "{settings:#?}"
    );
}

#[test]
fn a_folder_that_does_not_exist_is_an_io_error() {
    assert!(matches!(
        Pack::load(fixture("no_such_pack")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn the_bundled_pack_is_the_pack_on_disk() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("intents/perindag");
    let on_disk = Pack::load(&dir).expect("intents/perindag loads");
    let bundled = layan::bundled::pack().expect("bundled pack loads");
    let ids = |p: &Pack| {
        p.intents
            .iter()
            .map(|i| (i.id.clone(), i.examples.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&on_disk),
        ids(&bundled),
        "src/bundled.rs must list every file of intents/perindag"
    );
    let files = std::fs::read_dir(dir.join("intents")).unwrap().count()
        + std::fs::read_dir(dir.join("forms")).unwrap().count();
    assert_eq!(files + 1, layan::bundled::FILES.len());
}

#[test]
fn the_reference_pack_meets_the_contract() {
    let pack = layan::bundled::pack().unwrap();
    let required = [
        "menu",
        "tanya_petugas",
        "izin_usaha",
        "bantuan_usaha",
        "format_proposal",
        "legalitas_usaha",
        "kegiatan",
        "jam_layanan",
        "alamat_kontak",
        "sertifikat_halal",
        "merek_haki",
        "harga_bahan_pokok",
        "tera_ulang",
        "aduan",
        "status_tiket",
        "terima_kasih",
    ];
    for id in required {
        let intent = pack
            .intent(id)
            .unwrap_or_else(|| panic!("missing intent {id}"));
        assert!(
            intent.examples.len() >= 10,
            "{id} has {} examples",
            intent.examples.len()
        );
    }
    assert!(
        pack.office.address.contains("contoh"),
        "office facts must be marked as examples"
    );
    assert!(pack.office.phone.contains("contoh"));
}
