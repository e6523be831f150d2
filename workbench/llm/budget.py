"""Per-run model budgets: calls, tokens and seconds, from lab.toml via the grading env.

The grading runner sets WORKBENCH_LLM_MAX_CALLS / _TOKENS / _SECONDS from the lab's
[limits]. Every model call (live or replayed) is charged here by the call log. A call that
would start after a budget is spent is refused with BudgetExceeded; a call that pushes usage
over a budget raises BudgetExceeded when it returns, so the check that did it fails. Seconds
also cap each call's timeout, so a slow model cannot make a check hang.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from .errors import BudgetExceeded


def _env_number(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None


@dataclass
class Budget:
    """Limits (None = unlimited) and what has been used so far in this process."""

    max_calls: float | None = None
    max_tokens: float | None = None
    max_seconds: float | None = None
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    exceeded: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls) -> Budget:
        """The budgets the grading runner passed (none outside grading)."""
        return cls(_env_number("WORKBENCH_LLM_MAX_CALLS"), _env_number("WORKBENCH_LLM_MAX_TOKENS"),
                   _env_number("WORKBENCH_LLM_MAX_SECONDS"))

    def _fail(self, kind: str, limit: float, used: float, message: str) -> BudgetExceeded:
        self.exceeded.append(message)
        return BudgetExceeded(message, kind=kind, limit=limit, used=used)

    def check_before_call(self) -> float | None:
        """Refuse a new call when a budget is spent; returns the seconds left (None = no limit)."""
        with self._lock:
            if self.max_calls is not None and self.calls >= self.max_calls:
                raise self._fail("calls", self.max_calls, self.calls,
                                 f"LLM call budget exceeded: {self.calls} calls made, the lab allows {self.max_calls:g}")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise self._fail("tokens", self.max_tokens, self.tokens,
                                 f"LLM token budget exceeded: {self.tokens} tokens used, the lab allows {self.max_tokens:g}")
            if self.max_seconds is not None:
                left = self.max_seconds - self.seconds
                if left <= 0:
                    raise self._fail("seconds", self.max_seconds, self.seconds,
                                     f"LLM time budget exceeded: {self.seconds:.1f} s spent in model calls, "
                                     f"the lab allows {self.max_seconds:g} s")
                return left
            return None

    def charge(self, tokens: int, seconds: float) -> None:
        """Count one finished (or failed) call."""
        with self._lock:
            self.calls += 1
            self.tokens += max(0, int(tokens))
            self.seconds += max(0.0, seconds)

    def check_after_call(self) -> None:
        """Raise BudgetExceeded if the call just charged went over a token or time budget."""
        with self._lock:
            if self.max_tokens is not None and self.tokens > self.max_tokens:
                raise self._fail("tokens", self.max_tokens, self.tokens,
                                 f"LLM token budget exceeded: {self.tokens} tokens used, the lab allows {self.max_tokens:g}")
            if self.max_seconds is not None and self.seconds > self.max_seconds:
                raise self._fail("seconds", self.max_seconds, self.seconds,
                                 f"LLM time budget exceeded: {self.seconds:.1f} s spent in model calls, "
                                 f"the lab allows {self.max_seconds:g} s")

    def snapshot(self) -> dict:
        """Used and allowed, JSON-ready."""
        return {"calls": self.calls, "tokens": self.tokens, "seconds": round(self.seconds, 3),
                "max_calls": self.max_calls, "max_tokens": self.max_tokens, "max_seconds": self.max_seconds}


_budget: Budget | None = None
_budget_lock = threading.Lock()


def current_budget() -> Budget:
    """This process's budget (read from the environment on first use)."""
    global _budget
    with _budget_lock:
        if _budget is None:
            _budget = Budget.from_env()
        return _budget


def reset_budget(budget: Budget | None = None) -> Budget:
    """Start counting afresh (tests; a new run in the same process)."""
    global _budget
    with _budget_lock:
        _budget = budget if budget is not None else Budget.from_env()
        return _budget


__all__ = ["Budget", "current_budget", "reset_budget"]
