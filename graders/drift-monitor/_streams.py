"""River's synthetic streams with known change points, for the detector and retraining checks.

A drift stream is `ConceptDriftStream(concept A, concept B, position=P, width=W)`: row t comes
from concept B with probability 1 / (1 + exp(-4 (t - P) / W)), so the change is centred on P and
spread over about W rows. "Before the change" means rows t < P - W (under 2% from concept B).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from river.datasets import synth
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

ABRUPT_WIDTH = 40  # river's ConceptDriftStream overflows math.exp for width 1 at t far from P


def _concept(family: str, which: int, seed: int):
    if family == "sea":                      # the brief's example: SEA threshold 8 -> 7
        return synth.SEA(variant=(0, 2)[which], seed=seed)
    if family == "sea-noise10":              # held out: 10% label noise, threshold 7 -> 9.5
        return synth.SEA(variant=(2, 3)[which], noise=0.1, seed=seed)
    if family == "sea-noise2":               # held out: 2% label noise (the stable stream of the retraining runs)
        return synth.SEA(variant=(2, 3)[which], noise=0.02, seed=seed)
    if family == "sea-rise":                 # held out: threshold 7 -> 9.5
        return synth.SEA(variant=(2, 3)[which], seed=seed)
    if family == "sine-flip":                # held out: SINE1 -> SINE1 reversed
        return synth.Sine(classification_function=(0, 1)[which], seed=seed)
    if family == "agrawal":                  # held out: Agrawal loan function 0 -> 2, gradual
        return synth.Agrawal(classification_function=(0, 2)[which], seed=seed)
    raise KeyError(family)


def take(stream, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n rows of a river stream as (X float64, y int64)."""
    X, y = [], []
    for features, label in itertools.islice(stream, n):
        X.append([float(v) for v in features.values()])
        y.append(int(label))
    return np.array(X, dtype=np.float64), np.array(y, dtype=np.int64)


def concept_rows(family: str, which: int, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of one concept (A = 0, B = 1)."""
    return take(_concept(family, which, seed), n)


def drift_rows(family: str, seed: int, position: int, width: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows that change from concept A to concept B around `position`; position None: no change."""
    if position is None:
        return take(_concept(family, 0, seed * 7 + 1), n)
    stream = synth.ConceptDriftStream(_concept(family, 0, seed * 7 + 1), _concept(family, 1, seed * 7 + 2),
                                      position=position, width=width, seed=seed * 7 + 3)
    return take(stream, n)


@dataclass
class ErrorStream:
    """0/1 errors of a model trained on concept A, over a stream that may change."""

    family: str
    seed: int
    position: int | None
    width: int
    errors: np.ndarray

    @property
    def quiet_until(self) -> int:
        """Rows before this index come from concept A (no alarm allowed there)."""
        return len(self.errors) if self.position is None else self.position - self.width

    def describe(self) -> str:
        where = "no change" if self.position is None else f"change at row {self.position}, width {self.width}"
        return f"{self.family} (seed {self.seed}, {where}, {len(self.errors)} rows)"


def error_stream(family: str, seed: int, position: int | None, width: int, n: int) -> ErrorStream:
    """Train the grader's model on 1000 concept-A rows, then record its errors on a drift stream."""
    X_train, y_train = concept_rows(family, 0, seed * 7 + 5, 1000)
    model = DecisionTreeClassifier(max_depth=6, random_state=0) if family == "agrawal" else LogisticRegression(max_iter=1000)
    model.fit(X_train, y_train)
    X, y = drift_rows(family, seed, position, width, n)
    return ErrorStream(family, seed, position, width, (model.predict(X) != y).astype(np.float64))
