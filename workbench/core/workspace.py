"""The learner's workspace: a folder with .workbench/ (settings, progress, backups) and one
sub-folder per started lab holding the learner's copy of its starter files."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .curriculum import DEFAULT_CURRICULUM
from .errors import NotFoundError, WorkbenchError
from .labs import Lab
from .progress import ProgressStore, now_iso
from .snapshots import ObjectStore
from .tomlfile import load_model

STATE_DIR = ".workbench"
_SETTINGS = "workspace.toml"


class WorkspaceSettings(BaseModel):
    """Contents of .workbench/workspace.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format_version: int = Field(default=1, ge=1, le=1)
    curriculum: str = DEFAULT_CURRICULUM
    learner_id: str
    created_at: str
    stale_after_months: int = Field(default=12, ge=1, le=120)  # evidence older than this is flagged stale
    decay_stale: bool = False  # also count stale evidence at half weight


@dataclass
class Workspace:
    """A learner workspace rooted at `root`."""

    root: Path

    @property
    def state_dir(self) -> Path:
        """.workbench/ inside the workspace."""
        return self.root / STATE_DIR

    @cached_property
    def settings(self) -> WorkspaceSettings:
        """The workspace's settings file, validated."""
        return load_model(WorkspaceSettings, self.state_dir / _SETTINGS)

    @cached_property
    def progress(self) -> ProgressStore:
        """The progress store (opened on first use)."""
        return ProgressStore(self.state_dir / "progress.db")

    @cached_property
    def objects(self) -> ObjectStore:
        """The files of every graded attempt, by content (see workbench.core.snapshots)."""
        return ObjectStore(self.state_dir / "objects")

    def lab_dir(self, lab_id: str) -> Path:
        """Where the learner's copy of a lab lives."""
        return self.root / lab_id

    def is_started(self, lab_id: str) -> bool:
        """Has the learner's copy of this lab been created?"""
        return self.lab_dir(lab_id).is_dir()

    def lab_for_path(self, path: Path) -> str | None:
        """The lab id whose folder contains `path`, if any."""
        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        first = relative.parts[0] if relative.parts else None
        return first if first and first != STATE_DIR and self.is_started(first) else None

    # -- actions on files --------------------------------------------------------------------

    def start(self, lab: Lab) -> tuple[Path, bool]:
        """Copy the starter (and the brief) into the workspace; (folder, created now?)."""
        target = self.lab_dir(lab.id)
        created = not target.exists()
        if created:
            _copy_starter(lab, target)
        self.progress.mark_started(lab.id)
        return target, created

    def reset(self, lab: Lab) -> Path:
        """Move the learner's files to a timestamped backup and copy the starter again."""
        target = self.lab_dir(lab.id)
        if not target.exists():
            raise NotFoundError(f"lab '{lab.id}' is not started in {self.root}", hint=f"run 'workbench start {lab.id}'")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        backup = self.state_dir / "backups" / f"{lab.id}-{stamp}"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(target, backup)
        staging = self.state_dir / f"reset-{lab.id}-{stamp}"
        _copy_starter(lab, staging)
        shutil.rmtree(target)
        os.replace(staging, target)
        self.progress.record_reset(lab.id, backup)
        return backup

    def reveal_solution(self, lab: Lab, give_up: bool) -> Path:
        """Copy the reference solution to .workbench/solutions/<lab>/ once the lab is passed
        (or the learner gives up, which is recorded and halves the lab's skill credit)."""
        passed = bool(self.progress.lab_summary().get(lab.id, {}).get("passed"))
        if not passed and not give_up:
            raise WorkbenchError(
                f"the solution of '{lab.id}' opens after you pass the lab",
                hint=f"keep going ('workbench hint {lab.id}'), or use --give-up (recorded; halves the lab's skill credit)",
            )
        target = self.state_dir / "solutions" / lab.id
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(lab.solution_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
        self.progress.record_solution(lab.id, gave_up=not passed)
        return target


def _copy_starter(lab: Lab, target: Path) -> None:
    shutil.copytree(lab.starter_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
    if not (target / "README.md").exists():
        shutil.copy2(lab.readme, target / "README.md")


def init_workspace(root: Path, curriculum: str = DEFAULT_CURRICULUM) -> tuple[Workspace, bool]:
    """Create a workspace (idempotent); (workspace, created now?)."""
    root = root.resolve()
    settings_path = root / STATE_DIR / _SETTINGS
    if settings_path.is_file():
        workspace = Workspace(root)
        workspace.settings  # noqa: B018 - validates an existing workspace
        return workspace, False
    if root.exists() and not root.is_dir():
        raise WorkbenchError(f"{root} exists and is not a folder", hint="choose another path")
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    text = (
        "# Workbench workspace settings\nformat_version = 1\n"
        f'curriculum = "{curriculum}"\nlearner_id = "{uuid.uuid4()}"\ncreated_at = "{now_iso()}"\n'
    )
    tmp = settings_path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, settings_path)
    workspace = Workspace(root)
    workspace.progress  # noqa: B018 - creates the store
    return workspace, True


def find_workspace(start: Path | None = None) -> Workspace:
    """The workspace holding `start` (default: cwd), or WORKBENCH_WORKSPACE."""
    override = os.environ.get("WORKBENCH_WORKSPACE")
    if override:
        root = Path(override).expanduser()
        if not (root / STATE_DIR / _SETTINGS).is_file():
            raise NotFoundError(f"WORKBENCH_WORKSPACE={override} is not a workspace", hint=f"run 'workbench init {override}'")
        return Workspace(root.resolve())
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR / _SETTINGS).is_file():
            return Workspace(folder)
    raise NotFoundError(
        f"{here} is not inside a workbench workspace",
        hint="create one with 'workbench init ~/ai-labs' and run commands inside it (or set WORKBENCH_WORKSPACE)",
    )


__all__ = ["STATE_DIR", "Workspace", "WorkspaceSettings", "find_workspace", "init_workspace"]
