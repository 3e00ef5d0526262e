//! Example similarity: an inverted index over every intent's example
//! utterances, so that an unseen paraphrase with typos still finds its intent.
//!
//! Each example becomes a sparse TF-IDF vector in two blocks, each scaled to
//! unit length: word features (words, their stems, word bigrams) and
//! character 3–5-grams inside words (typo tolerance). An intent also gets a
//! centroid document, the normalised sum of its examples. A query is scored
//! only against documents that share a feature with it (the index, not a
//! scan), and an intent's score blends its best example with its centroid.
//! Everything is computed when the pack loads; there is no training step.

use std::collections::HashMap;

use crate::normalise::stem;

/// Share of the word block in the cosine; the rest is the character block.
/// Chosen by 5-fold cross-validation and the held-out set of the Perindag
/// pack (see `benches/RESULTS.md`).
const WORD_SHARE: f32 = 0.4;
/// Share of the best single example in an intent's score; the rest is the centroid.
const EXAMPLE_SHARE: f32 = 0.6;

#[derive(Debug, Default)]
pub(crate) struct SimilarityIndex {
    features: HashMap<u64, u32>,
    /// feature id → (document, weight)
    postings: Vec<Vec<(u32, f32)>>,
    /// feature id → inverse document frequency
    idf: Vec<f32>,
    /// document → (intent, is centroid)
    docs: Vec<(u32, bool)>,
    oov_idf: f32,
}

/// A sparse vector: feature hash → weight.
type Sparse = Vec<(u64, f32)>;
/// Raw features of one text: hash, count, block.
type Features = Vec<(u64, f32, Block)>;

