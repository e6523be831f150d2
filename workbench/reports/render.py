"""Render one TeamReport into HTML (self-contained: inline CSS and SVG, no external requests),
Markdown (for wikis and pull requests) or JSON (documented in docs/report-schema.md)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from workbench import __version__

if TYPE_CHECKING:
    from workbench.core.team import TeamReport

FORMATS = ("html", "md", "json")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LEVEL_COLOURS = {
    "none": ("#ececec", "#333"), "beginner": ("#d4e8f6", "#123"), "intermediate": ("#8fc0e2", "#0b2538"),
    "advanced": ("#3a85bd", "#fff"), "expert": ("#16466f", "#fff"), "not assessed": ("#fff", "#777"),
}
STATUS_CLASSES = {"ready": "ok", "partly ready": "warn", "not ready": "bad"}


def pct(value: float | None, digits: int = 0) -> str:
    """0.8 -> '80%'; None -> '—'."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None) -> str:
    """A proficiency or score, shortened; None -> '—'."""
    return "—" if value is None else f"{value:g}"


def day(iso: str) -> str:
    """The date part of an ISO timestamp."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d")
    except ValueError:
        return iso[:10]


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def signed(value: float) -> str:
    """+12.5 / -3 / ±0."""
    return "±0" if value == 0 else f"{value:+g}"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, num=num, day=day, md=md_cell, signed=signed)
    return env


def render_report(report: TeamReport, fmt: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from workbench.core.bundle import REASONS

    names = {c.id: c.name for c in report.categories}
    return _environment().get_template(f"report.{fmt}.j2").render(
        r=report, names=names, profile_names={p.id: p.name for p in report.profiles},
        reasons=REASONS, level_colours=LEVEL_COLOURS, status_classes=STATUS_CLASSES, version=__version__,
        levels=("none", "beginner", "intermediate", "advanced", "expert"),
        unassessed=[c for c in report.categories if c.status == "not assessed"],
        assessed=[c for c in report.categories if c.status != "not assessed"],
    )
