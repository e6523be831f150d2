"""Embedding-drift cases: shifted and same-distribution pairs of MiniLM ticket embeddings.

The brief shows a full topic swap. Held out: a new topic arriving in 40% of the traffic, a mix
in which two of four topics vanish, and the same-distribution splits of unequal sizes on which
false alarms are counted.
"""

from __future__ import annotations

import numpy as np
from _texts import topic_pools

PER_TOPIC = 60             # tickets embedded per topic (8 topics: 480 texts, about 5 s)
SHIFT_ALPHA = 0.01         # a shift must give p < this; reference: p = 0.001 (1000 permutations) on every case
FALSE_ALARM_ALPHA = 0.05   # a same-distribution split "alarms" when p < this
FALSE_ALARM_MAX = 0.20     # share of alarming splits allowed; reference: 0-7% over 30 splits
SPLITS = 30
MIN_DISTINCT_P = 5         # p-values over the 30 splits must vary; reference: 28-29 distinct, median 0.82-0.90

_cache: dict[int, tuple[list, list]] = {}


def embedding_cases(seed: int) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[tuple[str, np.ndarray, np.ndarray]]]:
    """(shifts, same-distribution splits): each a list of (name, reference, current) arrays."""
    if seed in _cache:
        return _cache[seed]
    pools = topic_pools(seed, PER_TOPIC)
    rng = np.random.default_rng([seed, 9])

    def draw_pair(topics: list[str], ref_counts: list[int], cur_counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
        ref, cur = [], []
        for topic, n_ref, n_cur in zip(topics, ref_counts, cur_counts, strict=True):
            order = rng.permutation(PER_TOPIC)
            ref.append(pools[topic][order[:n_ref]])
            cur.append(pools[topic][order[n_ref:n_ref + n_cur]])
        return np.vstack(ref), np.vstack(cur)

    shown = ["billing", "shipping", "login", "crash"]
    other = ["refund", "quality", "billing", "shipping"]
    shifts = [
        ("swap of topics (billing + shipping -> login + crash; the brief's example)",
         *draw_pair(shown, [50, 50, 0, 0], [0, 0, 50, 50])),
        ("new topic (privacy requests) in 40% of the traffic",
         *draw_pair([*shown, "privacy"], [25, 25, 25, 25, 0], [15, 15, 15, 15, 40])),
        ("mix change (two of four topics vanish)", *draw_pair(other, [25, 25, 25, 25], [30, 30, 0, 0])),
        ("new topic (praise) in 40% of the traffic",
         *draw_pair([*other, "praise"], [25, 25, 25, 25, 0], [15, 15, 15, 15, 40])),
    ]
    mixes = (shown, other, ["refund", "quality", "privacy", "praise"])
    splits = []
    for index in range(SPLITS):
        topics = mixes[index % len(mixes)]
        per_topic = (10, 15, 20, 25)[index % 4]
        splits.append((f"split {index} ({'/'.join(topics)}, 100 vs {4 * per_topic})",
                       *draw_pair(topics, [25] * 4, [per_topic] * 4)))
    _cache[seed] = (shifts, splits)
    return _cache[seed]