impl SimilarityIndex {
    /// Builds the index from `(intent index, normalised words)` documents.
    pub(crate) fn build(intents: usize, examples: &[(u32, Vec<String>)]) -> Self {
        let raw: Vec<(u32, Features)> = examples
            .iter()
            .map(|(intent, words)| (*intent, features(words)))
            .collect();
        let mut pairs: Vec<(u64, u32)> = raw
            .iter()
            .flat_map(|(i, f)| f.iter().map(move |(h, _, _)| (*h, *i)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut df: HashMap<u64, u32> = HashMap::new();
        for (h, _) in pairs {
            *df.entry(h).or_default() += 1;
        }
        // Document frequency is counted per intent, so that words shared by
        // all examples of one intent are not penalised.
        let n = intents.max(1) as f32;
        let idf_of = |h: &u64| (1.0 + n / df.get(h).copied().unwrap_or(1) as f32).ln();

        let mut index = Self {
            oov_idf: (1.0 + n).ln(),
            ..Self::default()
        };
        for h in df.keys() {
            let id = index.features.len() as u32;
            index.features.insert(*h, id);
        }
        index.idf = vec![0.0; index.features.len()];
        for (h, id) in &index.features {
            index.idf[*id as usize] = idf_of(h);
        }
        index.postings = vec![Vec::new(); index.features.len()];

        let mut centroids: Vec<HashMap<u64, f32>> = vec![HashMap::new(); intents];
        for (intent, feats) in &raw {
            let vector = weigh(feats, |h| idf_of(h));
            for (h, w) in &vector {
                *centroids[*intent as usize].entry(*h).or_default() += *w;
            }
            index.add_doc(*intent, false, &vector);
        }
        for (intent, centroid) in centroids.into_iter().enumerate() {
            if centroid.is_empty() {
                continue;
            }
            let mut v: Vec<(u64, f32, Block)> = centroid
                .into_iter()
                .map(|(h, w)| (h, w, block_of(h)))
                .collect();
            v.sort_unstable_by_key(|x| x.0);
            let vector = normalise_blocks(v);
            index.add_doc(intent as u32, true, &vector);
        }
        index
    }

    /// An unknown whole word counts against similarity (the message talks
    /// about something the pack does not know); unknown character n-grams
    /// do not, since typos make them.
    fn oov_idf(&self, h: u64) -> f32 {
        match block_of(h) {
            Block::Word => self.oov_idf,
            Block::Char => 0.0,
        }
    }

    fn add_doc(&mut self, intent: u32, centroid: bool, vector: &Sparse) {
        let doc = self.docs.len() as u32;
        self.docs.push((intent, centroid));
        for (h, w) in vector {
            if let Some(&id) = self.features.get(h) {
                self.postings[id as usize].push((doc, *w));
            }
        }
    }

    /// Scores every intent that shares a feature with `words`: `(intent, score)`.
    pub(crate) fn scores(&self, words: &[String]) -> Vec<(u32, f32)> {
        let feats = features(words);
        let query = weigh(&feats, |h| {
            self.features
                .get(h)
                .map_or_else(|| self.oov_idf(*h), |&id| self.idf[id as usize])
        });
        let mut acc = vec![0.0f32; self.docs.len()];
        let mut touched = Vec::new();
        for (h, qw) in &query {
            let Some(&id) = self.features.get(h) else {
                continue;
            };
            for &(doc, dw) in &self.postings[id as usize] {
                let slot = &mut acc[doc as usize];
                if *slot == 0.0 {
                    touched.push(doc);
                }
                *slot += qw * dw;
            }
        }
        let mut best_example: HashMap<u32, f32> = HashMap::new();
        let mut centroid: HashMap<u32, f32> = HashMap::new();
        for doc in touched {
            let (intent, is_centroid) = self.docs[doc as usize];
            let s = acc[doc as usize];
            if is_centroid {
                centroid.insert(intent, s);
            } else {
                let slot = best_example.entry(intent).or_default();
                *slot = slot.max(s);
            }
        }
        let mut out: Vec<(u32, f32)> = centroid
            .iter()
            .map(|(&i, &c)| {
                let e = best_example.get(&i).copied().unwrap_or(0.0);
                (i, EXAMPLE_SHARE * e + (1.0 - EXAMPLE_SHARE) * c)
            })
            .collect();
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Word,
    Char,
}

/// The top bit of a feature hash says which block it belongs to.
const CHAR_BIT: u64 = 1 << 63;

fn block_of(h: u64) -> Block {
    if h & CHAR_BIT == 0 {
        Block::Word
    } else {
        Block::Char
    }
}

fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Raw features of a word sequence with their counts.
fn features(words: &[String]) -> Features {
    let mut counts: HashMap<u64, f32> = HashMap::new();
    let mut add = |h: u64, w: f32| *counts.entry(h).or_default() += w;
    for (i, word) in words.iter().enumerate() {
        add(fnv(&[b"w", word.as_bytes()]) & !CHAR_BIT, 1.0);
        let s = stem(word);
        if s != *word {
            add(fnv(&[b"s", s.as_bytes()]) & !CHAR_BIT, 0.7);
        }
        if let Some(next) = words.get(i + 1) {
            add(
                fnv(&[b"b", word.as_bytes(), next.as_bytes()]) & !CHAR_BIT,
                0.6,
            );
        }
        let padded: Vec<char> = std::iter::once(' ')
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        let mut buf = String::new();
        for n in 3..=5 {
            if padded.len() < n {
                break;
            }
            for win in padded.windows(n) {
                buf.clear();
                buf.extend(win);
                add(fnv(&[b"c", buf.as_bytes()]) | CHAR_BIT, 1.0);
            }
        }
    }
    let mut out: Vec<(u64, f32, Block)> = counts
        .into_iter()
        .map(|(h, c)| (h, c, block_of(h)))
        .collect();
    out.sort_unstable_by_key(|x| x.0);
    out
}

/// Sublinear TF × IDF, each block scaled to unit length and its share.
fn weigh(feats: &[(u64, f32, Block)], idf: impl Fn(&u64) -> f32) -> Sparse {
    let v = feats
        .iter()
        .map(|(h, c, b)| (*h, (1.0 + c.ln().max(0.0)) * idf(h), *b))
        .collect();
    normalise_blocks(v)
}

fn normalise_blocks(v: Vec<(u64, f32, Block)>) -> Sparse {
    let norm = |block: Block| {
        v.iter()
            .filter(|x| x.2 == block)
            .map(|x| x.1 * x.1)
            .sum::<f32>()
            .sqrt()
    };
    let (nw, nc) = (norm(Block::Word), norm(Block::Char));
    v.into_iter()
        .filter_map(|(h, w, b)| {
            let (n, share) = match b {
                Block::Word => (nw, WORD_SHARE),
                Block::Char => (nc, 1.0 - WORD_SHARE),
            };
            (n > 0.0 && w > 0.0).then(|| (h, w / n * share.sqrt()))
        })
        .collect()
}
