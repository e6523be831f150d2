"""Grading results as JUnit XML, the format CI systems read (GitHub Actions reporters, GitLab,
Jenkins, Azure Pipelines).

One <testsuite> per lab graded, one <testcase> per check. A failed check is a <failure>, a check
that could not run an <error>; the check's points, max points, skill, competency, required flag
and metrics are testcase <property> elements, the lab's score, pass mark, grader hash and
sandbox are testsuite properties. A lab whose grading produced no check at all gets one
testcase named "grading" carrying the error, so CI never reads an empty suite as green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .results import GradeResult

_CLASS_PREFIX = "workbench"


def _timestamp(iso: str) -> str:
    """JUnit's timestamp: ISO 8601 in UTC without an offset."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _properties(parent: ET.Element, values: dict[str, Any]) -> None:
    element = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(element, "property", name=name, value=_value(value))


def _suite(result: GradeResult, lab_version: int | None) -> ET.Element:
    tests = sorted(result.tests, key=lambda t: t.task_id)
    failures = sum(1 for t in tests if t.status == "fail")
    errors = sum(1 for t in tests if t.status == "error") + (0 if tests else 1)
    suite = ET.Element("testsuite", name=result.lab, tests=str(max(len(tests), 1)), failures=str(failures),
                       errors=str(errors), skipped="0", time=f"{result.duration_s:.3f}",
                       timestamp=_timestamp(result.started_at), hostname="localhost")
    _properties(suite, {"lab": result.lab, "lab_version": lab_version, "status": result.status, "score": result.score,
                        "points": result.points, "max_points": result.max_points, "pass_mark": result.pass_mark,
                        "grader_sha256": result.grader_sha256, "sandbox": result.sandbox, "model": result.model,
                        "workbench_version": result.workbench_version})
    classname = f"{_CLASS_PREFIX}.{result.lab}"
    if not tests:
        case = ET.SubElement(suite, "testcase", classname=classname, name="grading", time=f"{result.duration_s:.3f}")
        ET.SubElement(case, "error", message=result.message or "grading produced no checks", type="error").text = \
            result.message or ""
        return suite
    for check in tests:
        case = ET.SubElement(suite, "testcase", classname=classname, name=check.name, time=f"{check.duration_s:.3f}")
        _properties(case, {"task_id": check.task_id, "points": check.points, "max_points": check.max_points,
                           "skill": check.skill, "competency": check.competency, "required": check.required,
                           "hint": check.hint, **{f"metric.{k}": v for k, v in check.metrics.items()}})
        if check.status in ("fail", "error"):
            detail = "\n\n".join(part for part in (check.message, check.output) if part)
            ET.SubElement(case, "failure" if check.status == "fail" else "error",
                          message=check.message or check.status, type=check.status).text = detail
        elif check.output:
            ET.SubElement(case, "system-out").text = check.output
    return suite


def junit_xml(results: Sequence[GradeResult], lab_versions: dict[str, int] | None = None) -> bytes:
    """The results as one JUnit XML document (UTF-8, with declaration)."""
    root = ET.Element("testsuites", name="workbench")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    duration_s = 0.0
    for result in results:
        suite = _suite(result, (lab_versions or {}).get(result.lab))
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        duration_s += result.duration_s
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{duration_s:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


__all__ = ["junit_xml"]
