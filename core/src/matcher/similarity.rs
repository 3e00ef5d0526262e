//! Example similarity: an inverted index over every intent's example
//! utterances, so that an unseen paraphrase with typos still finds its intent.
//!
//! Each example becomes a sparse TF-IDF vector in two blocks, each scaled to
//! unit length: word features (words, their stems, word bigrams) and
//! character 3–4-grams inside words (typo tolerance). An intent also gets a
//! centroid document, the normalised sum of its examples. A query is scored
//! only against documents that share a feature with it (the index, not a
//! scan), and an intent's score blends its best example with its centroid.
//! Words the pack has never seen count against the match, so that a message
//! about something else scores low. Everything is computed when the pack
//! loads; there is no training step.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::normalise::stem;

/// Share of the word block in the cosine; the rest is the character block.
/// Chosen by 5-fold cross-validation and the held-out set of the Perindag
/// pack (see `benches/RESULTS.md`).
const WORD_SHARE: f32 = 0.4;
/// Share of the best single example in an intent's score; the rest is the centroid.
const EXAMPLE_SHARE: f32 = 0.6;
/// A feature found in more documents than this is not walked at query time:
/// it is so common that its weight is negligible, and walking it would make
/// the cost grow with the pack. Packs smaller than this are scored exactly.
const MAX_POSTINGS: usize = 512;

/// Up to this many documents, scores are accumulated densely.
const DENSE_DOCS: usize = 4_096;

/// Feature keys are already hashes: use them as they are.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        // Spread small indices over the table's high bits.
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type FeatureMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;
/// A map keyed by intent index, hashed as it is.
pub(crate) type IntentMap<V> = HashMap<u32, V, BuildHasherDefault<IdentityHasher>>;

#[derive(Debug, Default)]
pub(crate) struct SimilarityIndex {
    /// feature → (idf, postings: (document, weight))
    features: FeatureMap<Feature>,
    /// document → (intent, is centroid)
    docs: Vec<(u32, bool)>,
    intents: usize,
    /// idf of a word no intent uses
    oov_idf: f32,
}

#[derive(Debug, Default)]
struct Feature {
    idf: f32,
    postings: Vec<(u32, f32)>,
}

/// A sparse vector: feature hash → weight, sorted by hash.
type Sparse = Vec<(u64, f32)>;

