"""Name of the active model backend, without importing the LLM layer (cheap, for results)."""

from __future__ import annotations

import os

from .resources import config_dir


def active_model_name() -> str:
    """WORKBENCH_MODEL, else the persisted choice (backend.toml, written by workbench.llm.config), else 'local'."""
    env = os.environ.get("WORKBENCH_MODEL")
    if env:
        return env
    return configured_model()


def read_backend_config() -> dict:
    """The [backend] table of backend.toml in the config dir ({} when there is none)."""
    import tomllib

    from .errors import WorkbenchError

    path = config_dir() / "backend.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{path}: cannot read the backend config: {exc}",
                             hint="fix the file or run 'workbench backend use local' to rewrite it") from exc
    backend = data.get("backend", {})
    return backend if isinstance(backend, dict) else {}


def configured_model() -> str:
    """The persisted backend choice, else `local` (ignores WORKBENCH_MODEL)."""
    model = read_backend_config().get("model")
    return model if isinstance(model, str) and model.strip() else "local"
