"""Progress store: SQLite in WAL mode inside the workspace (.workbench/progress.db).

Each grading attempt is written in one transaction after grading ends, so a run killed at any
moment leaves the store as it was: no half-written attempt, no lost earlier result.

Schema 2 adds the lab version each attempt was graded under (`attempts.lab_version`). A store of
schema 1 is migrated in place when opened: its attempts keep every field and their version is
unknown (NULL). Which attempts count for skills is decided by the grader hash (see `evidence`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .results import GradeResult
from .skills import CheckEvidence, LabEvidence

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labs_started (lab_id TEXT PRIMARY KEY, started_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, lab_id TEXT NOT NULL, started_at TEXT NOT NULL, duration_s REAL NOT NULL,
    status TEXT NOT NULL, score REAL NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    grader_sha256 TEXT NOT NULL, trusted INTEGER NOT NULL, result_json TEXT NOT NULL, lab_version INTEGER);
CREATE INDEX IF NOT EXISTS attempts_lab ON attempts (lab_id);
CREATE TABLE IF NOT EXISTS check_results (
    attempt_id INTEGER NOT NULL REFERENCES attempts (id), lab_id TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, status TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    skill TEXT NOT NULL, hint INTEGER, message TEXT, metrics_json TEXT NOT NULL, duration_s REAL NOT NULL,
    recorded_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS check_results_lab ON check_results (lab_id, name);
CREATE TABLE IF NOT EXISTS hints (
    lab_id TEXT NOT NULL, hint_index INTEGER NOT NULL, revealed_at TEXT NOT NULL, for_check TEXT,
    PRIMARY KEY (lab_id, hint_index));
CREATE TABLE IF NOT EXISTS solutions (lab_id TEXT NOT NULL, viewed_at TEXT NOT NULL, gave_up INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS resets (lab_id TEXT NOT NULL, reset_at TEXT NOT NULL, backup_path TEXT NOT NULL);
"""


