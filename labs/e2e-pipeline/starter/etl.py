"""ETL: raw event log (JSON lines) -> validated, normalised clean table + a quarantine.

Declare the raw contract once, as a pandera schema, validate with lazy=True, and quarantine
every line that breaks it (with its line number, raw text and a reason naming the field).
Nothing may be dropped silently: every raw line ends up either in the clean table or in the
quarantine. The rules are in README.md ("The data contract").

Run as a pipeline stage:  python etl.py  (paths from contract.py)."""

from __future__ import annotations

import json  # noqa: F401 - you will need these
import sys
from datetime import datetime, timezone  # noqa: F401

import pandas as pd  # noqa: F401
import pandera.pandas as pa  # noqa: F401

from contract import (  # noqa: F401
    CLEAN_COLUMNS, CLEAN_PATH, COUNTRIES, DEVICES, MAX_DWELL_MS, MAX_PRICE, QUARANTINE_PATH, RAW_PATH, TS_FROM, TS_UNTIL,
)

RAW_FIELDS = ["event_id", "ts", "user_id", "device", "country", "price", "dwell_ms", "clicked"]

# TODO: declare the raw contract, e.g.
# RAW_SCHEMA = pa.DataFrameSchema({"event_id": pa.Column(object, ..., unique=True,
#                                                         report_duplicates="exclude_first"), ...})


def run_etl(raw_path: str = RAW_PATH, clean_path: str = CLEAN_PATH, quarantine_path: str = QUARANTINE_PATH) -> dict:
    """Validate every line of `raw_path`; write the valid rows to `clean_path` (CSV, CLEAN_COLUMNS,
    raw order, ts in UTC as YYYY-MM-DDTHH:MM:SSZ, hour = UTC hour) and every rejected line to
    `quarantine_path` (JSON lines: {"line": 1-based number, "raw": the line's text, "reason": ...}).
    Returns {"total": lines, "clean": rows written, "quarantined": lines quarantined}."""
    raise NotImplementedError("run_etl: parse, validate with a pandera schema, write clean.csv and the quarantine")


if __name__ == "__main__":
    counts = run_etl()
    print(f"etl: {counts['clean']} clean rows, {counts['quarantined']} quarantined of {counts['total']} lines", file=sys.stderr)
