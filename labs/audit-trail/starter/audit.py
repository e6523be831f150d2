"""A tamper-evident audit log for model calls: a hash-chained JSON-lines file, PII redaction
(emails, phone numbers, Luhn-valid card numbers, mod-97-valid IBANs) and a regulator-ready
export of a time range.

Keep this module pure standard library: the grader runs it in a child process that it kills
mid-write, and audit_callback.py (the litellm side) builds on it. See README.md for the exact
record format; the TODOs say what is missing.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64  # prev_hash of record 0
UTC = timezone.utc
PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "iban": "[IBAN]"}


# -- the hash chain -----------------------------------------------------------------------------

def canonical_json(obj: Any) -> bytes:
    """The bytes a record's hash is computed over: sorted keys, no spaces, UTF-8 (part of the
    format: a regulator's verifier computes exactly this)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the record without its own "hash" field.

    TODO: implement (hashlib.sha256).
    """
    raise NotImplementedError("record_hash")


class AuditLog:
    """Append-only JSON lines, one record per line.

    TODO: make it a hash chain (seq, prev_hash, hash on every record), safe under threads,
    tolerant of a torn last line, and verifiable; add export().
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, in file order (TODO: a torn last line is not a record)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def verify(self) -> int | None:
        """Index of the first bad record, or None when the whole chain verifies.

        TODO: check seq, prev_hash and hash of every record (see README.md).
        """
        return None

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Chain `entry` onto the log and write it; returns the record as written.

        TODO: seq, prev_hash and hash; one write per line; a lock; cut a torn tail first.
        """
        record = dict(entry)
        record.setdefault("ts", datetime.now(UTC).isoformat())
        record["seq"] = len(self.records())
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record))
            handle.write("\n")
        return record

    def export(self, start: datetime, end: datetime, path: str | Path) -> dict[str, Any]:
        """Write the records with start <= ts < end to `path` and a manifest to
        `<path>.manifest.json`; return the manifest. Refuse (ValueError) a log that does not verify.

        TODO: implement (README.md lists the manifest's fields).
        """
        raise NotImplementedError("export")


# -- PII detection --------------------------------------------------------------------------------

def luhn_valid(number: str) -> bool:
    """Luhn checksum over the digits of `number` (separators ignored). TODO: implement."""
    return False


def iban_valid(text: str) -> bool:
    """ISO 13616 IBAN check (spaces ignored): country length and mod 97 == 1. TODO: implement."""
    return False


_EMAIL = re.compile(r"\S+@\S+")


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """Every PII span in `text` as (kind, start, end), sorted, not overlapping; kind is one of
    email, iban, card, phone.

    TODO: this finds only (roughly) e-mail addresses. Add IBANs and card numbers (counted only
    with a valid checksum) and phone numbers, without redacting order ids, dates or amounts.
    """
    return [("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def redact(text: str) -> tuple[str, dict[str, int]]:
    """`text` with every PII span replaced by its placeholder, and how many of each kind."""
    counts: dict[str, int] = {}
    parts, last = [], 0
    for kind, start, end in find_pii(text):
        parts += [text[last:start], PLACEHOLDERS[kind]]
        counts[kind] = counts.get(kind, 0) + 1
        last = end
    parts.append(text[last:])
    return "".join(parts), counts
