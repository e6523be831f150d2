"""ETL: raw event log (JSON lines) -> validated, normalised clean table + a quarantine.

The schema is declared once, with pandera, and every row that breaks it is quarantined with
its line number, its raw text and the reason; nothing is dropped silently.

Run as a pipeline stage:  python etl.py  (paths from contract.py)."""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from contract import (
    CLEAN_COLUMNS,
    CLEAN_PATH,
    COUNTRIES,
    DEVICES,
    MAX_DWELL_MS,
    MAX_PRICE,
    QUARANTINE_PATH,
    RAW_PATH,
    TS_FROM,
    TS_UNTIL,
)

RAW_FIELDS = ["event_id", "ts", "user_id", "device", "country", "price", "dwell_ms", "clicked"]
_FROM = datetime.fromisoformat(TS_FROM)
_UNTIL = datetime.fromisoformat(TS_UNTIL)


def _parse_ts(value: object) -> datetime | None:
    """An aware datetime for an ISO-8601 string with a UTC offset, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _element(check, name: str) -> pa.Check:
    return pa.Check(check, element_wise=True, name=name, error=name)


# The raw contract, on the parsed JSON values (device / country already stripped and cased).
RAW_SCHEMA = pa.DataFrameSchema(
    {
        "event_id": pa.Column(object, [_element(lambda v: isinstance(v, str) and v != "", "non-empty string")],
                              unique=True, report_duplicates="exclude_first"),
        "ts": pa.Column(object, [
            _element(lambda v: _parse_ts(v) is not None, "ISO-8601 with a UTC offset"),
            _element(lambda v: (t := _parse_ts(v)) is None or _FROM <= t < _UNTIL, "in 2026 (UTC)"),
        ]),
        "user_id": pa.Column(object, [_element(lambda v: isinstance(v, str) and re.fullmatch(r"u[0-9]{4}", v) is not None,
                                               "matches u[0-9]{4}")]),
        "device": pa.Column(object, [_element(lambda v: v in DEVICES, f"one of {DEVICES}")]),
        "country": pa.Column(object, [_element(lambda v: v in COUNTRIES, f"one of {COUNTRIES}")]),
        "price": pa.Column(object, [_element(lambda v: _is_number(v) and 0 <= v <= MAX_PRICE, f"number in [0, {MAX_PRICE}]")]),
        "dwell_ms": pa.Column(object, [_element(lambda v: _is_int(v) and 0 <= v <= MAX_DWELL_MS,
                                                f"integer in [0, {MAX_DWELL_MS}]")]),
        "clicked": pa.Column(object, [_element(lambda v: _is_int(v) and v in (0, 1), "0 or 1")]),
    },
    strict=False,
)


# The clean contract: what downstream stages may rely on.
CLEAN_SCHEMA = pa.DataFrameSchema(
    {
        "event_id": pa.Column(str, unique=True),
        "ts": pa.Column(str, pa.Check.str_matches(r"^2026-\d\d-\d\dT\d\d:\d\d:\d\dZ$")),
        "user_id": pa.Column(str, pa.Check.str_matches(r"^u[0-9]{4}$")),
        "device": pa.Column(str, pa.Check.isin(DEVICES)),
        "country": pa.Column(str, pa.Check.isin(COUNTRIES)),
        "price": pa.Column(float, pa.Check.in_range(0, MAX_PRICE)),
        "dwell_ms": pa.Column(int, pa.Check.in_range(0, MAX_DWELL_MS)),
        "clicked": pa.Column(int, pa.Check.isin([0, 1])),
        "hour": pa.Column(int, pa.Check.in_range(0, 23)),
    },
    strict=True,
    ordered=True,
)


def _normalise(value: object, how) -> object:
    return how(value.strip()) if isinstance(value, str) else value


def run_etl(raw_path: str = RAW_PATH, clean_path: str = CLEAN_PATH, quarantine_path: str = QUARANTINE_PATH) -> dict:
    """Validate every line of `raw_path`; write the valid rows to `clean_path` (CSV, CLEAN_COLUMNS,
    raw order) and every rejected line to `quarantine_path` (JSON lines: line, raw, reason).
    Returns {"total": lines, "clean": rows written, "quarantined": lines quarantined}."""
    quarantine: dict[int, tuple[str, list[str]]] = {}
    records, line_numbers, raw_lines = [], [], {}
    lines = Path(raw_path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        raw_lines[number] = line
        try:
            value = json.loads(line)
        except ValueError as exc:
            quarantine[number] = (line, [f"invalid JSON: {exc.msg}"])
            continue
        if not isinstance(value, dict):
            quarantine[number] = (line, [f"not a JSON object: {type(value).__name__}"])
            continue
        records.append({name: value.get(name) for name in RAW_FIELDS})
        line_numbers.append(number)

    frame = pd.DataFrame(records, columns=RAW_FIELDS, index=pd.Index(line_numbers, name="line"), dtype=object)
    frame["device"] = frame["device"].map(lambda v: _normalise(v, str.lower)).astype(object)
    frame["country"] = frame["country"].map(lambda v: _normalise(v, str.upper)).astype(object)
    try:
        RAW_SCHEMA.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for line, column, check in zip(cases["index"], cases["column"], cases["check"], strict=True):
            if line is None or (isinstance(line, float) and math.isnan(line)):
                continue
            reasons = quarantine.setdefault(int(line), (raw_lines[int(line)], []))[1]
            reasons.append(f"{column}: {check}")

    valid = frame.loc[[n for n in frame.index if n not in quarantine]]
    instants = [_parse_ts(v).replace(tzinfo=None) for v in valid["ts"]]
    clean = pd.DataFrame({
        "event_id": valid["event_id"].astype(str),
        "ts": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in instants],
        "user_id": valid["user_id"].astype(str),
        "device": valid["device"].astype(str),
        "country": valid["country"].astype(str),
        "price": valid["price"].astype(float),
        "dwell_ms": valid["dwell_ms"].astype(int),
        "clicked": valid["clicked"].astype(int),
        "hour": [t.hour for t in instants],
    }, columns=CLEAN_COLUMNS)
    clean = CLEAN_SCHEMA.validate(clean.reset_index(drop=True))

    Path(clean_path).parent.mkdir(parents=True, exist_ok=True)
    clean.to_csv(clean_path, index=False)
    Path(quarantine_path).parent.mkdir(parents=True, exist_ok=True)
    with open(quarantine_path, "w", encoding="utf-8") as out:
        for number in sorted(quarantine):
            line, reasons = quarantine[number]
            out.write(json.dumps({"line": number, "raw": line, "reason": "; ".join(reasons)}) + "\n")
    return {"total": len(lines), "clean": len(clean), "quarantined": len(quarantine)}


if __name__ == "__main__":
    counts = run_etl()
    print(f"etl: {counts['clean']} clean rows, {counts['quarantined']} quarantined of {counts['total']} lines", file=sys.stderr)