def now_iso() -> str:
    """UTC timestamp, seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProgressStore:
    """Attempts, per-check results, hints revealed, solutions viewed, resets."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older store up to SCHEMA_VERSION without touching its rows."""
        with self._transaction() as conn:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(attempts)")}
            if "lab_version" not in columns:
                conn.execute("ALTER TABLE attempts ADD COLUMN lab_version INTEGER")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row["value"]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------

    def mark_started(self, lab_id: str) -> None:
        """Remember that the learner started a lab (first time only)."""
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO labs_started VALUES (?, ?)", (lab_id, now_iso()))

    def record_attempt(self, result: GradeResult, lab_version: int | None = None) -> int:
        """Store one grading result and its checks atomically, with the lab version that graded
        it; returns the attempt id."""
        recorded_at = now_iso()
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO labs_started VALUES (?, ?)", (result.lab, result.started_at))
            cursor = conn.execute(
                "INSERT INTO attempts (lab_id, started_at, duration_s, status, score, points, max_points,"
                " grader_sha256, trusted, result_json, lab_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.lab, result.started_at, result.duration_s, result.status, result.score, result.points,
                 result.max_points, result.grader_sha256, int(not result.warnings), json.dumps(result.to_dict()),
                 lab_version),
            )
            attempt_id = int(cursor.lastrowid)
            conn.executemany(
                "INSERT INTO check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(attempt_id, result.lab, t.task_id, t.name, t.status, t.points, t.max_points, t.skill, t.hint,
                  t.message, json.dumps(t.metrics), t.duration_s, recorded_at) for t in result.tests],
            )
        return attempt_id

    def record_hint(self, lab_id: str, hint_index: int, for_check: str | None) -> None:
        """Remember that a hint was revealed."""
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO hints VALUES (?, ?, ?, ?)", (lab_id, hint_index, now_iso(), for_check))

    def record_solution(self, lab_id: str, gave_up: bool) -> None:
        """Remember that the solution was viewed (and whether the learner gave up)."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO solutions VALUES (?, ?, ?)", (lab_id, now_iso(), int(gave_up)))

    def record_reset(self, lab_id: str, backup_path: Path) -> None:
        """Remember a reset and where the learner's files were kept."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO resets VALUES (?, ?, ?)", (lab_id, now_iso(), str(backup_path)))

    # -- reads -------------------------------------------------------------------------------

    def started_labs(self) -> dict[str, str]:
        """lab id -> when it was started."""
        return {row["lab_id"]: row["started_at"] for row in self._conn.execute("SELECT * FROM labs_started")}

    def last_started(self) -> str | None:
        """The lab most recently started or graded."""
        row = self._conn.execute(
            "SELECT lab_id FROM (SELECT lab_id, started_at AS at FROM labs_started UNION ALL"
            " SELECT lab_id, started_at AS at FROM attempts) ORDER BY at DESC LIMIT 1"
        ).fetchone()
        return row["lab_id"] if row else None

    def lab_summary(self) -> dict[str, dict[str, Any]]:
        """lab id -> attempts, best score, passed, last status."""
        summary: dict[str, dict[str, Any]] = {}
        for row in self._conn.execute(
            "SELECT lab_id, COUNT(*) AS attempts, MAX(score * trusted) AS best_score,"
            " MAX(status = 'pass' AND trusted) AS passed, MAX(started_at) AS last_at FROM attempts GROUP BY lab_id"
        ):
            summary[row["lab_id"]] = dict(row)
        return summary

    def last_result(self, lab_id: str) -> GradeResult | None:
        """The most recent grading result of a lab."""
        row = self._conn.execute(
            "SELECT result_json FROM attempts WHERE lab_id = ? ORDER BY id DESC LIMIT 1", (lab_id,)
        ).fetchone()
        return GradeResult.from_dict(json.loads(row["result_json"])) if row else None

    def best_checks(self, lab_id: str) -> dict[str, dict[str, Any]]:
        """Per check name: best points, max points, skill, metrics and when (trusted attempts only)."""
        best: dict[str, dict[str, Any]] = {}
        rows = self._conn.execute(
            "SELECT c.* FROM check_results c JOIN attempts a ON a.id = c.attempt_id"
            " WHERE c.lab_id = ? AND a.trusted = 1 ORDER BY c.attempt_id", (lab_id,),
        )
        for row in rows:
            current = best.get(row["name"])
            if current is None or row["points"] > current["points"] or current["max_points"] != row["max_points"]:
                best[row["name"]] = {
                    "points": row["points"], "max_points": row["max_points"], "status": row["status"],
                    "skill": row["skill"], "metrics": json.loads(row["metrics_json"]), "recorded_at": row["recorded_at"],
                    "task_id": row["task_id"],
                }
        return best

    def attempt_result(self, attempt_id: int) -> GradeResult | None:
        """The stored result of one attempt."""
        row = self._conn.execute("SELECT result_json FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        return GradeResult.from_dict(json.loads(row["result_json"])) if row else None

    def attempts(self) -> list[sqlite3.Row]:
        """Every attempt (id, lab, time, status, grader hash, trusted, model), oldest first."""
        return self._conn.execute(
            "SELECT id, lab_id, started_at, status, points, grader_sha256, trusted, lab_version,"
            " json_extract(result_json, '$.model') AS model,"
            " coalesce(json_extract(result_json, '$.sandbox'), 'none') AS sandbox FROM attempts ORDER BY id").fetchall()

    def trusted_check_rows(self) -> list[sqlite3.Row]:
        """Every per-check result of a trusted attempt, in attempt and check order."""
        return self._conn.execute(
            "SELECT c.* FROM check_results c JOIN attempts a ON a.id = c.attempt_id WHERE a.trusted = 1"
            " ORDER BY c.attempt_id, c.task_id").fetchall()

    def hints_revealed(self, lab_id: str) -> list[int]:
        """1-based indexes of the hints revealed for a lab, in order of revealing."""
        rows = self._conn.execute("SELECT hint_index FROM hints WHERE lab_id = ? ORDER BY revealed_at, hint_index", (lab_id,))
        return [row["hint_index"] for row in rows]

    def all_hints(self) -> dict[str, int]:
        """lab id -> number of hints revealed."""
        return {row[0]: row[1] for row in self._conn.execute("SELECT lab_id, COUNT(*) FROM hints GROUP BY lab_id")}

    def solutions_viewed(self) -> dict[str, bool]:
        """lab id -> True if the learner gave up before passing (False: viewed after a pass)."""
        rows = self._conn.execute("SELECT lab_id, MAX(gave_up) FROM solutions GROUP BY lab_id")
        return {row[0]: bool(row[1]) for row in rows}

    def evidence(self, installed: Mapping[str, tuple[int, str]] | None = None) -> dict[str, LabEvidence]:
        """Per lab: the learner's evidence for skill scoring and for bundles. `installed` maps a
        lab id to its installed (version, grader SHA-256): the evidence then comes from the
        attempts graded by that grader, else (flagged `older_version`) from the newest earlier
        one. Of those, the best attempt counts whole (a pass first, then most points, then the
        latest): its checks, and the files behind it, are one piece of work, so a score is never
        stitched together from checks that different versions of the code passed."""
        hints = self.all_hints()
        solutions = self.solutions_viewed()
        attempts: dict[str, list[sqlite3.Row]] = {}
        for attempt in self.attempts():
            if attempt["trusted"]:
                attempts.setdefault(attempt["lab_id"], []).append(attempt)
        checks_by_attempt: dict[int, list[sqlite3.Row]] = {}
        for row in self.trusted_check_rows():
            checks_by_attempt.setdefault(row["attempt_id"], []).append(row)
        evidence: dict[str, LabEvidence] = {}
        for lab_id in attempts.keys() | hints.keys() | solutions.keys():
            used, version, older = _evidence_attempts(attempts.get(lab_id, []), (installed or {}).get(lab_id))
            best = max(used, key=lambda a: (a["status"] == "pass", a["points"], a["id"])) if used else None
            rows = checks_by_attempt.get(best["id"], []) if best is not None else []
            evidence[lab_id] = LabEvidence(
                checks={row["name"]: CheckEvidence(row["name"], row["skill"], row["points"], row["max_points"], row["recorded_at"])
                        for row in rows},
                hints_revealed=hints.get(lab_id, 0), gave_up=solutions.get(lab_id, False),
                passed=best is not None and best["status"] == "pass", version=version, older_version=older,
                attempt_id=best["id"] if best is not None else None, attempts=len(used),
            )
        return evidence

    def versions_graded(self) -> dict[str, dict[int | None, int]]:
        """lab id -> {lab version (None: before versions were recorded): attempts}."""
        counts: dict[str, dict[int | None, int]] = {}
        for row in self._conn.execute("SELECT lab_id, lab_version, COUNT(*) AS n FROM attempts GROUP BY lab_id, lab_version"):
            counts.setdefault(row["lab_id"], {})[row["lab_version"]] = row["n"]
        return counts

    def integrity_ok(self) -> bool:
        """SQLite's own consistency check."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _evidence_attempts(attempts: list[sqlite3.Row], installed: tuple[int, str] | None
                       ) -> tuple[list[sqlite3.Row], int | None, bool]:
    """(attempts whose checks count, the lab version they were graded under, older than installed?).
    The installed grader is recognised by its hash, so a grader changed without a version bump
    never mixes its results with the earlier grader's. Without any attempt by it, the attempts
    of the newest earlier grader count (by recorded version, then recency)."""
    if installed is None:
        return attempts, None, False
    version, grader_sha256 = installed
    current = [a for a in attempts if a["grader_sha256"] == grader_sha256]
    if current or not attempts:
        return current, version, False
    newest = max(attempts, key=lambda a: (a["lab_version"] or 0, a["id"]))
    group = [a for a in attempts if a["grader_sha256"] == newest["grader_sha256"] and a["lab_version"] == newest["lab_version"]]
    return group, newest["lab_version"], True


__all__ = ["ProgressStore", "now_iso"]
