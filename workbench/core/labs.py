"""Lab metadata from labs/<id>/lab.toml: discovery and validation with file/key errors."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .curriculum import DEFAULT_CURRICULUM, Curriculum, load_curriculum
from .errors import DataError, NotFoundError, line_of_key
from .resources import graders_dir, labs_dir
from .skills import load_skill_matrix
from .tomlfile import read_toml, validate

KNOWN_NEEDS = ("llm", "embeddings", "torch", "network")
_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class Hint(BaseModel):
    """One escalating hint; the first is the gentlest."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(min_length=1)


class Limits(BaseModel):
    """Resource limits and model budgets applied while grading this lab."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timeout_s: float = Field(default=120, gt=0, le=1800)
    check_timeout_s: float | None = Field(default=None, gt=0, le=1800)
    memory_mb: int = Field(default=4096, ge=256, le=65536)
    llm_calls: int | None = Field(default=None, ge=1)
    llm_tokens: int | None = Field(default=None, ge=1)
    llm_seconds: float | None = Field(default=None, gt=0)
    hide_modules: tuple[str, ...] = ()  # top-level packages the learner's code cannot import (hidden by the sandbox)
    # how much slack timing checks get when a lead re-grades on another machine (grading_kit.timing_limit)
    timing_tolerance: float = Field(default=1.0, ge=1.0, le=10.0)


class LabSpec(BaseModel):
    """The contents of lab.toml (format_version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format_version: Literal[1]
    id: str = Field(pattern=_ID_PATTERN)
    version: int = Field(default=1, ge=1)  # bump when the grader changes what it checks or how it scores
    title: str = Field(min_length=1)
    summary: str = ""
    tags: tuple[str, ...] = Field(min_length=1)
    phase: str
    month: int = Field(ge=1, le=12)
    topic: str
    level: int = Field(ge=1, le=4)
    estimated_minutes: int = Field(ge=1)
    requires: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    files: tuple[str, ...] = Field(min_length=1)
    module: str | None = None
    pass_mark: float = Field(default=0.8, gt=0, le=1)
    skills: dict[str, int] = Field(min_length=1)
    limits: Limits = Limits()
    hints: tuple[Hint, ...] = Field(min_length=1)

    @field_validator("needs")
    @classmethod
    def _known_needs(cls, needs: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in needs if n not in KNOWN_NEEDS]
        if unknown:
            raise ValueError(f"unknown need {unknown[0]!r}; known: {', '.join(KNOWN_NEEDS)}")
        return needs

    @field_validator("skills")
    @classmethod
    def _positive_weights(cls, skills: dict[str, int]) -> dict[str, int]:
        if any(weight < 1 for weight in skills.values()):
            raise ValueError("skill weights must be integers >= 1")
        return skills

    @field_validator("files")
    @classmethod
    def _relative_files(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        for name in files:
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"file {name!r} must be a relative path inside the lab")
        return files


@dataclass(frozen=True)
class Lab:
    """A shipped lab: its spec plus where its parts live."""

    spec: LabSpec
    lab_dir: Path
    grader_dir: Path

    @property
    def id(self) -> str:
        """The lab id (also its folder name)."""
        return self.spec.id

    @property
    def starter_dir(self) -> Path:
        """Files copied into the learner's workspace by `start`."""
        return self.lab_dir / "starter"

    @property
    def solution_dir(self) -> Path:
        """The reference solution."""
        return self.lab_dir / "solution"

    def mutants(self) -> list[Path]:
        """labs/<id>/mutants/<name>/: wrong solutions (files laid over solution/), each with a DEFECT.txt."""
        folder = self.lab_dir / "mutants"
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) if folder.is_dir() else []

    @property
    def readme(self) -> Path:
        """The brief."""
        return self.lab_dir / "README.md"

    @property
    def main_module(self) -> str:
        """Module the `learner` fixture imports: `module`, else the first .py in `files`."""
        if self.spec.module:
            return self.spec.module
        first_py = next((f for f in self.spec.files if f.endswith(".py")), self.spec.files[0])
        return Path(first_py).with_suffix("").as_posix().replace("/", ".")

    def grader_files(self) -> list[Path]:
        """Every file of the grader (hashed), sorted."""
        return sorted(p for p in self.grader_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)

    def grader_tests(self) -> list[Path]:
        """The pytest files that make up the grader."""
        return sorted(self.grader_dir.glob("test_*.py"))

    def grader_hashes(self) -> dict[str, str]:
        """SHA-256 of each grader file, keyed by its path relative to the grader folder."""
        return {p.relative_to(self.grader_dir).as_posix(): _sha256(p) for p in self.grader_files()}

    def grader_sha256(self) -> str:
        """One SHA-256 over all grader files (names and contents)."""
        return combined_sha256(self.grader_hashes())


