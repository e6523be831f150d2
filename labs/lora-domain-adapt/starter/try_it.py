"""Try your adapt.py: `python try_it.py [seed]`.

Builds keyword query -> passage pairs from corpus.json the way the grader does (passages of about
600 characters; a quarter of the topics held out), trains your adapter, and prints what the grader
measures on its own split: trainable share, training time, identity, merge, held-out hit@5.
The grader also evaluates a query family this script never shows. Takes 1-3 minutes.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import adapt
import numpy as np

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_STOP = set("""the and for that this with are not from can any its which when into has have been may but all also
only such than then there their these they will would was were one two each other used use same see more must
new its most both does how what who whom whose where why while after before because between about above being
""".split())


def passages(max_chars: int = 600) -> list[dict]:
    documents = json.loads((Path(__file__).parent / "corpus.json").read_text("utf-8"))["documents"]
    out = []
    for document in documents:
        current, number = "", 0
        for paragraph in (" ".join(p.split()) for p in re.split(r"\n\s*\n", document["text"])):
            if not paragraph:
                continue
            if current and len(current) + 1 + len(paragraph) > max_chars:
                out.append({"id": f"{document['id']}#{number}", "doc": document["id"], "text": current})
                current, number = paragraph, number + 1
            else:
                current = f"{current} {paragraph}" if current else paragraph
        if current:
            out.append({"id": f"{document['id']}#{number}", "doc": document["id"], "text": current})
    return out


def keyword_queries(items: list[dict], rng: random.Random, per_passage: int) -> list[tuple[dict, str]]:
    counts = [Counter(w.lower() for w in _WORD.findall(p["text"]) if w.lower() not in _STOP) for p in items]
    frequency = Counter(word for c in counts for word in c)
    out = []
    for passage, count in zip(items, counts, strict=True):
        ranked = sorted(count, key=lambda w: (-count[w] * math.log(len(items) / frequency[w]), w))[:12]
        if len(ranked) >= 6:
            out += [(passage, " ".join(rng.sample(ranked, rng.randint(3, 6)))) for _ in range(per_passage)]
    return out


def hit_at_5(queries: np.ndarray, index: np.ndarray, ids: list[str], gold: list[str]) -> float:
    top = np.argsort(-(queries @ index.T), axis=1)[:, :5]
    return float(np.mean([g in {ids[j] for j in row} for row, g in zip(top, gold, strict=True)]))


def main(seed: int) -> None:
    rng = random.Random(seed)
    items = passages()
    topics = sorted({p["doc"] for p in items})
    rng.shuffle(topics)
    held: set[str] = set()
    for topic in topics:
        if sum(p["doc"] in held for p in items) >= 0.25 * len(items):
            break
        held.add(topic)
    train_pairs = [{"query": q, "passage": p["text"]} for p, q in keyword_queries([p for p in items if p["doc"] not in held], rng, 2)]
    test = keyword_queries([p for p in items if p["doc"] in held], rng, 2)
    print(f"{len(items)} passages; {len(train_pairs)} training pairs; {len(test)} held-out queries from {sorted(held)}")

    fresh = adapt.new_adapter(seed)
    adapter_size = sum(v.size for v in fresh["weights"].values())
    print(f"fresh adapter: r={fresh['r']} alpha={fresh['alpha']} targets={fresh['targets']}, "
          f"{adapter_size:,} parameters = {adapter_size / 22_565_376:.3%} of the base (needs <= 1%)")
    probe = [p["text"] for p in items[:8]]
    base_probe = adapt.encode(probe)
    print(f"identity: max |encode(fresh) - encode(base)| = {np.abs(adapt.encode(probe, fresh) - base_probe).max():.2e} (needs <= 1e-5)")

    started = time.perf_counter()
    trained = adapt.train(train_pairs, seed)
    print(f"train: {time.perf_counter() - started:.1f} s (needs <= 120 s)")

    ids, texts = [p["id"] for p in items], [p["text"] for p in items]
    gold, queries = [p["id"] for p, _ in test], [q for _, q in test]
    base = hit_at_5(adapt.encode(queries), adapt.encode(texts), ids, gold)
    adapted = hit_at_5(adapt.encode(queries, trained), adapt.encode(texts, trained), ids, gold)
    print(f"held-out hit@5: base {base:.3f}, adapted {adapted:.3f} ({adapted - base:+.3f}; the grader needs >= +0.03)")

    merged = adapt.merge(trained)
    lora_keys = [k for k in merged if "lora" in k]
    print(f"merge: {len(merged)} tensors, {len(lora_keys)} LoRA names left (needs 0)")
    print(f"base unchanged: max |encode(base) now - before| = {np.abs(adapt.encode(probe) - base_probe).max():.2e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