impl SimilarityIndex {
    /// Builds the index from `(intent index, normalised words)` documents.
    pub(crate) fn build(intents: usize, examples: &[(u32, Vec<String>)]) -> Self {
        let raw: Vec<(u32, Sparse)> = examples
            .iter()
            .map(|(intent, words)| (*intent, features(words)))
            .collect();
        // Document frequency is counted per intent, so that words shared by
        // all examples of one intent are not penalised.
        let mut pairs: Vec<(u64, u32)> = raw
            .iter()
            .flat_map(|(i, f)| f.iter().map(move |(h, _)| (*h, *i)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let n = intents.max(1) as f32;
        let mut index = Self {
            intents,
            oov_idf: (1.0 + n).ln(),
            ..Self::default()
        };
        for chunk in pairs.chunk_by(|a, b| a.0 == b.0) {
            let df = chunk.len() as f32;
            index.features.insert(
                chunk[0].0,
                Feature {
                    idf: (1.0 + n / df).ln(),
                    postings: Vec::new(),
                },
            );
        }

        let mut centroids: Vec<FeatureMap<f32>> =
            (0..intents).map(|_| FeatureMap::default()).collect();
        for (intent, feats) in &raw {
            let vector = index.weigh(feats.clone());
            for (h, w) in &vector {
                *centroids[*intent as usize].entry(*h).or_default() += *w;
            }
            index.add_doc(*intent, false, &vector);
        }
        for (intent, centroid) in centroids.into_iter().enumerate() {
            if centroid.is_empty() {
                continue;
            }
            let mut v: Sparse = centroid.into_iter().collect();
            v.sort_unstable_by_key(|x| x.0);
            let vector = normalise_blocks(v);
            index.add_doc(intent as u32, true, &vector);
        }
        index
    }

    fn add_doc(&mut self, intent: u32, centroid: bool, vector: &Sparse) {
        let doc = self.docs.len() as u32;
        self.docs.push((intent, centroid));
        for (h, w) in vector {
            if let Some(f) = self.features.get_mut(h) {
                f.postings.push((doc, *w));
            }
        }
    }

    fn idf(&self, h: u64) -> f32 {
        match self.features.get(&h) {
            Some(f) => f.idf,
            // An unknown whole word counts against similarity; unknown
            // character n-grams do not, since typos make them.
            None if is_word(h) => self.oov_idf,
            None => 0.0,
        }
    }

    /// Sublinear TF × IDF, each block scaled to unit length and its share.
    fn weigh(&self, counts: Sparse) -> Sparse {
        let v = counts
            .into_iter()
            .map(|(h, c)| (h, (1.0 + c.ln().max(0.0)) * self.idf(h)))
            .collect();
        normalise_blocks(v)
    }

    /// Whether the pack uses `word`'s stem, as a word or as the stem of one
    /// of its words (`prosesnya`, `perizinan`).
    pub(crate) fn knows_stem(&self, word: &str) -> bool {
        let s = stem(word);
        self.features.contains_key(&word_key(&s)) || self.features.contains_key(&stem_key(&s))
    }

    /// The share of `word`'s character n-grams that the pack's examples
    /// use (0 for a word too short to have any);
    /// `padded` and `bounds` are scratch space.
    pub(crate) fn known_gram_share(
        &self,
        word: &str,
        padded: &mut String,
        bounds: &mut Vec<usize>,
    ) -> f32 {
        let (mut known, mut all) = (0u32, 0u32);
        char_grams(word, padded, bounds, |h| {
            all += 1;
            known += u32::from(self.features.contains_key(&h));
        });
        if all == 0 {
            0.0
        } else {
            known as f32 / all as f32
        }
    }

    /// Scores every intent that shares a feature with `words`, as
    /// `(intent, score)` in no particular order.
    pub(crate) fn scores(&self, words: &[String]) -> Vec<(u32, f32)> {
        // One look-up per feature: its IDF (or the unknown-word weight) and postings.
        let counts = features(words);
        let mut found: Vec<Option<&Feature>> = Vec::with_capacity(counts.len());
        let raw: Sparse = counts
            .into_iter()
            .map(|(h, c)| {
                let f = self.features.get(&h);
                found.push(f);
                let idf = match f {
                    Some(f) => f.idf,
                    None if is_word(h) => self.oov_idf,
                    None => 0.0,
                };
                (h, (1.0 + c.ln().max(0.0)) * idf)
            })
            .collect();
        let query = normalise_blocks_keep(raw);
        let mut acc = vec![0.0f32; self.docs.len()];
        // Small packs: accumulate densely and scan every document once at
        // the end; large packs: remember which documents were touched.
        let dense = self.docs.len() <= DENSE_DOCS;
        let mut touched = Vec::new();
        for ((_, qw), f) in query.iter().zip(&found) {
            let Some(f) = f else {
                continue;
            };
            if *qw == 0.0 || f.postings.len() > MAX_POSTINGS {
                continue;
            }
            if dense {
                for &(doc, dw) in &f.postings {
                    acc[doc as usize] += qw * dw;
                }
                continue;
            }
            for &(doc, dw) in &f.postings {
                let slot = &mut acc[doc as usize];
                if *slot == 0.0 {
                    touched.push(doc);
                }
                *slot += qw * dw;
            }
        }
        if dense {
            touched.extend((0..acc.len() as u32).filter(|&d| acc[d as usize] != 0.0));
        }
        // Per intent: best example, and centroid.
        let mut best = vec![(0.0f32, 0.0f32); self.intents];
        let mut intents = Vec::new();
        for doc in touched {
            let (intent, is_centroid) = self.docs[doc as usize];
            let slot = &mut best[intent as usize];
            if slot.0 == 0.0 && slot.1 == 0.0 {
                intents.push(intent);
            }
            let s = acc[doc as usize];
            if is_centroid {
                slot.1 = s;
            } else {
                slot.0 = slot.0.max(s);
            }
        }
        intents
            .into_iter()
            .map(|i| {
                let (e, c) = best[i as usize];
                (i, EXAMPLE_SHARE * e + (1.0 - EXAMPLE_SHARE) * c)
            })
            .collect()
    }
}

/// The top bit of a feature hash says which block it belongs to.
const CHAR_BIT: u64 = 1 << 63;

fn is_word(h: u64) -> bool {
    h & CHAR_BIT == 0
}

/// FNV-1a, fed in pieces: the hash behind every feature key, and behind
/// the speller's look-up of near words.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    #[inline]
    pub(crate) fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) const fn finish(&self) -> u64 {
        self.0
    }
}

