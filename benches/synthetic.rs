//! Generated packs for benchmarks and scale tests: `n` intents of 10
//! examples each, from a syllable vocabulary, deterministic.

use std::fmt::Write as _;

/// A deterministic pseudo-random generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const COMMON: &[&str] = &[
    "bagaimana",
    "cara",
    "saya",
    "mau",
    "apa",
    "saja",
    "syarat",
    "untuk",
    "di",
    "mana",
    "berapa",
    "biaya",
    "kapan",
    "bisa",
    "tolong",
    "info",
    "tentang",
    "yang",
    "harus",
    "ada",
];

/// A word made of syllables, distinct per index.
fn word(mut i: usize) -> String {
    const C: &[u8] = b"bcdfghjklmnprstwy";
    const V: &[u8] = b"aiueo";
    let mut s = String::new();
    loop {
        s.push(C[i % C.len()] as char);
        i /= C.len();
        s.push(V[i % V.len()] as char);
        i /= V.len();
        if i == 0 {
            break;
        }
    }
    s
}

/// A pack of `n` intents with 10 examples each, as TOML files: every intent
/// has six topic words of its own, examples mix them with common words and
/// now and then a word of another intent.
pub fn generated_pack(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x5eed + n as u64);
    let topic = |intent: usize, k: usize| word(1_000 + intent * 6 + k);
    let mut intents = String::new();
    for i in 0..n {
        let mut examples = Vec::new();
        for _ in 0..10 {
            let mut words: Vec<String> = (0..2)
                .map(|_| COMMON[rng.below(COMMON.len())].to_owned())
                .collect();
            for _ in 0..3 {
                words.push(topic(i, rng.below(6)));
            }
            if rng.below(3) == 0 {
                words.push(topic(rng.below(n), rng.below(6)));
            }
            examples.push(format!("\"{}\"", words.join(" ")));
        }
        writeln!(
            intents,
            "[[intent]]\nid = \"i{i}\"\nkeywords = [\"{} {}\"]\nexamples = [{}]\nreply = \"Jawaban {i}\"\n",
            topic(i, 0),
            topic(i, 1),
            examples.join(", ")
        )
        .unwrap();
    }
    vec![
        (
            "pack.toml".to_owned(),
            "[pack]\nid = \"gen\"\nname = \"Generated\"\nversion = \"1\"\nlanguage = \"id\"\n"
                .to_owned(),
        ),
        ("intents/generated.toml".to_owned(), intents),
    ]
}

/// A paraphrase of intent `i` (not one of its examples) with a typo in one
/// topic word: `(intent id, text)`.
pub fn query(i: usize) -> (String, String) {
    let mut w = word(1_000 + i * 6 + 2);
    w.insert(1, 'x');
    (
        format!("i{i}"),
        format!("tolong info {} {w} bagaimana", word(1_000 + i * 6 + 4)),
    )
}
