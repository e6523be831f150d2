"""Which model backend is active, and where its files live. Cheap: never imports litellm.

The choice is any litellm model string ("ollama/llama3.2", "hosted_vllm/Qwen/Qwen2.5-7B",
"openai/gpt-4o-mini", ...) or `local`, the embedded SmolLM2 server. `WORKBENCH_MODEL`
overrides the persisted choice (`workbench backend use MODEL`, stored in backend.toml in the
user config dir).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.core.backend_name import configured_model
from workbench.core.backend_name import read_backend_config as _read_config
from workbench.core.errors import WorkbenchError
from workbench.core.resources import config_dir

LOCAL = "local"
LOCAL_ALIAS = "smollm2"
LOCAL_LITELLM_MODEL = f"openai/{LOCAL_ALIAS}"
API_BASE_ENV = "WORKBENCH_LLM_API_BASE"
_CONFIG_NAME = "backend.toml"


def state_dir() -> Path:
    """User state folder for the server's pid file, lock and log (WORKBENCH_STATE_DIR overrides)."""
    override = os.environ.get("WORKBENCH_STATE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_state_dir

    return Path(user_state_dir("workbench"))


def config_file() -> Path:
    """Where `workbench backend use` persists the choice."""
    return config_dir() / _CONFIG_NAME


def active_model() -> str:
    """WORKBENCH_MODEL, else the persisted choice, else `local`."""
    return os.environ.get("WORKBENCH_MODEL") or configured_model()


def validate_model_name(model: str) -> str:
    """A litellm model string or `local`; rejects empty names and whitespace."""
    name = model.strip()
    if not name or any(ch.isspace() for ch in name):
        raise WorkbenchError(f"invalid model name {model!r}",
                             hint="use a litellm model string such as 'ollama/llama3.2' or 'openai/gpt-4o-mini', or 'local'")
    return name


def set_model(model: str, api_base: str | None = None) -> Path:
    """Persist the backend choice (and an optional API base URL); returns the file written."""
    name = validate_model_name(model)
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by 'workbench backend use'.", "[backend]", f"model = {json.dumps(name)}"]
    if api_base:
        lines.append(f"api_base = {json.dumps(api_base)}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class Backend:
    """A resolved backend: what litellm is called with."""

    name: str
    litellm_model: str
    api_base: str | None
    api_key: str | None

    @property
    def is_local(self) -> bool:
        """True for the embedded server (started on demand, function calling via chatml)."""
        return self.name == LOCAL


def resolve_backend(model: str | None = None) -> Backend:
    """Turn a model name (default: the active one) into litellm arguments.

    For `local` the API base comes from WORKBENCH_LLM_API_BASE (set for graders by the
    parent) or is left None: the client then finds or starts the embedded server.
    """
    name = validate_model_name(model or active_model())
    if name == LOCAL:
        return Backend(LOCAL, LOCAL_LITELLM_MODEL, os.environ.get(API_BASE_ENV), "local")
    api_base = os.environ.get(API_BASE_ENV)
    if not api_base and name == configured_model():
        api_base = _read_config().get("api_base")
    return Backend(name, name, api_base, None)


__all__ = [
    "API_BASE_ENV", "LOCAL", "LOCAL_ALIAS", "LOCAL_LITELLM_MODEL", "Backend", "active_model", "config_dir",
    "config_file", "configured_model", "resolve_backend", "set_model", "state_dir", "validate_model_name",
]
