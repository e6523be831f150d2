"""Streaming drift detection on a model's errors, a retraining trigger, and Prometheus metrics.

`DriftDetector` watches a stream of 0/1 errors (1 = the model was wrong) one value at a time
and raises an alarm when the error rate changes. `MonitoredModel` wraps a classifier: it scores
the labelled rows it is shown, feeds its errors to a detector, and after an alarm retrains a
fresh model on rows that arrived after the alarm. Its counters are served for Prometheus.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

ADWIN_DELTA = 0.002       # river's default: the confidence of each ADWIN cut
RETRAIN_ROWS = 1000       # labelled rows collected after an alarm before retraining
ERROR_RATE_WINDOW = 200   # the model_error_rate gauge covers the last this-many labelled rows


class DriftDetector:
    """Alarms when the error rate over the last 100 values passes 5% (tuned on the brief's SEA example)."""

    def __init__(self, window: int = 100, threshold: float = 0.05) -> None:
        self._recent: deque[float] = deque(maxlen=window)
        self._threshold = threshold
        self._alarmed = False

    def update(self, error: float) -> bool:
        """Add one observation; True when the detector alarms on it."""
        self._recent.append(float(error))
        high = len(self._recent) == self._recent.maxlen and sum(self._recent) / len(self._recent) > self._threshold
        alarm = high and not self._alarmed
        self._alarmed = high
        return alarm

    def update_many(self, errors: list[float]) -> list[bool]:
        """Add observations in order; one alarm flag per observation."""
        return [self.update(value) for value in np.asarray(errors, dtype=np.float64).ravel()]


def _new_model() -> Pipeline:
    """A fresh, unfitted classifier (scaled features; weak regularisation, the rows are plenty)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=100.0, max_iter=1000))


class MonitoredModel:
    """A classifier that watches its own errors and retrains itself after drift."""

    def __init__(self, metrics_port: int | None = None, retrain_rows: int = RETRAIN_ROWS) -> None:
        self.retrain_rows = retrain_rows
        self._model = _new_model()
        self._detector = DriftDetector()
        self._collecting = False
        self._buffer_X: list[np.ndarray] = []
        self._buffer_y: list[np.ndarray] = []
        self._recent_errors: deque[int] = deque(maxlen=ERROR_RATE_WINDOW)
        self.registry = CollectorRegistry()  # one registry per model: two models never share counters
        self._samples = Counter("model_samples", "Labelled rows scored", registry=self.registry)
        self._errors = Counter("model_errors", "Labelled rows the model got wrong", registry=self.registry)
        self._alarms = Counter("model_drift_alarms", "Drift detector alarms", registry=self.registry)
        self._retrains = Counter("model_retrains", "Retrainings triggered by drift", registry=self.registry)
        self._error_rate = Gauge("model_error_rate", f"Error rate over the last {ERROR_RATE_WINDOW} labelled rows",
                                 registry=self.registry)
        self._server = None
        if metrics_port is not None:
            self._server, _ = start_http_server(metrics_port, addr="127.0.0.1", registry=self.registry)

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Initial training, before the stream starts."""
        self._model.fit(np.asarray(X, dtype=np.float64), np.asarray(y))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels for rows (no side effects)."""
        return self._model.predict(np.asarray(X, dtype=np.float64)).astype(np.int64)

    def learn(self, X: np.ndarray, y: np.ndarray) -> dict:
        """Labels arrived for rows just predicted: score them with the current model, feed the
        errors to the detector in order, and retrain once enough rows arrived after an alarm."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(np.int64)
        errors = (self.predict(X) != y).astype(int)
        alarms = 0
        collect_from = 0 if self._collecting else None
        for row, error in enumerate(errors):
            self._recent_errors.append(int(error))
            if self._detector.update(error):
                alarms += 1
                if not self._collecting:  # the rows after the alarming one show the new concept
                    self._collecting = True
                    self._buffer_X, self._buffer_y = [], []
                    collect_from = row + 1
        if collect_from is not None:
            self._buffer_X.append(X[collect_from:])
            self._buffer_y.append(y[collect_from:])
        self._samples.inc(len(y))
        self._errors.inc(int(errors.sum()))
        self._alarms.inc(alarms)
        self._error_rate.set(sum(self._recent_errors) / len(self._recent_errors) if self._recent_errors else 0.0)
        return {"alarms": alarms, "retrained": self._maybe_retrain()}

    def _maybe_retrain(self) -> bool:
        if not self._collecting or sum(len(part) for part in self._buffer_y) < self.retrain_rows:
            return False
        X_new, y_new = np.vstack(self._buffer_X), np.concatenate(self._buffer_y)
        if np.unique(y_new).size < 2:
            return False  # one class only so far: keep collecting
        model = _new_model()
        model.fit(X_new, y_new)
        self._model = model  # swapped in only once it is trained
        self._detector = DriftDetector()  # the new model has its own error rate
        self._collecting = False
        self._buffer_X, self._buffer_y = [], []
        self._retrains.inc()
        return True

    def close(self) -> None:
        """Stop the metrics server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
