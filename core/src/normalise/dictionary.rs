//! Standard Indonesian words, read at run time from a Hunspell `.dic` file.
//!
//! Layan ships hunspell-id's root-word list (LGPL-3.0) as a separate data
//! file, `core/data/hunspell-id/id_ID.dic`, and never compiles it in. The
//! typo corrector leaves the words in it alone: a citizen who writes
//! `kucing` (cat) means a cat, not `kuning` (yellow) from the pack's
//! `kartu kuning`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::{fold_chars, stem};
use crate::error::{Error, Result};

/// The environment variable that names the dictionary file; empty: none.
pub const DICTIONARY_ENV: &str = "LAYAN_DICTIONARY";

/// The dictionary's file name beside an installed `layan`.
pub const DICTIONARY_FILE: &str = "id_ID.dic";

/// [`Dictionary::default_path`] from its inputs: the environment variable's
/// value, the file beside the program, the file in the source tree.
fn choose_path(
    env: Option<std::ffi::OsString>,
    beside_program: Option<PathBuf>,
    source_tree: &Path,
) -> Option<PathBuf> {
    match env {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => beside_program
            .filter(|p| p.exists())
            .or_else(|| source_tree.exists().then(|| source_tree.to_owned())),
    }
}

/// A set of standard words.
#[derive(Debug, Default)]
pub struct Dictionary {
    words: HashSet<String>,
}

impl Dictionary {
    /// Reads a Hunspell `.dic` file: an optional first line with the count,
    /// then one word per line, with its affix flags after a `/`.
    ///
    /// # Errors
    /// When the file cannot be read, or holds no words.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the dictionary {}: {e}",
                path.display()
            ))
        })?;
        let dictionary = Self::parse(&text);
        if dictionary.is_empty() {
            return Err(Error::Config(format!(
                "{} holds no words: give a Hunspell .dic file (one word per line)",
                path.display()
            )));
        }
        Ok(dictionary)
    }

    /// The words of a `.dic` file's text, folded as messages are (lower
    /// case, no accents); the count line and blank lines are skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let words = text
            .lines()
            .filter_map(|line| line.split('/').next())
            .map(|w| fold_chars(w.trim()))
            .filter(|w| !w.is_empty() && !w.contains(' ') && w.chars().any(char::is_alphabetic))
            .collect();
        Self { words }
    }

    /// How many words it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds no words.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` (normalised) is a standard word, as it is or by a
    /// stem of four letters or more (`perizinan` by `izin`; a shorter stem
    /// says little: `panan`, a typo of `pangan`, would pass by `pan`).
    #[must_use]
    pub fn contains(&self, word: &str) -> bool {
        if self.words.contains(word) {
            return true;
        }
        let stem = stem(word);
        stem.chars().count() >= 4 && self.words.contains(stem.as_ref())
    }

    /// Where the dictionary is read from: the file named by
    /// `LAYAN_DICTIONARY` (none when it is empty); otherwise
    /// [`DICTIONARY_FILE`] beside the running program (how an installed
    /// `layan` finds it); otherwise hunspell-id in the source tree this
    /// build came from, when it is there.
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(DICTIONARY_FILE)));
        choose_path(
            std::env::var_os(DICTIONARY_ENV),
            beside,
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/data/hunspell-id/id_ID.dic"
            )),
        )
    }

    /// The process's dictionary, read once from [`Dictionary::default_path`];
    /// `None` when there is none or it cannot be read (said once, as a
    /// warning: the typo corrector then works without it).
    pub fn shared() -> Option<Arc<Dictionary>> {
        static SHARED: OnceLock<Option<Arc<Dictionary>>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let path = Self::default_path()?;
                match Self::load(&path) {
                    Ok(d) => Some(Arc::new(d)),
                    Err(e) => {
                        tracing::warn!(
                            target: "layan_core::normalise",
                            error = %e,
                            "no dictionary of standard words: typos are corrected without it (set {DICTIONARY_ENV})"
                        );
                        None
                    }
                }
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_looked_for_in_the_env_then_beside_the_program_then_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let beside = dir.path().join("bin").join(DICTIONARY_FILE);
        let source = dir.path().join("src").join(DICTIONARY_FILE);
        let missing = dir.path().join("nowhere.dic");
        for f in [&beside, &source] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "kucing\n").unwrap();
        }
        let named = Some(std::ffi::OsString::from("/etc/layan/id.dic"));
        let cases = [
            // (env, beside the program, source tree, chosen)
            (
                named.clone(),
                Some(beside.clone()),
                &source,
                Some(PathBuf::from("/etc/layan/id.dic")),
            ),
            (
                Some(std::ffi::OsString::new()),
                Some(beside.clone()),
                &source,
                None,
            ),
            (None, Some(beside.clone()), &source, Some(beside.clone())),
            (None, Some(missing.clone()), &source, Some(source.clone())),
            (None, None, &source, Some(source.clone())),
            (None, Some(missing.clone()), &missing, None),
        ];
        for (env, beside_program, source_tree, want) in cases {
            assert_eq!(
                choose_path(env.clone(), beside_program.clone(), source_tree),
                want,
                "{env:?} {beside_program:?} {source_tree:?}"
            );
        }
    }

    #[test]
    fn reads_the_words_of_a_hunspell_file_and_their_stems() {
        let d = Dictionary::parse("5\nkucing/B0\nizin/DkMk\n\nKapal\npan\n");
        assert_eq!(d.len(), 4);
        let cases = [
            ("kucing", true),
            ("kapal", true),
            ("perizinan", true),
            ("kuning", false),
            ("panan", false),
            ("5", false),
        ];
        for (word, want) in cases {
            assert_eq!(d.contains(word), want, "{word}");
        }
    }

    #[test]
    fn the_shipped_list_is_found_and_read() {
        let path = Dictionary::default_path().expect("core/data/hunspell-id/id_ID.dic");
        let d = Dictionary::load(&path).unwrap();
        assert!(d.len() > 25_000, "{} words", d.len());
        assert!(d.contains("kucing") && d.contains("bekas") && !d.contains("sertifkat"));
    }

    #[test]
    fn a_missing_or_empty_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("tidak-ada.dic");
        let e = Dictionary::load(&missing).unwrap_err().to_string();
        assert!(e.contains("tidak-ada.dic"), "{e}");
        let empty = dir.path().join("kosong.dic");
        std::fs::write(&empty, "0\n").unwrap();
        let e = Dictionary::load(&empty).unwrap_err().to_string();
        assert!(e.contains("holds no words"), "{e}");
    }
}
