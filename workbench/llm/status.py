"""`workbench backend status`: which backend is active, where the choice came from, and
whether it answers. The embedded server is probed over plain HTTP (no litellm import); a
hosted or self-hosted backend gets one tiny completion through the normal client.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import server
from .config import API_BASE_ENV, LOCAL, active_model, config_file, configured_model


def _source() -> str:
    if os.environ.get("WORKBENCH_MODEL"):
        return "WORKBENCH_MODEL"
    if config_file().is_file() and configured_model() != LOCAL:
        return str(config_file())
    return "default" if not config_file().is_file() else str(config_file())


def _local_status(report: dict[str, Any]) -> None:
    override = os.environ.get(API_BASE_ENV)
    current = server.status()
    report["server"] = {"state": current.state, "detail": current.detail, "log": str(server.log_file()),
                        "info": current.info.public() if current.info else None}
    base_url = override or (current.info.base_url if current.running and current.info else None)
    if base_url is None:
        report["problem"] = "the embedded model server is not running"
        report["fix"] = "start it with 'workbench backend up' (labs that need a model also start it on demand)"
        if current.state == "stale":
            report["fix"] += "; the stale pid file is cleared then"
        return
    started = time.perf_counter()
    try:
        server.require_answering(base_url)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        report["problem"] = str(exc.message if hasattr(exc, "message") else exc)
        report["fix"] = "workbench backend up"
        return
    report["answers"] = True
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["api_base"] = base_url


def _remote_status(report: dict[str, Any]) -> None:
    from .client import chat, load_litellm
    from .errors import LLMError

    litellm = load_litellm()
    try:
        missing = litellm.validate_environment(model=report["model"]).get("missing_keys") or []
    except Exception:  # noqa: BLE001 - unknown providers simply get no key check
        missing = []
    if missing:
        report["problem"] = f"missing credentials: {', '.join(missing)}"
        report["fix"] = f"export {missing[0]}=... (or 'workbench backend use local' for the embedded model)"
        return
    started = time.perf_counter()
    try:
        chat([{"role": "user", "content": "Say OK."}], max_tokens=1, timeout_s=20, retries=0)
    except LLMError as exc:
        report["problem"] = exc.message
        report["fix"] = exc.hint
        return
    report["answers"] = True
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)


def backend_status() -> dict[str, Any]:
    """JSON-ready status of the active backend; `answers` says whether it replied."""
    model = active_model()
    report: dict[str, Any] = {"model": model, "source": _source(), "answers": False, "latency_ms": None,
                              "problem": None, "fix": None, "server": None,
                              "cassette_mode": os.environ.get("WORKBENCH_LLM_CASSETTE_MODE", "off")}
    if model == LOCAL:
        _local_status(report)
    else:
        _remote_status(report)
    return report


__all__ = ["backend_status"]
