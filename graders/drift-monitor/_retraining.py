"""The retraining and metrics runs: a MonitoredModel of the learner's fed a drifting stream.

For each family the grader trains nothing itself: it calls fit() on 1000 concept-A rows, measures
accuracy on 5000 fresh concept-A rows (pre-drift), then plays a drift stream in batches of 50:
predict(batch), learn(batch), and predict() on a fixed probe set, which shows whether the model
changed. At the end it measures accuracy on 5000 fresh concept-B rows. Two models serve metrics
on their own ports; the grader scrapes them before, during and after the stream and compares
every counter with its own count.
"""

from __future__ import annotations

import math
import socket
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pytest
from _streams import ABRUPT_WIDTH, concept_rows, drift_rows

from workbench.grader_plugin import call_learner

MAX_ACCURACY_DROP = 0.02   # retrained accuracy >= pre-drift accuracy - 2 points; reference worst: -0.7 points (24 seeds)
MAX_RETRAINS = 3           # per stream
BATCH_ROWS = 50
AFTER_CHANGE = 2500        # rows each drift stream runs past its change point
CONTROL_ROWS = 4000
ERROR_RATE_WINDOW = 200
COUNTERS = ("model_samples_total", "model_errors_total", "model_drift_alarms_total", "model_retrains_total")
RUNS = (("sea", "sea", True), ("sine-flip", "sine-flip", True), ("sea-rise", "sea-rise", False),
        ("control", "sea-noise2", False))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RetrainRun:
    """What one stream showed."""

    name: str
    family: str
    position: int | None
    rows: int
    accuracy_pre: float = math.nan
    accuracy_stale: float = math.nan
    accuracy_after: float = math.nan
    retrain_rows: list[int] = field(default_factory=list)
    metric_problems: list[str] = field(default_factory=list)
    trigger_problems: list[str] = field(default_factory=list)
    scrapes: int = 0

    def describe(self) -> str:
        where = "no change" if self.position is None else f"change at row {self.position}"
        return f"{self.name} stream ({where}, {self.rows} rows)"