fn fnv(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut h = Fnv::new();
    h.eat(&[tag]);
    for p in parts {
        h.eat(p);
        h.eat(&[0xff]);
    }
    h.finish()
}

/// The feature key of a whole word.
fn word_key(word: &str) -> u64 {
    fnv(b'w', &[word.as_bytes()]) & !CHAR_BIT
}

/// The feature key of a stem.
fn stem_key(stem: &str) -> u64 {
    fnv(b's', &[stem.as_bytes()]) & !CHAR_BIT
}

/// Raw features of a word sequence with their counts, sorted by hash.
fn features(words: &[String]) -> Sparse {
    let mut out: Vec<(u64, f32)> = Vec::with_capacity(words.len() * 16);
    let mut padded = String::new();
    let mut bounds: Vec<usize> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        out.push((word_key(word), 1.0));
        let s = stem(word);
        if s != *word {
            out.push((stem_key(&s), 0.7));
        }
        if let Some(next) = words.get(i + 1) {
            out.push((
                fnv(b'b', &[word.as_bytes(), next.as_bytes()]) & !CHAR_BIT,
                0.6,
            ));
        }
        char_grams(word, &mut padded, &mut bounds, |h| out.push((h, 1.0)));
    }
    out.sort_unstable_by_key(|x| x.0);
    let mut merged: Sparse = Vec::with_capacity(out.len());
    for (h, c) in out {
        match merged.last_mut() {
            Some(last) if last.0 == h => last.1 += c,
            _ => merged.push((h, c)),
        }
    }
    merged
}

/// Calls `each` with the feature hash of every character 3- and 4-gram of
/// `" word "`, hashed straight from the bytes; `padded` and `bounds` are
/// scratch space.
fn char_grams(word: &str, padded: &mut String, bounds: &mut Vec<usize>, mut each: impl FnMut(u64)) {
    padded.clear();
    padded.push(' ');
    padded.push_str(word);
    padded.push(' ');
    bounds.clear();
    bounds.extend(padded.char_indices().map(|(i, _)| i));
    bounds.push(padded.len());
    let chars = bounds.len() - 1;
    for n in 3..=4 {
        if chars < n {
            break;
        }
        for start in 0..=chars - n {
            let gram = &padded.as_bytes()[bounds[start]..bounds[start + n]];
            each(fnv(b'c', &[gram]) | CHAR_BIT);
        }
    }
}

/// Like [`normalise_blocks`], but keeps zero-weight entries so that the
/// result stays aligned with its input.
fn normalise_blocks_keep(mut v: Sparse) -> Sparse {
    let (nw, nc) = block_norms(&v);
    for (h, w) in &mut v {
        let (n, share) = if is_word(*h) {
            (nw, WORD_SHARE)
        } else {
            (nc, 1.0 - WORD_SHARE)
        };
        *w = if n > 0.0 { *w / n * share.sqrt() } else { 0.0 };
    }
    v
}

fn block_norms(v: &Sparse) -> (f32, f32) {
    let (mut nw, mut nc) = (0.0f32, 0.0f32);
    for (h, w) in v {
        if is_word(*h) {
            nw += w * w;
        } else {
            nc += w * w;
        }
    }
    (nw.sqrt(), nc.sqrt())
}

fn normalise_blocks(mut v: Sparse) -> Sparse {
    let (nw, nc) = block_norms(&v);
    v.retain_mut(|(h, w)| {
        let (n, share) = if is_word(*h) {
            (nw, WORD_SHARE)
        } else {
            (nc, 1.0 - WORD_SHARE)
        };
        if n > 0.0 && *w > 0.0 {
            *w = *w / n * share.sqrt();
            true
        } else {
            false
        }
    });
    v
}
