"""Grading events, typed: one dataclass per kind. They travel as one JSON object per line
(`{"event": KIND, ...fields}`) from the grader plugin to the runner, and as the same dicts to
`on_event` callbacks (the CLI, the TUI, `--json` streams); `parse_event` turns a dict back into
its dataclass so consumers match on types, not on strings.

    started        the parent began a run (lab, folder, grader hash, sandbox)
    collected      the grader's checks, in order (task_id, name, skill, points, hint, required)
    check_started  a check began
    check          a check finished: a CheckResult
    collect_error  the grader could not collect a file
    llm_call       one model call went through the metering proxy (or a replayed one)
    finished       pytest finished
    result         the parent's final GradeResult (as a dict)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .results import CheckResult


@dataclass(frozen=True)
class Started:
    lab: str
    lab_dir: str
    grader_sha256: str
    sandbox: str = "none"
    kind: ClassVar[str] = "started"


@dataclass(frozen=True)
class Collected:
    checks: list[dict[str, Any]]
    kind: ClassVar[str] = "collected"


@dataclass(frozen=True)
class CheckStarted:
    task_id: int
    name: str
    kind: ClassVar[str] = "check_started"


@dataclass(frozen=True)
class CheckFinished:
    result: CheckResult
    kind: ClassVar[str] = "check"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self.result)}


@dataclass(frozen=True)
class CollectError:
    nodeid: str
    output: str
    kind: ClassVar[str] = "collect_error"


@dataclass(frozen=True)
class LlmCall:
    data: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "llm_call"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **self.data}


@dataclass(frozen=True)
class Finished:
    exitstatus: int
    kind: ClassVar[str] = "finished"


@dataclass(frozen=True)
class ResultReady:
    result: dict[str, Any]
    kind: ClassVar[str] = "result"


Event = Started | Collected | CheckStarted | CheckFinished | CollectError | LlmCall | Finished | ResultReady
_KINDS: dict[str, type] = {cls.kind: cls for cls in (Started, Collected, CheckStarted, CheckFinished, CollectError,
                                                      LlmCall, Finished, ResultReady)}


def to_dict(event: Event) -> dict[str, Any]:
    """The wire/callback form: {"event": kind, ...fields}."""
    custom = getattr(event, "to_dict", None)
    if custom is not None:
        return custom()
    return {"event": event.kind, **asdict(event)}


def parse_event(data: dict[str, Any]) -> Event | None:
    """The dataclass for an event dict; None for an unknown kind or malformed fields."""
    cls = _KINDS.get(str(data.get("event", "")))
    if cls is None:
        return None
    fields = {k: v for k, v in data.items() if k != "event"}
    try:
        if cls is CheckFinished:
            return CheckFinished(CheckResult.from_dict(fields))
        if cls is LlmCall:
            return LlmCall(fields)
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in fields.items() if k in names})
    except (TypeError, ValueError):
        return None


__all__ = ["CheckFinished", "CheckStarted", "CollectError", "Collected", "Event", "Finished", "LlmCall", "ResultReady",
           "Started", "parse_event", "to_dict"]
