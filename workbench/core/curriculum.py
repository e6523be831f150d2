"""The roadmap as data: phases, their months and topics, and the labs attached to each topic."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import DataError, NotFoundError, line_of_key
from .resources import curricula_dir
from .tomlfile import load_model, read_toml, validate

DEFAULT_CURRICULUM = "ai-engineer-2026"
_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(_Strict):
    """One roadmap bullet; `labs` are the lab ids that teach and assess it. A lab may teach more
    than one topic (a reproduction lab also exercises "experimenting with new tools"): it is
    listed under each, and its lab.toml `topic` names the one it belongs to."""

    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    labs: tuple[str, ...] = ()


class Phase(_Strict):
    """A block of the roadmap (e.g. months 1-3); `months` is absent for continuous work."""

    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    months: tuple[int, int] | None = None
    summary: str = ""
    topics: tuple[Topic, ...] = Field(min_length=1)

    @field_validator("months")
    @classmethod
    def _months_in_year(cls, months: tuple[int, int] | None) -> tuple[int, int] | None:
        if months is not None and not (1 <= months[0] <= months[1] <= 12):
            raise ValueError("months must be [first, last] with 1 <= first <= last <= 12")
        return months

    @property
    def months_label(self) -> str:
        """'Months 1-3' or 'Ongoing'."""
        return f"Months {self.months[0]}-{self.months[1]}" if self.months else "Ongoing"


class Curriculum(_Strict):
    """A whole roadmap; `skills` names the skills matrix its labs are scored against."""

    format_version: int = Field(ge=1, le=1)
    id: str = Field(pattern=_ID_PATTERN)
    title: str
    version: str
    skills: str
    phases: tuple[Phase, ...] = Field(min_length=1)

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None."""
        return next((t for p in self.phases for t in p.topics if t.id == topic_id), None)

    def phase_of_topic(self, topic_id: str) -> Phase | None:
        """The phase holding this topic, or None."""
        return next((p for p in self.phases for t in p.topics if t.id == topic_id), None)

    def lab_ids(self) -> list[str]:
        """Every lab id once, in roadmap order (where it is first listed)."""
        return list(dict.fromkeys(lab_id for p in self.phases for t in p.topics for lab_id in t.labs))


def _check_unique(curriculum: Curriculum, path: Path, text: str) -> None:
    seen: set[str] = set()
    for phase in curriculum.phases:
        for item_id in [phase.id, *(t.id for t in phase.topics)]:
            if item_id in seen:
                raise DataError(path, f"duplicate id '{item_id}'", key="id", line=_line_of_value(text, item_id))
            seen.add(item_id)
    for phase in curriculum.phases:
        for topic in phase.topics:
            if len(set(topic.labs)) != len(topic.labs):
                twice = next(lab_id for lab_id in topic.labs if topic.labs.count(lab_id) > 1)
                raise DataError(path, f"topic '{topic.id}' lists lab '{twice}' twice", key="labs", line=_line_of_value(text, twice))


def _line_of_value(text: str, value: str) -> int | None:
    index = text.find(f'"{value}"')
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def load_curriculum_file(path: Path) -> Curriculum:
    """Load and validate one curriculum file."""
    data, text = read_toml(path)
    curriculum = validate(Curriculum, data, path, text)
    _check_unique(curriculum, path, text)
    expected = path.stem
    if curriculum.id != expected:
        raise DataError(path, f"id '{curriculum.id}' must match the file name '{expected}'", key="id", line=line_of_key(text, "id"))
    return curriculum


@cache
def load_curriculum(curriculum_id: str = DEFAULT_CURRICULUM) -> Curriculum:
    """Load a shipped curriculum by id."""
    path = curricula_dir() / f"{curriculum_id}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in curricula_dir().glob("*.toml") if not p.stem.startswith(("skills-", "profiles-")))
        raise NotFoundError(f"unknown curriculum '{curriculum_id}'", hint=f"known: {', '.join(known)}")
    return load_curriculum_file(path)


__all__ = ["Curriculum", "Phase", "Topic", "load_curriculum", "load_curriculum_file", "load_model"]
