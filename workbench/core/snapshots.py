"""What was graded: a content-addressed snapshot of the learner's files per graded attempt.

Before any learner code runs, the grader's private copy of the lab folder is hashed file by file
(the attempt's *manifest*, `{relative path: SHA-256}`, kept in its result) and each file's bytes
are stored once under `.workbench/objects/<2 hex>/<SHA-256>` in the workspace. So the files
behind the best attempt are still there after later edits, and `workbench export` can put them
in the bundle for the lead to re-grade (`workbench report --regrade`).

A bundle carries only the *submission*: the files that differ from the installed starter, minus
caches and whatever the lab folder's `.workbenchignore` lists, up to `MAX_SUBMISSION_BYTES`.
Re-grading lays those files over a fresh copy of the starter (`materialize`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from .errors import WorkbenchError

MAX_SUBMISSION_BYTES = 1024 * 1024
IGNORE_FILE = ".workbenchignore"
# never part of a submission: caches and run artefacts any lab folder may grow
DEFAULT_IGNORE = ("*.pyc", ".pytest_cache/*", ".ruff_cache/*", ".mypy_cache/*", ".dvc/cache/*", ".dvc/tmp/*",
                  "mlruns/*", "mlartifacts/*", ".ipynb_checkpoints/*", "*.log")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def manifest_of(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder` (links are skipped), by POSIX relative path."""
    files: dict[str, bytes] = {}
    for directory, _dirs, names in os.walk(folder):  # does not follow links to folders
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return dict(sorted(files.items()))


class ObjectStore:
    """Content-addressed blobs: written once (atomically), never changed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where a blob lives."""
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store bytes; returns their SHA-256."""
        digest = sha256_bytes(data)
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return digest

    def get(self, digest: str) -> bytes | None:
        """A blob's bytes, or None if it is missing or does not match its name."""
        try:
            data = self.path(digest).read_bytes()
        except OSError:
            return None
        return data if sha256_bytes(data) == digest else None

    def snapshot(self, folder: Path) -> dict[str, str]:
        """Store every file of `folder`; returns its manifest {path: SHA-256}."""
        return {path: self.put(data) for path, data in manifest_of(folder).items()}


def _ignored(path: str, patterns: tuple[str, ...]) -> bool:
    parts = PurePosixPath(path).parts
    if "__pycache__" in parts:
        return True
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(parts[-1], pattern) for pattern in patterns)


def ignore_patterns(manifest: Mapping[str, str], store: ObjectStore) -> tuple[str, ...]:
    """The default patterns plus the lab folder's own .workbenchignore (one glob per line)."""
    extra: list[str] = []
    digest = manifest.get(IGNORE_FILE)
    data = store.get(digest) if digest else None
    if data:
        for line in data.decode("utf-8", "replace").splitlines():
            line = line.split("#", 1)[0].strip().rstrip("/")
            if line:
                extra += [line, f"{line}/*"]
    return DEFAULT_IGNORE + tuple(extra)


def submission(manifest: Mapping[str, str], starter: Mapping[str, str], store: ObjectStore, lab_id: str,
               limit: int = MAX_SUBMISSION_BYTES) -> dict[str, bytes]:
    """The files of an attempt that a bundle carries: those that differ from the starter, minus
    ignored ones. Raises a WorkbenchError naming the file when a blob is missing or the total
    goes over `limit`."""
    patterns = ignore_patterns(manifest, store)
    files: dict[str, bytes] = {}
    for path, digest in sorted(manifest.items()):
        if starter.get(path) == digest or _ignored(path, patterns):
            continue
        data = store.get(digest)
        if data is None:
            raise WorkbenchError(f"{lab_id}/{path}: the graded copy of this file is missing from .workbench/objects",
                                 hint=f"run 'workbench check {lab_id}' again, then export")
        files[path] = data
    total = sum(len(data) for data in files.values())
    if total > limit:
        biggest = max(files, key=lambda p: len(files[p]))
        raise WorkbenchError(
            f"{lab_id}: the graded files take {total / 1024:.0f} KiB, over the {limit // 1024} KiB a bundle carries per lab;"
            f" the largest is {lab_id}/{biggest} ({len(files[biggest]) / 1024:.0f} KiB)",
            hint=f"delete it (or list it in {lab_id}/{IGNORE_FILE} if grading does not need it), check again, then export")
    return files


def safe_relative(path: str) -> PurePosixPath | None:
    """A bundle's file path as a safe relative path, or None (absolute, '..', empty, odd parts)."""
    if not path or "\\" in path or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in pure.parts) or pure.parts[0] in (".git", ".workbench"):
        return None
    return pure


def materialize(starter_dir: Path, files: Mapping[str, bytes], target: Path) -> None:
    """A lab folder to re-grade: the installed starter with the submitted files laid over it."""
    import shutil

    shutil.copytree(starter_dir, target, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
    for path, data in files.items():
        relative = safe_relative(path)
        if relative is None:
            raise WorkbenchError(f"unsafe file path in the bundle: {path!r}")
        destination = target.joinpath(*relative.parts)
        if destination.is_symlink():
            destination.unlink()
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)


__all__ = ["DEFAULT_IGNORE", "IGNORE_FILE", "MAX_SUBMISSION_BYTES", "ObjectStore", "manifest_of", "materialize",
           "safe_relative", "sha256_bytes", "submission"]
