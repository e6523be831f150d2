"""Prometheus metrics by hand: counters, a gauge and histograms in the text exposition format.

Format (https://prometheus.io/docs/instrumenting/exposition_formats/): for each metric family
a `# HELP name text` line, a `# TYPE name counter|gauge|histogram` line, then one sample per
line, `name{label="value"} number`. A histogram named `x` exposes cumulative buckets
`x_bucket{le="..."}` (the last one `le="+Inf"`), `x_sum` and `x_count`.
"""

from __future__ import annotations

import bisect
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
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge",
                f"{self.name} {_number(self.read())}"]


class Histogram:
    """Observations counted into fixed buckets (cumulative when rendered), with sum and count."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help = name, help_text
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.bounds, value)] += 1
            self._sum += value

    def render(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {running}')
        lines.append(f"{self.name}_sum {_number(total)}")
        lines.append(f"{self.name}_count {running}")
        return lines


class Metrics:
    """Everything GET /metrics reports."""

    def __init__(self, queue_depth) -> None:
        self.requests = Counter("embed_requests_total", "POST /embed requests answered, any status.")
        self.errors = Counter("embed_errors_total", "POST /embed requests answered with an error status.", label="code")
        self.batch_size = Histogram("embed_batch_size", "Texts per model call.", BATCH_SIZE_BUCKETS)
        self.latency = Histogram("embed_request_latency_seconds", "Seconds from arrival to a 200 answer.", LATENCY_BUCKETS)
        self.queue_depth = Gauge("embed_queue_depth", "Requests waiting for the model.", queue_depth)

    def render(self) -> str:
        families = (self.requests, self.errors, self.batch_size, self.latency, self.queue_depth)
        return "\n".join(line for family in families for line in family.render()) + "\n"
