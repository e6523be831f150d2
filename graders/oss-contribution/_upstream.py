"""Upstream ssekit 0.4.1 as a git repository, and the learner's patch applied to it.

The pristine library is the lab's starter copy (labs/oss-contribution/starter/ssekit, read from
the installed package, never from the learner's folder). It is committed with a fixed author
and date and tagged v0.4.1; the learner's `contribution.patch` (the output of `git format-patch`)
is applied on top with `git am`, which recreates their commit: author, message and diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

UPSTREAM = Path(__file__).resolve().parents[2] / "labs" / "oss-contribution" / "starter" / "ssekit"
ISSUE = 42
BASE_TAG = "v0.4.1"
CACHE_NAMES = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", ".DS_Store"}
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "ssekit maintainers", "GIT_AUTHOR_EMAIL": "maintainers@ssekit.example",
    "GIT_COMMITTER_NAME": "ssekit maintainers", "GIT_COMMITTER_EMAIL": "maintainers@ssekit.example",
    "GIT_AUTHOR_DATE": "2026-10-02T12:00:00+00:00", "GIT_COMMITTER_DATE": "2026-10-02T12:00:00+00:00",
}


def git(repo: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run git in `repo` with no user or system configuration."""
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=full_env, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def tree_files(root: Path) -> dict[str, bytes]:
    """The files under `root` by relative POSIX path, without git data and caches."""
    files = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in CACHE_NAMES and not d.endswith(".egg-info")]
        for name in names:
            path = Path(directory) / name
            if name in CACHE_NAMES or name.endswith((".pyc", ".pyo")) or path.is_symlink():
                continue
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def make_upstream(target: Path) -> Path:
    """A git repository of pristine ssekit 0.4.1 at `target`, tagged v0.4.1."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(UPSTREAM, target, ignore=shutil.ignore_patterns(*CACHE_NAMES, "*.pyc"))
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "chore(release): 0.4.1")
    git(target, "tag", BASE_TAG)
    return target


@dataclass
class Applied:
    """The learner's patch applied to upstream (or why it could not be)."""

    repo: Path
    problem: str | None = None
    commits: int = 0
    message: str = ""
    author: str = ""
    numstat: list[tuple[int, int, str]] = field(default_factory=list)

    def diff(self, *paths: str) -> str:
        """The commit's unified diff (no context) of some paths."""
        return git(self.repo, "diff", "-U0", "--no-color", BASE_TAG, "HEAD", "--", *paths).stdout


def apply_patch(patch: Path | None, target: Path) -> Applied:
    """Apply `contribution.patch` to a fresh upstream repository with `git am`."""
    repo = make_upstream(target)
    applied = Applied(repo)
    if patch is None or not patch.is_file():
        applied.problem = ("contribution.patch is missing: commit your fix in ssekit/ and run "
                           "`git format-patch -1 HEAD --stdout > ../contribution.patch`")
        return applied
    if not patch.read_text("utf-8", "replace").strip():
        applied.problem = "contribution.patch is empty: `git format-patch -1 HEAD --stdout > ../contribution.patch`"
        return applied
    done = git(repo, "am", "--quiet", "--committer-date-is-author-date", str(patch.resolve()), check=False,
               env={"GIT_COMMITTER_NAME": "grader", "GIT_COMMITTER_EMAIL": "grader@localhost"})
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:400]
        git(repo, "am", "--abort", check=False)
        applied.problem = (f"`git am contribution.patch` on upstream v0.4.1 failed ({said}). The patch must be "
                           "`git format-patch` output of commits based on the v0.4.1 files as shipped in ssekit/")
        return applied
    applied.commits = int(git(repo, "rev-list", "--count", f"{BASE_TAG}..HEAD").stdout.strip() or 0)
    applied.message = git(repo, "log", "-1", "--format=%B").stdout
    applied.author = git(repo, "log", "-1", "--format=%an <%ae>").stdout.strip()
    for row in git(repo, "diff", "--numstat", BASE_TAG, "HEAD").stdout.splitlines():
        added, deleted, path = row.split("\t", 2)
        applied.numstat.append((int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0, path))
    return applied


def removed_and_added(unified: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per file, the lines a -U0 diff removes and adds."""
    removed: dict[str, list[str]] = {}
    added: dict[str, list[str]] = {}
    current, in_hunk = "", False
    for line in unified.splitlines():
        if line.startswith("diff --git "):
            in_hunk = False
            current = line.split(" b/", 1)[-1]
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("-"):
            removed.setdefault(current, []).append(line[1:])
        elif in_hunk and line.startswith("+"):
            added.setdefault(current, []).append(line[1:])
    return removed, added


HEADER = re.compile(r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\s]*)\))?(?P<bang>!)?: (?P<description>.*)$")
FOOTER = re.compile(r"^(?:BREAKING CHANGE|BREAKING-CHANGE|[A-Za-z][A-Za-z-]*)(?:: | #)")
