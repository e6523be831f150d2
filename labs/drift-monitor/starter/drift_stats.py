"""Batch drift statistics: PSI and the two-sample KS test for one numeric feature, and a
test for a shift in sentence embeddings. See README.md for the exact definitions."""

from __future__ import annotations

import numpy as np

PSI_FLOOR = 1e-4  # a bin share below this is raised to it before the logarithm


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`, on the reference's quantile bins."""
    raise NotImplementedError("psi: quantile bins of the reference, open outer bins, shares floored at 1e-4")


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p): the largest gap between the two empirical CDFs, and its asymptotic p-value."""
    raise NotImplementedError("ks_test: D over every pooled value, p = Kolmogorov's Q(sqrt(nm/(n+m)) D)")


def embedding_drift(reference: np.ndarray, current: np.ndarray) -> float:
    """p-value of "both (n, dim) sets of embeddings come from one distribution"."""
    raise NotImplementedError("embedding_drift: a two-sample test on whole vectors")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    before, after = rng.normal(0, 1, 2000), rng.normal(0.4, 1, 1500)
    print("psi", psi(before, after), "ks", ks_test(before, after))
