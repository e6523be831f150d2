"""The grader's own PSI and KS (the brief's definitions), and the case families they are checked on.

The brief shows one example (a normal feature whose mean moves). The held-out families are the
ones that break quick implementations: integer features whose quantiles tie, current values
outside the reference's range, bins left empty by the current window, heavy tails, unequal and
tiny samples, and bin counts other than 10.
"""

from __future__ import annotations

import numpy as np
from scipy.special import kolmogorov

PSI_FLOOR = 1e-4


def psi_reference(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI on the reference's quantile bins, outer bins open, shares floored at 1e-4."""
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    cuts = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    p = np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=cuts.size + 1) / reference.size
    q = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=cuts.size + 1) / current.size
    p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_reference(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p): sup |F_ref - F_cur| over every sample value, p = Kolmogorov's Q(sqrt(nm/(n+m)) D)."""
    a = np.sort(np.asarray(reference, dtype=np.float64))
    b = np.sort(np.asarray(current, dtype=np.float64))
    pooled = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, pooled, side="right") / a.size
                            - np.searchsorted(b, pooled, side="right") / b.size)))
    return d, float(kolmogorov(np.sqrt(a.size * b.size / (a.size + b.size)) * d))


def psi_cases(seed: int) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(family, reference, current, bins), fresh every run."""
    rng = np.random.default_rng([seed, 1])
    shift = rng.uniform(0.2, 0.6)
    cases = [
        ("normal, mean shift (the brief's example)", rng.normal(0, 1, 2000), rng.normal(shift, 1, 1500), 10),
        ("identical samples", *(2 * [rng.normal(3, 2, 800)]), 10),
        ("integer feature with tied quantiles", rng.poisson(rng.uniform(1.5, 3), 3000).astype(float),
         rng.poisson(rng.uniform(3, 4.5), 1200).astype(float), 10),
        ("mostly-zero feature (most quantiles tie at 0)", np.where(rng.random(2500) < 0.7, 0.0, rng.exponential(5, 2500)),
         np.where(rng.random(900) < 0.4, 0.0, rng.exponential(5, 900)), 10),
        ("current values outside the reference range", rng.uniform(0, 1, 1000), rng.uniform(0.5, rng.uniform(1.5, 2.5), 1000), 10),
        ("current window leaves bins empty", rng.normal(0, 1, 1500), rng.normal(2.5, 0.2, 400), 10),
        ("heavy tails, scale change", rng.standard_t(2, 4000), rng.standard_t(2, 3000) * rng.uniform(1.5, 3), 10),
        ("lognormal, 20 bins", rng.lognormal(0, 1, 5000), rng.lognormal(0.15, 1.1, 2000), 20),
        ("small samples, 5 bins", rng.normal(0, 1, 37), rng.normal(0.5, 1, 23), 5),
        ("one bin", rng.normal(0, 1, 100), rng.normal(1, 1, 50), 1),
        ("swapped roles (bins come from the first argument)", rng.normal(shift, 1, 1500), rng.normal(0, 1, 2000), 10),
    ]
    return cases


def ks_cases(seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(family, reference, current), fresh every run."""
    rng = np.random.default_rng([seed, 2])
    same = rng.normal(0, 1, 300)
    return [
        ("normal, mean shift (the brief's example)", rng.normal(0, 1, 500), rng.normal(rng.uniform(0.1, 0.3), 1, 400)),
        ("identical samples", same, same.copy()),
        ("integer feature with ties", rng.integers(0, 6, 800).astype(float), rng.integers(0, 7, 500).astype(float)),
        ("ties across both samples, rounded values", np.round(rng.normal(0, 1, 400), 1), np.round(rng.normal(0.1, 1.2, 700), 1)),
        ("tiny samples", rng.normal(0, 1, 5), rng.normal(1, 1, 7)),
        ("unequal sizes, scale change only", rng.normal(0, 1, 2000), rng.normal(0, rng.uniform(1.3, 1.8), 150)),
        ("far apart (p underflows towards 0)", rng.normal(0, 1, 300), rng.normal(5, 1, 300)),
        ("small shift, large samples", rng.normal(0, 1, 5000), rng.normal(0.03, 1, 5000)),
    ]
