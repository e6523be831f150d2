"""The model layer's part in grading.

Parent side (`workbench check`, `workbench dev verify`, the TUI): `install()` gives
`core.grading` the hook `model_route`, which makes the model a lab needs ready before the
grader starts (the embedded server is started on demand, with a message, and left running)
and says where the grader's metering proxy forwards. Replay mode needs no server.

Child side (the grader's `llm` fixture): `grader_model()` checks the backend answers and
returns the API graders call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import server
from .cassette import cassette_mode
from .config import API_BASE_ENV, LOCAL, active_model
from .errors import ServerNotRunning

Announce = Callable[[str], None]


@dataclass(frozen=True)
class GraderModel:
    """What the `llm` fixture gives a grader: the backend's name and the call functions."""

    model: str
    replay: bool

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """workbench.llm.chat on the active backend."""
        from .client import chat

        return chat(messages, **kwargs)

    def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """workbench.llm.stream on the active backend."""
        from .client import stream

        return stream(messages, **kwargs)


def grader_model() -> GraderModel:
    """Check the active backend can answer and return the grader-facing API. Inside a grading
    run the server must already be up (the parent starts it); a grader run by hand starts it."""
    model = active_model()
    replay = cassette_mode() == "replay"
    if replay or model != LOCAL:
        return GraderModel(model, replay)
    base_url = os.environ.get(API_BASE_ENV)
    if base_url:
        try:
            server.require_answering(base_url)
            return GraderModel(model, replay)
        except ServerNotRunning:
            current = server.status() if os.environ.get("WORKBENCH_STATE_DIR") else None
            if current is None or not current.running or current.info is None:
                raise
            os.environ[API_BASE_ENV] = current.info.base_url  # the server moved to another port
            return GraderModel(model, replay)
    if os.environ.get("WORKBENCH_GRADING") == "1":
        raise ServerNotRunning("no model server URL was passed to this grader",
                               hint="grade with 'workbench check' (it starts the server), or run 'workbench backend up'")
    os.environ[API_BASE_ENV] = server.ensure_running().base_url
    return GraderModel(model, replay)


_PROVIDER_BASES = {"openai": "https://api.openai.com/v1"}


def model_route(lab: Any, announce: Announce | None = None) -> Any:
    """The hook `core.grading.grade()` calls for a lab that needs a model: make the active
    backend ready (the embedded server is started on demand) and say where the grader's
    metering proxy forwards. Any OpenAI-compatible base URL works; the API key, if any, stays
    with the grader's proxy and never enters the sandbox."""
    from workbench.core.grading import ModelRoute

    model = active_model()
    if cassette_mode() == "replay":
        return ModelRoute(model, None)
    if model == LOCAL:
        base = os.environ.get(API_BASE_ENV)  # a server of the user's own, else the embedded one
        return ModelRoute(model, base or server.ensure_running(announce).base_url)
    from .config import resolve_backend

    backend = resolve_backend(model)
    provider = model.split("/", 1)[0]
    base = backend.api_base or _PROVIDER_BASES.get(provider)
    if not base:
        raise ServerNotRunning(f"the backend {model!r} has no API base URL the grader can forward to",
                               hint=f"run 'workbench backend use {model} --api-base URL' with its OpenAI-compatible URL")
    key = backend.api_key or os.environ.get(f"{provider.upper()}_API_KEY")
    return ModelRoute(model, base, key if key and key != "local" else None)


def install(announce: Announce | None = None) -> None:
    """Let `core.grading.grade()` reach the model layer through `model_route`."""
    from workbench.core.grading import set_model_hook

    set_model_hook(lambda lab: model_route(lab, announce))


__all__ = ["GraderModel", "grader_model", "install", "model_route"]
