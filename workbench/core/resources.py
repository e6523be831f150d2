"""Where the shipped data lives: inside the installed wheel, or the repo in a dev checkout."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@cache
def data_root() -> Path:
    """Folder holding labs/, curricula/ and graders/ (WORKBENCH_DATA_DIR overrides)."""
    override = os.environ.get("WORKBENCH_DATA_DIR")
    if override:
        return Path(override).resolve()
    installed = _PACKAGE_DIR / "_data"
    if (installed / "labs").is_dir():
        return installed
    return _PACKAGE_DIR.parent


def labs_dir() -> Path:
    """Shipped lab definitions: labs/<id>/lab.toml, README.md, starter/, solution/."""
    return data_root() / "labs"


def graders_dir() -> Path:
    """Shipped graders: graders/<id>/test_*.py (never copied into a workspace)."""
    return data_root() / "graders"


def curricula_dir() -> Path:
    """Shipped curricula and skills matrices."""
    return data_root() / "curricula"


def config_dir() -> Path:
    """The user's config folder (keys, backend choice, the lead's ledger): WORKBENCH_CONFIG_DIR,
    else platformdirs' user_config_dir (~/.config/workbench on Linux)."""
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("workbench"))
