"""Errors a person can act on: each names the file, the key and what to do."""

from __future__ import annotations

import re
from pathlib import Path


class WorkbenchError(Exception):
    """An error to show the user without a traceback; `exit_code` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"

    def __reduce__(self):  # noqa: ANN204 - picklable as a plain WorkbenchError (it crosses process pools)
        return _rebuild, (WorkbenchError, self.message, self.hint, self.exit_code)


class DataError(WorkbenchError):
    """A data file (lab.toml, curriculum) is malformed: names file, key and line."""

    exit_code = 2

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.key = key
        self.line = line
        where = str(self.path)
        if line:
            where += f":{line}"
        prefix = f"{where}: " + (f"key '{key}': " if key else "")
        super().__init__(prefix + message, hint=hint)


class NotFoundError(WorkbenchError):
    """Something the user named (a lab, a workspace) does not exist."""

    exit_code = 2


class UsageError(WorkbenchError):
    """Options that cannot go together, or a command used the wrong way."""

    exit_code = 2


def _rebuild(cls: type[WorkbenchError], message: str, hint: str | None, exit_code: int) -> WorkbenchError:
    error = cls(message, hint=hint)
    error.exit_code = exit_code
    return error


def line_of_key(text: str, key: str) -> int | None:
    """Best-effort line number of a dotted key's last part in TOML text (1-based)."""
    last = key.split(".")[-1]
    if last.isdigit():
        return None
    pattern = re.compile(rf"^\s*(\[+\s*)?[\"']?{re.escape(last)}[\"']?\s*(=|\]+)", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None
