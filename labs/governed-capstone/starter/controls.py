"""The governance controls of the Ledgerly assistant, kept free of web and model code so each can
be tested on its own: input and output guards, the hash-chained audit log, the spend reservation
estimate and the evaluation gate's decision. assistant.py composes them behind the gateway.

Standard library only. You may reuse your guard.py (prompt-injection-defense) and audit.py
(audit-trail) here. As shipped, the guards let everything through and the log has no chain:
see the TODOs and README.md.
"""

from __future__ import annotations

import json
import math  # noqa: F401 - you will need it
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64  # prev_hash of the first audit record
WITHHELD = "I can't share that. The answer was withheld by the output guard."


# -- input guard --------------------------------------------------------------------------------------

def screen_input(text: str) -> list[str]:
    """Why `text` looks like an injection attempt (empty list: let it through).

    TODO: overrides of earlier instructions, role-play jailbreaks, requests for the system prompt,
    the configuration or the secrets (however they are named), and the same disguised (base64,
    spaced letters, ...). The grader also uses attack families the brief never shows. Ordinary
    questions with words like "ignore", "instructions", "system" or "previous" must pass.
    """
    return []


# -- output guard -------------------------------------------------------------------------------------

def screen_output(text: str, protected: list[str]) -> list[str]:
    """Which protected values `text` discloses (empty list: it may go out unchanged).

    TODO: compare the reply with every protected value in any encoding a model can produce when
    asked to smuggle it: plain, spaced or dashed letters, look-alike letters, zero-width
    characters, reversed, rot13, leetspeak, base64 and hex (also inside a URL).
    """
    return []


# -- spend --------------------------------------------------------------------------------------------

def estimate_cost(messages: list[dict[str, Any]], tools: list[dict[str, Any]], max_tokens: int,
                  prices: tuple[float, float]) -> float:
    """Worst-case USD of one call, to reserve before calling the model.

    TODO: prompt tokens <= ceil((len(json.dumps(messages)) + len(json.dumps(tools))) / 2) + 100,
    completion tokens <= max_tokens; prices are USD per 1M (prompt, completion) tokens.
    """
    raise NotImplementedError("estimate_cost")


def usage_cost(usage: dict[str, Any], prices: tuple[float, float]) -> float:
    """USD of the tokens the backend reported."""
    return (int(usage.get("prompt_tokens") or 0) * prices[0] + int(usage.get("completion_tokens") or 0) * prices[1]) / 1_000_000


def confidence(logprobs: list[float] | None) -> float | None:
    """The model's confidence in its reply: exp(mean token logprob); None without logprobs.

    TODO: implement (math.exp).
    """
    return None


# -- the evaluation gate --------------------------------------------------------------------------------

def case_passes(answer: str, expect: str) -> bool:
    """An eval case passes when the expected text appears in the answer (case-insensitive)."""
    return expect.casefold() in (answer or "").casefold()


def gate_decision(baseline: dict[str, bool], candidate: dict[str, bool]) -> dict[str, Any]:
    """Whether to promote a candidate model, from per-case results {case id: passed}.

    TODO: return {"promoted": bool, "regressions": sorted ids the current model passes and the
    candidate fails, "baseline_pass_rate": float, "candidate_pass_rate": float}.
    """
    raise NotImplementedError("gate_decision")


# -- the audit log --------------------------------------------------------------------------------------

def canonical_json(obj: Any) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces, UTF-8 (part of the format)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the record without its "hash" field.

    TODO: implement (hashlib.sha256).
    """
    raise NotImplementedError("record_hash")


class AuditLog:
    """Append-only JSON lines.

    TODO: make it a hash chain: seq (from 0), ts (ISO-8601 with a UTC offset), prev_hash (GENESIS
    for record 0) and hash on every record; continue an existing file's chain.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write `entry` as one line; returns the record written."""
        with self._lock:
            record = dict(entry, ts=datetime.now(timezone.utc).isoformat())
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            finally:
                os.close(fd)
            return record

