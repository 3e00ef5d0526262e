//! The bundled chat-language lexicons.
//!
//! IndoCollex (MIT, Wibowo et al. 2021; see `core/data/indocollex/`) gives
//! 2,623 informal → formal pairs collected from Indonesian Twitter. Layan's own
//! list (`core/data/slang.tsv`) adds what public-service chats need and
//! IndoCollex lacks (`tny`, `bikin`, `min`, …) and wins where both disagree.

const INDOCOLLEX: &str = include_str!("../../data/indocollex/informal_formal_dict.tsv");
const OWN: &str = include_str!("../../data/slang.tsv");

/// IndoCollex entries that mislead in a public-service context.
const INDOCOLLEX_SKIP: &[&str] = &["ok", "amo", "kene"];

/// All bundled `(informal, formal)` pairs, IndoCollex first so that Layan's
/// own list overrides it when both are inserted into one map.
pub(super) fn bundled_entries() -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(3_000);
    for line in INDOCOLLEX.lines().skip(1) {
        let Some((informal, formal)) = line.split_once('\t') else {
            continue;
        };
        if INDOCOLLEX_SKIP.contains(&informal) || informal.starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        out.push((informal.to_owned(), formal.to_owned()));
    }
    for line in OWN.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((informal, formal)) = line.split_once('\t') else {
            continue;
        };
        let formal = if formal.trim() == "-" { "" } else { formal };
        out.push((informal.to_owned(), formal.to_owned()));
    }
    out
}

const TRANSFORMATIONS: &str = include_str!("../../data/indocollex/transformations_full.csv");

/// Formal word → the informal spellings people use for it, from
/// IndoCollex's typed transformations, for generating realistic noisy test messages.
pub(crate) fn informal_variants() -> std::collections::HashMap<String, Vec<String>> {
    let mut map: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut add = |formal: &str, informal: &str| {
        let (formal, informal) = (formal.trim(), informal.trim());
        if formal.is_empty() || informal.is_empty() || formal == informal || formal.contains(' ') {
            return;
        }
        let list = map.entry(formal.to_owned()).or_default();
        if !list.iter().any(|x| x == informal) {
            list.push(informal.to_owned());
        }
    };
    // Reversed words and acronyms are not how citizens write to an office.
    for line in TRANSFORMATIONS.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if let [_, transformed, original, kind] = cols.as_slice()
            && !matches!(*kind, "rev" | "acronym")
        {
            add(original, transformed);
        }
    }
    map
}
