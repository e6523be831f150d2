"""Streaming drift detection on a model's errors, a retraining trigger, and Prometheus metrics.
See README.md for the contract the grader checks."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


class DriftDetector:
    """Watches a stream of 0/1 errors (1 = the model was wrong) and alarms when the error rate changes."""

    def __init__(self) -> None:
        pass  # TODO: a river detector (ADWIN or PageHinkley), one per instance

    def update_many(self, errors: np.ndarray) -> list[bool]:
        """Add observations in order; one alarm flag per observation."""
        return [False for _ in np.asarray(errors).ravel()]  # TODO: never alarms


class MonitoredModel:
    """A classifier that watches its own errors and retrains itself after drift."""

    def __init__(self, metrics_port: int | None = None) -> None:
        self._model = LogisticRegression(max_iter=1000)
        # TODO: a CollectorRegistry with the five metrics, served on 127.0.0.1:metrics_port

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Initial training, before the stream starts."""
        self._model.fit(X, y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels for rows (no side effects)."""
        return self._model.predict(X)

    def learn(self, X: np.ndarray, y: np.ndarray) -> dict:
        """Labels arrived for rows just predicted: watch the errors, retrain after drift."""
        return {"alarms": 0, "retrained": False}  # TODO


if __name__ == "__main__":
    flags = DriftDetector().update_many(np.repeat([0.0, 1.0], 300))
    print("300 zeros then 300 ones:", sum(flags), "alarm(s), first at row", flags.index(True) if any(flags) else None)
