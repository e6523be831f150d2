"""Project 3: k-means on handwritten digits, judged by the adjusted Rand index.

Keep these names and signatures: the grader calls them.

    adjusted_rand_index(labels_a, labels_b) -> float   agreement of two labelings, chance-corrected
    lloyd(X, centers, max_iter=300) -> Clustering      Lloyd's iterations from the given centers
    kmeans(X, k, seed=0, n_init=10, max_iter=300)      k-means++ starts, the best of n_init runs

Only NumPy: scikit-learn and scipy.cluster are not importable while grading.
Run `python clustering.py` to try it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Clustering:
    """The result of k-means: a cluster per row, the centers and the within-cluster sum of squares."""

    labels: np.ndarray  # (n,) ints in 0..k-1
    centers: np.ndarray  # (k, d)
    inertia: float  # sum over rows of the squared distance to their center


def adjusted_rand_index(labels_a, labels_b):
    """Hubert and Arabie's adjusted Rand index of two labelings of the same items (any label values)."""
    # TODO: contingency table of the two labelings, pair counts, chance correction (see the brief)
    raise NotImplementedError("adjusted_rand_index")


def _squared_distances(X, centers):
    # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2: one matrix product instead of an (n, k, d) array
    distances = (X * X).sum(axis=1)[:, None] - 2.0 * X @ centers.T + (centers * centers).sum(axis=1)[None, :]
    return np.maximum(distances, 0.0)


def _assign(X, centers):
    return np.argmin(_squared_distances(X, centers), axis=1)


def _update(X, labels, centers):
    new_centers = centers.copy()
    for j in range(len(centers)):
        members = X[labels == j]
        if len(members):  # an empty cluster keeps its center
            new_centers[j] = members.mean(axis=0)
    return new_centers


def _inertia(X, labels, centers):
    return float(np.sum((X - centers[labels]) ** 2))


def lloyd(X, centers, max_iter=300):
    """Assign every row to its nearest center, move each center to the mean of its rows, repeat
    until no assignment changes (or max_iter updates)."""
    # TODO: assign / update until no label changes (helpers above); an empty cluster keeps its center
    raise NotImplementedError("lloyd")


def kmeans_plus_plus(X, k, rng):
    """k-means++ seeding: the first center uniformly at random, then each next one with
    probability proportional to its squared distance to the nearest center chosen so far."""
    # TODO: k-means++ (this picks k distinct random rows, which often starts two centers in one cluster)
    return np.array(X[rng.choice(len(X), size=k, replace=False)], dtype=float)


def kmeans(X, k, seed=0, n_init=10, max_iter=300):
    """Best (lowest-inertia) of n_init Lloyd runs from k-means++ starts; the same seed gives the same result."""
    # TODO: n_init runs of lloyd from kmeans_plus_plus starts, all drawn from np.random.default_rng(seed);
    # return the run with the lowest inertia
    raise NotImplementedError("kmeans")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    result = kmeans(X, 10, seed=0)
    print(f"inertia {result.inertia:.0f}, ARI vs the true digits {adjusted_rand_index(y, result.labels):.3f}")
