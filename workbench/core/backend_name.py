"""Name of the active model backend, without importing the LLM layer (cheap, for results)."""

from __future__ import annotations

import os


def active_model_name() -> str:
    """WORKBENCH_MODEL, else the persisted choice (see workbench.llm.config), else 'local'."""
    env = os.environ.get("WORKBENCH_MODEL")
    if env:
        return env
    try:
        from workbench.llm.config import configured_model
    except ImportError:
        return "local"
    return configured_model()