def combined_sha256(file_hashes: dict[str, str]) -> str:
    """Hash of a set of per-file hashes, stable across machines."""
    digest = hashlib.sha256()
    for name in sorted(file_hashes):
        digest.update(f"{name}\0{file_hashes[name]}\n".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_lab(lab_dir: Path, curriculum: Curriculum) -> Lab:
    path = lab_dir / "lab.toml"
    data, text = read_toml(path)
    spec = validate(LabSpec, data, path, text)

    def fail(message: str, key: str, hint: str | None = None) -> DataError:
        return DataError(path, message, key=key, line=line_of_key(text, key), hint=hint)

    if spec.id != lab_dir.name:
        raise fail(f"id '{spec.id}' must match the folder name '{lab_dir.name}'", "id")
    matrix = load_skill_matrix(curriculum.skills)
    for skill_id in spec.skills:
        if skill_id not in matrix.ids():
            raise fail(f"unknown skill '{skill_id}'", f"skills.{skill_id}", hint=f"known skills: {', '.join(matrix.ids())}")
    topic = curriculum.topic(spec.topic)
    if topic is None:
        raise fail(f"unknown topic '{spec.topic}'", "topic", hint="use a topic id from curricula/" + curriculum.id + ".toml")
    phase = curriculum.phase_of_topic(spec.topic)
    if phase is None or phase.id != spec.phase:
        raise fail(f"topic '{spec.topic}' belongs to phase '{phase.id if phase else '?'}', not '{spec.phase}'", "phase")
    if spec.id not in topic.labs:
        raise fail(f"lab is not listed under topic '{topic.id}' in {curriculum.id}.toml", "topic",
                   hint=f"add \"{spec.id}\" to that topic's labs")
    lab = Lab(spec=spec, lab_dir=lab_dir, grader_dir=graders_dir() / spec.id)
    for required, what in ((lab.readme, "README.md"), (lab.starter_dir, "starter/"), (lab.solution_dir, "solution/")):
        if not required.exists():
            raise DataError(required, f"lab '{spec.id}' has no {what}", hint="every lab needs README.md, starter/ and solution/")
    for name in spec.files:
        if not (lab.starter_dir / name).is_file():
            raise fail(f"'{name}' is listed in files but missing from starter/", "files")
    if not lab.grader_tests():
        raise DataError(lab.grader_dir, f"lab '{spec.id}' has no grader (graders/{spec.id}/test_*.py)")
    return lab


def _check_requires(labs: dict[str, Lab]) -> None:
    for lab in labs.values():
        for required in lab.spec.requires:
            if required not in labs:
                path = lab.lab_dir / "lab.toml"
                raise DataError(path, f"requires unknown lab '{required}'", key="requires",
                                line=line_of_key(path.read_text(), "requires"))
    visiting: list[str] = []
    done: set[str] = set()

    def visit(lab_id: str) -> None:
        if lab_id in done:
            return
        if lab_id in visiting:
            cycle = " -> ".join([*visiting[visiting.index(lab_id):], lab_id])
            path = labs[lab_id].lab_dir / "lab.toml"
            raise DataError(path, f"requires forms a cycle: {cycle}", key="requires")
        visiting.append(lab_id)
        for required in labs[lab_id].spec.requires:
            visit(required)
        visiting.pop()
        done.add(lab_id)

    for lab_id in labs:
        visit(lab_id)


@cache
def load_labs(curriculum_id: str = DEFAULT_CURRICULUM) -> dict[str, Lab]:
    """Every shipped lab, validated, in roadmap order."""
    curriculum = load_curriculum(curriculum_id)
    labs: dict[str, Lab] = {}
    root = labs_dir()
    for lab_dir in sorted(p for p in root.iterdir() if (p / "lab.toml").is_file()) if root.is_dir() else []:
        lab = _load_lab(lab_dir, curriculum)
        labs[lab.id] = lab
    for lab_id in curriculum.lab_ids():
        if lab_id not in labs:
            raise DataError(root.parent / "curricula" / f"{curriculum.id}.toml",
                            f"lists lab '{lab_id}' but labs/{lab_id}/lab.toml does not exist", key="labs")
    _check_requires(labs)
    order = {lab_id: index for index, lab_id in enumerate(curriculum.lab_ids())}
    return dict(sorted(labs.items(), key=lambda item: order.get(item[0], len(order))))


def get_lab(lab_id: str, curriculum_id: str = DEFAULT_CURRICULUM) -> Lab:
    """The lab with this id; an unknown id gets the closest suggestion."""
    labs = load_labs(curriculum_id)
    if lab_id in labs:
        return labs[lab_id]
    close = difflib.get_close_matches(lab_id, list(labs), n=1, cutoff=0.4)
    hint = f"did you mean '{close[0]}'?" if close else "run 'workbench labs' to list them"
    raise NotFoundError(f"unknown lab '{lab_id}'", hint=hint)


__all__ = ["Hint", "Lab", "LabSpec", "Limits", "combined_sha256", "get_lab", "load_labs"]
