"""Role-like profiles for team readiness reports (curricula/profiles-2026.toml): which skill
categories a role needs and at what level, and the level each priority tier asks of everyone."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import DataError, NotFoundError, line_of_key
from .resources import curricula_dir
from .skills import Tier
from .tomlfile import read_toml, validate

DEFAULT_PROFILES = "profiles-2026"
Level = Literal["beginner", "intermediate", "advanced", "expert"]
LEVEL_NAMES = ("none", "beginner", "intermediate", "advanced", "expert")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVEL_NAMES)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleProfile(_Strict):
    """A role-like profile: the categories it needs and the minimum level in each."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1)
    summary: str = ""
    requires: dict[str, Level] = Field(min_length=1)


class ProfileSet(_Strict):
    """Role profiles, the level each tier asks of every member, and the readiness thresholds."""

    format_version: Literal[1]
    id: str
    title: str
    skills: str
    ready_share: float = Field(gt=0, le=1)
    partial_share: float = Field(gt=0, le=1)
    tier_targets: dict[Tier, Level]
    profiles: tuple[RoleProfile, ...] = Field(min_length=1)


@cache
def load_profiles(profiles_id: str = DEFAULT_PROFILES) -> ProfileSet:
    """Load and validate a shipped profile file against its skills matrix."""
    from .skills import load_skill_matrix

    path = curricula_dir() / f"{profiles_id}.toml"
    if not path.is_file():
        raise NotFoundError(f"unknown profile set '{profiles_id}'", hint=f"expected {path}")
    data, text = read_toml(path)
    profiles = validate(ProfileSet, data, path, text)
    known = load_skill_matrix(profiles.skills).ids()
    for tier in ("critical", "high", "emerging"):
        if tier not in profiles.tier_targets:
            raise DataError(path, f"no target level for tier '{tier}'", key="tier_targets", line=line_of_key(text, "tier_targets"))
    for profile in profiles.profiles:
        for category in profile.requires:
            if category not in known:
                raise DataError(path, f"profile '{profile.id}' requires unknown category '{category}'",
                                key=f"profiles.requires.{category}", line=line_of_key(text, category),
                                hint=f"known: {', '.join(known)}")
    if profiles.partial_share > profiles.ready_share:
        raise DataError(path, "partial_share must not exceed ready_share", key="partial_share",
                        line=line_of_key(text, "partial_share"))
    return profiles



__all__ = ["DEFAULT_PROFILES", "LEVEL_NAMES", "LEVEL_RANK", "Level", "ProfileSet", "RoleProfile", "load_profiles"]
