"""Grading results: a superset of Exercism's results.json v3, and the JSONL event codec.

Events streamed by the grader plugin, one JSON object per line:
  {"event": "collected", "checks": [{"task_id", "name", "nodeid", "skill", "points", "hint"}]}
  {"event": "check_started", "task_id", "name"}
  {"event": "check", ...CheckResult fields...}
  {"event": "finished", "exitstatus"}
The parent adds {"event": "started", "lab", ...} and {"event": "result", "result": {...}}.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "error"]
RESULT_VERSION = 3


@dataclass
class CheckResult:
    """One check (one grader test): Exercism's test fields plus points, skill and metrics."""

    task_id: int
    name: str
    status: Status
    message: str | None = None
    output: str | None = None
    nodeid: str = ""
    skill: str = ""
    points: float = 0.0
    max_points: float = 1.0
    hint: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    required: bool = False
    competency: str | None = None  # one of the skill category's competencies, when the check names one

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Build from a JSON object, ignoring unknown keys."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class GradeResult:
    """The result of grading one lab once."""

    lab: str
    status: Status
    message: str | None
    tests: list[CheckResult]
    pass_mark: float
    grader_sha256: str
    grader_files: dict[str, str]
    workbench_version: str
    started_at: str
    duration_s: float
    model: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sandbox: str = "none"
    files: dict[str, str] = field(default_factory=dict)  # what was graded: {path in the lab folder: SHA-256}
    version: int = RESULT_VERSION

    @property
    def required_failed(self) -> list[CheckResult]:
        """Required checks that did not pass (any one of them fails the lab)."""
        return [t for t in self.tests if t.required and t.status != "pass"]

    @property
    def points(self) -> float:
        """Points earned over all checks."""
        return round(sum(t.points for t in self.tests), 4)

    @property
    def max_points(self) -> float:
        """Points available over all checks."""
        return round(sum(t.max_points for t in self.tests), 4)

    @property
    def score(self) -> float:
        """Share of points earned (0..1)."""
        return round(self.points / self.max_points, 4) if self.max_points else 0.0

    @property
    def passed(self) -> bool:
        """Did this attempt reach the lab's pass mark?"""
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, Exercism v3 keys first."""
        data = asdict(self)
        ordered = {key: data.pop(key) for key in ("version", "status", "message", "tests")}
        ordered.update(lab=data.pop("lab"), score=self.score, points=self.points, max_points=self.max_points,
                       required_failed=[t.name for t in self.required_failed])
        ordered.update(data)
        return ordered

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeResult:
        """Inverse of to_dict (derived keys are recomputed)."""
        names = cls.__dataclass_fields__
        fields = {k: v for k, v in data.items() if k in names}
        fields["tests"] = [CheckResult.from_dict(t) for t in data.get("tests", [])]
        return cls(**fields)


def encode_event(event: dict[str, Any]) -> str:
    """One event as a single JSON line."""
    return json.dumps(event, separators=(",", ":"), default=str) + "\n"


def decode_event(line: str) -> dict[str, Any] | None:
    """Parse one event line; None for a blank or corrupt line."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


__all__ = ["CheckResult", "GradeResult", "Status", "decode_event", "encode_event"]
