//! Layer 3: regular expressions over normalised text; named groups become
//! reply variables.

use std::collections::BTreeMap;

use regex::Regex;

/// The score a matching pattern gives its intent.
const PATTERN_SCORE: f32 = 0.9;

#[derive(Debug, Default)]
pub(crate) struct Patterns {
    list: Vec<(u32, Regex)>,
}

impl Patterns {
    pub(crate) fn push(&mut self, intent: u32, regex: Regex) {
        self.list.push((intent, regex));
    }

    /// The first matching pattern of each intent, with its captures.
    pub(crate) fn scores(&self, normalised: &str) -> Vec<(u32, f32, BTreeMap<String, String>)> {
        let mut out: Vec<(u32, f32, BTreeMap<String, String>)> = Vec::new();
        for (intent, re) in &self.list {
            if out.iter().any(|(i, _, _)| i == intent) {
                continue;
            }
            let Some(caps) = re.captures(normalised) else {
                continue;
            };
            let captures = re
                .capture_names()
                .flatten()
                .filter_map(|name| {
                    caps.name(name)
                        .map(|m| (name.to_owned(), m.as_str().to_owned()))
                })
                .collect();
            out.push((*intent, PATTERN_SCORE, captures));
        }
        out
    }
}
