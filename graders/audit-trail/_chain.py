"""The grader's own reading of an audit log, independent of the learner's code: the format the
README specifies (JSON lines; hash = SHA-256 of the canonical JSON of the record without its
"hash"; prev_hash = the previous record's hash, GENESIS for record 0; seq = position)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def complete_lines(path: Path) -> list[bytes]:
    """Lines that end in a newline (a torn last line is not a record)."""
    data = path.read_bytes() if path.exists() else b""
    end = data.rfind(b"\n")
    return data[: end + 1].splitlines() if end >= 0 else []


def parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def first_bad(records: list[Any], anchor: str = GENESIS, first_seq: int = 0) -> int | None:
    previous = anchor
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.get("seq") != first_seq + index:
            return index
        if record.get("prev_hash") != previous or record.get("hash") != digest(record):
            return index
        previous = record["hash"]
    return None


def read(path: Path) -> list[Any]:
    return [parse(line) for line in complete_lines(path)]


def rehash(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    record["hash"] = digest(record)
    return record


def dumps(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
