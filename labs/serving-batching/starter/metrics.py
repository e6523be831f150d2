"""Prometheus metrics by hand: counters, a gauge and histograms in the text exposition format.

Format (https://prometheus.io/docs/instrumenting/exposition_formats/): for each metric family
a `# HELP name text` line, a `# TYPE name counter|gauge|histogram` line, then one sample per
line, `name{label="value"} number`. A histogram named `x` exposes CUMULATIVE buckets
`x_bucket{le="..."}` (each counts the observations <= le; the last is `le="+Inf"`), then
`x_sum` (the total of all observations) and `x_count` (how many there were).

`Counter` is done, as an example. TODO: `Gauge`, `Histogram`, and the families in `Metrics`.
"""

from __future__ import annotations

import threading

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonically increasing count, optionally split by one label."""

    def __init__(self, name: str, help_text: str, label: str | None = None) -> None:
        self.name, self.help, self.label = name, help_text, label
        self._values: dict[str, float] = {} if label else {"": 0.0}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, label_value: str = "") -> None:
        with self._lock:
            self._values[label_value] = self._values.get(label_value, 0.0) + amount

    def value(self, label_value: str = "") -> float:
        return self._values.get(label_value, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for label_value, value in sorted(self._values.items()):
            labels = f'{{{self.label}="{label_value}"}}' if self.label else ""
            lines.append(f"{self.name}{labels} {_number(value)}")
        return lines


class Gauge:
    """A value that goes up and down, read from a callback when rendered."""

    def __init__(self, name: str, help_text: str, read) -> None:
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> list[str]:
        return []  # TODO: HELP, TYPE gauge, and one sample


class Histogram:
    """Observations counted into fixed buckets (cumulative when rendered), with sum and count."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help = name, help_text
        self.bounds = tuple(sorted(buckets))

    def observe(self, value: float) -> None:
        pass  # TODO

    def render(self) -> list[str]:
        return []  # TODO: HELP, TYPE histogram, x_bucket{le=...} for each bound and +Inf, x_sum, x_count


class Metrics:
    """Everything GET /metrics reports."""

    def __init__(self, queue_depth) -> None:
        self.requests = Counter("embed_requests_total", "POST /embed requests answered, any status.")
        # TODO: embed_errors_total{code}, embed_batch_size, embed_request_latency_seconds,
        # embed_queue_depth (read it from the `queue_depth` callback).
        self.batch_size = Histogram("embed_batch_size", "Texts per model call.", BATCH_SIZE_BUCKETS)

    def render(self) -> str:
        families = (self.requests, self.batch_size)
        return "\n".join(line for family in families for line in family.render()) + "\n"
