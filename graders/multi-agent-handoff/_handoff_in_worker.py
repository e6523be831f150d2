"""Runs INSIDE the learner's sandboxed worker: the grader loads this file's text there as a module
(`_helpdesk.in_worker`); the grader process never imports it.

The grader's models (scripted, or the real one behind a recorder) live in the grader process, and
learner code reaches them through a handle. An exception one of them raises would arrive in the
worker as a `wire.RemoteError`, which a learner's `except LLMTimeout:` cannot catch. `GraderChat`
re-raises the model layer's errors as the real `workbench.llm` classes, exactly as
`workbench.llm.chat` raises them to learner code; everything else passes through unchanged.
"""

from __future__ import annotations

from typing import Any

from workbench.core.wire import RemoteError
from workbench.llm import errors


def _model_error(exc: RemoteError) -> Exception | None:
    """The workbench.llm error (the remote class, or its nearest base that can be rebuilt) for `exc`."""
    for name in (exc.type_name, *exc.mro):
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.LLMError):
            try:
                return cls(exc.message)
            except TypeError:  # e.g. BudgetExceeded needs more than a message: use its base class
                continue
    return None


class GraderChat:
    """A chat function for learner code that calls the grader's model."""

    def __init__(self, chat: Any) -> None:
        self._chat = chat

    def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        try:
            return self._chat(messages, **kwargs)
        except RemoteError as exc:
            error = _model_error(exc)
            if error is None:
                raise
            raise error from None
