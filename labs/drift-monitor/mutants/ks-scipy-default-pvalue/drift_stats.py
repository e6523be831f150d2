"""Batch drift statistics: PSI and the two-sample KS test for one numeric feature, and a
permutation test for a shift in sentence embeddings.

Every function takes plain arrays and returns plain numbers, so a monitoring job can call them
on a reference window (training data, last month) and a current window (today's traffic).
"""

from __future__ import annotations

import numpy as np

PSI_FLOOR = 1e-4  # a bin share below this is raised to it before the logarithm


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`, on the reference's quantile bins."""
    reference = np.asarray(reference, dtype=np.float64).ravel()
    current = np.asarray(current, dtype=np.float64).ravel()
    if bins < 1 or reference.size == 0 or current.size == 0:
        raise ValueError("psi needs bins >= 1 and two non-empty samples")
    edges = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))
    cuts = np.unique(edges[1:-1])  # the outer bins reach -inf and +inf: nothing falls outside
    ref_share = np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=cuts.size + 1) / reference.size
    cur_share = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=cuts.size + 1) / current.size
    ref_share = np.maximum(ref_share, PSI_FLOOR)
    cur_share = np.maximum(cur_share, PSI_FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p): the largest gap between the two empirical CDFs, and its asymptotic p-value."""
    from scipy.stats import ks_2samp

    result = ks_2samp(np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64))
    return float(result.statistic), float(result.pvalue)


def embedding_drift(reference: np.ndarray, current: np.ndarray, permutations: int = 1000, seed: int = 0) -> float:
    """p-value of "both sets of embeddings come from one distribution": a permutation test on
    the squared distance between the two mean vectors."""
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise ValueError("embedding_drift needs two (n, dim) arrays of the same width")
    pooled = np.vstack([reference, current])
    n, total = reference.shape[0], pooled.shape[0]
    observed = float(np.sum((reference.mean(axis=0) - current.mean(axis=0)) ** 2))
    rng = np.random.default_rng(seed)
    # one row of labels per permutation: +1/n for "reference", -1/m for "current"
    weights = np.full(total, -1.0 / (total - n))
    labels = np.empty((permutations, total))
    for row in range(permutations):
        labels[row] = weights
        labels[row, rng.permutation(total)[:n]] = 1.0 / n
    differences = labels @ pooled
    null = np.sum(differences ** 2, axis=1)
    exceed = int(np.sum(null >= observed - 1e-12))
    return (1 + exceed) / (1 + permutations)
