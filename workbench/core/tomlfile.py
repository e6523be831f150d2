"""Read TOML data files and validate them into pydantic models with file/key/line errors."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import DataError, line_of_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ModelT = TypeVar("ModelT", bound=BaseModel)

_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; a syntax error becomes a DataError with the parser's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataError(path, "not valid UTF-8 text") from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = _LINE_RE.search(str(exc))
        message = _LINE_RE.sub("", str(exc)).strip()
        raise DataError(
            path,
            f"invalid TOML: {message}",
            line=int(match.group(1)) if match else None,
            hint="fix the syntax at that line (https://toml.io)",
        ) from exc


def validate(model: type[ModelT], data: dict[str, Any], path: Path, text: str = "") -> ModelT:
    """Validate `data` into `model`; the first problem becomes a DataError naming its key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        else:
            message = first["msg"]
            if "input" in first and not isinstance(first["input"], dict | list):
                message += f" (got {first['input']!r})"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise DataError(path, message, key=key, line=line_of_key(text, key or "")) from exc


def load_model(model: type[ModelT], path: Path) -> ModelT:
    """Read and validate one TOML file."""
    data, text = read_toml(path)
    return validate(model, data, path, text)
