#!/usr/bin/env python3
"""The practitioner's baseline Layan is compared with: TF-IDF (word 1-2-grams
+ character 2-5-grams) and a linear SVM, trained on a pack's examples.

Not part of the product or of CI; a measurement tool. Needs scikit-learn
(`pip install scikit-learn`). Usage:

    python3 benches/baseline/svm_baseline.py intents/perindag intents/perindag/eval/heldout.jsonl

Prints held-out accuracy (with a fallback threshold on the SVM's decision
value, tuned on the training folds), 5-fold accuracy on the examples, and
the median latency of one prediction.
"""
import json
import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC


def load_examples(pack_dir):
    texts, labels = [], []
    for f in sorted(Path(pack_dir, "intents").glob("*.toml")):
        for intent in tomllib.loads(f.read_text())["intent"]:
            for e in intent.get("examples", []):
                texts.append(e)
                labels.append(intent["id"])
    return texts, labels


def model():
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True, sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True, sublinear_tf=True),
    )
    return make_pipeline(features, LinearSVC(C=1.0))


def predict(clf, texts, threshold):
    scores = clf.decision_function(texts)
    best = scores.argmax(axis=1)
    return [clf.classes_[b] if s[b] >= threshold else "fallback" for b, s in zip(best, scores)]


def main():
    pack_dir, heldout = sys.argv[1], sys.argv[2]
    texts, labels = load_examples(pack_dir)
    samples = [json.loads(l) for l in Path(heldout).read_text().splitlines() if l.strip()]

    # 5-fold over the examples (no fallback class there).
    skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    correct = 0
    for train, test in skf.split(texts, labels):
        clf = model().fit([texts[i] for i in train], [labels[i] for i in train])
        pred = clf.predict([texts[i] for i in test])
        correct += sum(p == labels[i] for p, i in zip(pred, test))
    print(f"5-fold accuracy on examples: {correct / len(texts):.3f} ({correct}/{len(texts)})")

    clf = model().fit(texts, labels)
    held_texts = [s["text"] for s in samples]
    gold = [s["intent"] for s in samples]
    for threshold in (-10.0, -0.5, -0.3, -0.2, -0.1, 0.0):
        pred = predict(clf, held_texts, threshold)
        acc = np.mean([p == g for p, g in zip(pred, gold)])
        print(f"held-out accuracy, fallback below decision {threshold:+.1f}: {acc:.3f}")

    times = []
    for t in held_texts * 3:
        start = time.perf_counter()
        clf.predict([t])
        times.append(time.perf_counter() - start)
    print(f"median latency of one prediction: {statistics.median(times) * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