def _scrape(port: int) -> tuple[dict[str, tuple[float, str]], str]:
    """{sample name: (value, family type)} and the content type of GET /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                samples[sample.name] = (float(sample.value), family.type)
    return samples, content_type


def _compare(run: RetrainRun, port: int, when: str, expected: dict[str, float]) -> None:
    if run.metric_problems:
        return
    try:
        samples, content_type = _scrape(port)
    except (OSError, ValueError) as exc:
        run.metric_problems.append(f"{run.describe()}, {when}: GET http://127.0.0.1:{port}/metrics failed ({exc}); "
                                   "MonitoredModel(metrics_port=N) serves the metrics on 127.0.0.1:N")
        return
    run.scrapes += 1
    if not content_type.startswith("text/plain"):
        run.metric_problems.append(f"{run.describe()}, {when}: Content-Type {content_type!r}; Prometheus text format "
                                   "is text/plain")
    for name, value in expected.items():
        kind = "gauge" if name == "model_error_rate" else "counter"
        if name not in samples:
            run.metric_problems.append(f"{run.describe()}, {when}: no sample named {name} in the scrape "
                                       f"(found: {sorted(samples)[:8]})")
            return
        got, got_kind = samples[name]
        if got_kind != kind:
            run.metric_problems.append(f"{run.describe()}, {when}: {name} is declared a {got_kind}; it must be a {kind}")
        if not math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9):
            run.metric_problems.append(f"{run.describe()}, {when}: {name} = {got:g}, the grader counted {value:g}")


def _one_run(monitor, name: str, family: str, serve: bool, seed: int) -> RetrainRun:
    rng = np.random.default_rng([seed, 7, sum(map(ord, name))])
    seeds = [int(s) for s in rng.integers(1, 1 << 30, 6)]
    position = None if name == "control" else int(rng.integers(1500, 2500))
    rows = CONTROL_ROWS if position is None else position + AFTER_CHANGE
    run = RetrainRun(name, family, position, rows)
    port = free_port() if serve else None
    model = call_learner("MonitoredModel(metrics_port=...)", monitor.MonitoredModel, metrics_port=port)
    X_init, y_init = concept_rows(family, 0, seeds[0], 1000)
    call_learner("MonitoredModel.fit", model.fit, X_init, y_init)

    def predict(X: np.ndarray) -> np.ndarray:
        labels = np.asarray(call_learner("MonitoredModel.predict", model.predict, X)).ravel()
        assert labels.size == len(X), f"predict got {len(X)} rows and returned {labels.size} labels"
        return labels.astype(np.int64)

    counts = {"model_samples_total": 0, "model_errors_total": 0, "model_drift_alarms_total": 0, "model_retrains_total": 0}
    recent: list[int] = []

    def expected() -> dict[str, float]:
        window = recent[-ERROR_RATE_WINDOW:]
        return {**counts, "model_error_rate": (sum(window) / len(window)) if window else 0.0}

    if port:
        _compare(run, port, "after fit, before any labelled row", expected())
    if position is not None:
        X_a, y_a = concept_rows(family, 0, seeds[1], 5000)
        X_b, y_b = concept_rows(family, 1, seeds[2], 5000)
        run.accuracy_pre = float(np.mean(predict(X_a) == y_a))
        run.accuracy_stale = float(np.mean(predict(X_b) == y_b))
    probe = concept_rows(family, 0, seeds[3], 400)[0]
    last_probe = predict(probe)
    X, y = drift_rows(family, seeds[4], position, ABRUPT_WIDTH, rows)
    quiet_until = rows if position is None else position - ABRUPT_WIDTH
    mid_scrape = (position or rows // 2) + 600
    for start in range(0, rows, BATCH_ROWS):
        stop = min(rows, start + BATCH_ROWS)
        errors = (predict(X[start:stop]) != y[start:stop]).astype(int)
        report = call_learner("MonitoredModel.learn", model.learn, X[start:stop], y[start:stop])
        try:
            alarms, retrained = int(report["alarms"]), report["retrained"]
        except (TypeError, KeyError, ValueError):
            pytest.fail(f"learn returned {report!r}; expected a dict {{'alarms': int, 'retrained': bool}}", pytrace=False)
        if not isinstance(retrained, bool | np.bool_) or alarms < 0:
            pytest.fail(f"learn returned {report!r}; 'alarms' is a count >= 0 and 'retrained' a bool", pytrace=False)
        counts["model_samples_total"] += stop - start
        counts["model_errors_total"] += int(errors.sum())
        counts["model_drift_alarms_total"] += alarms
        recent.extend(errors.tolist())
        if retrained:
            counts["model_retrains_total"] += 1
            run.retrain_rows.append(stop)
            if stop <= quiet_until:
                run.trigger_problems.append(
                    f"{run.describe()}: retrained after row {stop}, " +
                    ("on a stream whose concept never changes" if position is None else f"before the change at row {position}")
                    + ": a retrain must follow an alarm caused by a real change (a schedule, or a detector "
                    "that alarms on noise, retrains too early)")
        probe_now = predict(probe)
        if not np.array_equal(probe_now, last_probe) and not retrained:
            run.trigger_problems.append(
                f"{run.describe()}: the model's predictions on a fixed probe set changed in the batch ending at row "
                f"{stop}, and learn() reported retrained=False: the model may change only when a drift alarm "
                "triggers a retrain (no online updates on every batch)")
        last_probe = probe_now
        if port and start < mid_scrape <= stop:
            _compare(run, port, f"mid-stream (after row {stop})", expected())
    if len(run.retrain_rows) > MAX_RETRAINS:
        run.trigger_problems.append(f"{run.describe()}: {len(run.retrain_rows)} retrains (at rows {run.retrain_rows[:6]}); "
                                    f"one change needs one, at most {MAX_RETRAINS} are allowed")
    if position is not None:
        run.accuracy_after = float(np.mean(predict(X_b) == y_b))
    if port:
        _compare(run, port, "at the end of the stream", expected())
        _compare(run, port, "scraped again at the end (counters must not move or reset)", expected())
    return run


_cache: dict[int, dict[str, RetrainRun] | str] = {}


def retraining_runs(monitor, seed: int) -> dict[str, RetrainRun] | str:
    """The runs of every family (or why they could not run), computed once per grading."""
    if seed not in _cache:
        try:
            _cache[seed] = {name: _one_run(monitor, name, family, serve, seed) for name, family, serve in RUNS}
        except (pytest.fail.Exception, AssertionError) as exc:
            _cache[seed] = str(exc).strip() or type(exc).__name__
    return _cache[seed]
