"""What a lab's grader offers as evidence, read from its source without running it.

Every grader test carries `@pytest.mark.check(skill=..., points=..., competency=...)`. Scoring
needs the points each lab offers per skill category before a learner has graded anything, so
the markers are read with `ast` (milliseconds, no pytest or grader imports). `dev verify`
compares this inventory with the checks a real grading run collects, so the two cannot drift.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .labs import Lab
    from .skills import SkillMatrix


@dataclass(frozen=True)
class CheckSpec:
    """One check as its grader declares it."""

    name: str
    skill: str
    points: float
    competency: str | None = None
    required: bool = False


@dataclass(frozen=True)
class Inventory:
    """The checks of one grader, in collection order, and what could not be read statically."""

    checks: tuple[CheckSpec, ...]
    problems: tuple[str, ...] = ()

    def points_by_skill(self) -> dict[str, float]:
        """Skill category -> points the lab offers in it."""
        return dict(self._points_by_skill)

    @cached_property
    def _points_by_skill(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for check in self.checks:
            totals[check.skill] = totals.get(check.skill, 0.0) + check.points
        return totals

    @cached_property
    def _grouped(self) -> tuple[tuple[str, tuple[tuple[str, float], ...]], ...]:
        """(skill, ((check name, points), ...)) per skill, for scoring in one tight pass."""
        grouped: dict[str, list[tuple[str, float]]] = {}
        for check in self.checks:
            grouped.setdefault(check.skill, []).append((check.name, check.points))
        return tuple((skill, tuple(entries)) for skill, entries in grouped.items())

    def competencies(self) -> dict[str, set[str]]:
        """Skill category -> competencies named by at least one check."""
        return {skill: set(names) for skill, names in self._competencies.items()}

    @cached_property
    def _competencies(self) -> dict[str, frozenset[str]]:
        named: dict[str, set[str]] = {}
        for check in self.checks:
            if check.competency:
                named.setdefault(check.skill, set()).add(check.competency)
        return {skill: frozenset(names) for skill, names in named.items()}


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _check_marker(decorator: ast.expr) -> ast.Call | None:
    """The `pytest.mark.check(...)` call among a function's decorators."""
    if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) and decorator.func.attr == "check":
        owner = decorator.func.value
        if isinstance(owner, ast.Attribute) and owner.attr == "mark":
            return decorator
    return None


def _read_file(path: Path) -> tuple[list[CheckSpec], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    checks: list[CheckSpec] = []
    problems: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test"):
            continue
        marker = next((m for d in node.decorator_list if (m := _check_marker(d)) is not None), None)
        where = f"{path.name}:{node.lineno} {node.name}"
        if marker is None:
            problems.append(f"{where}: no @pytest.mark.check marker")
            continue
        if any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "parametrize"
               for d in node.decorator_list):
            problems.append(f"{where}: parametrized checks cannot be counted statically")
        kwargs: dict[str, object] = {}
        for keyword in marker.keywords:
            value = _literal(keyword.value) if keyword.arg else _NOT_LITERAL
            if value is _NOT_LITERAL:
                problems.append(f"{where}: marker argument {keyword.arg or '**'} is not a literal")
                continue
            kwargs[str(keyword.arg)] = value
        doc = (ast.get_docstring(node) or "").strip()
        name = kwargs.get("name") or (doc.splitlines()[0].strip() if doc else node.name.removeprefix("test_").replace("_", " "))
        checks.append(CheckSpec(name=str(name), skill=str(kwargs.get("skill", "")), points=float(kwargs.get("points", 1)),  # type: ignore[arg-type]
                                competency=str(kwargs["competency"]) if kwargs.get("competency") else None,
                                required=bool(kwargs.get("required", False))))
    return checks, problems


@cache
def _inventory(grader_dir: Path, signature: tuple[tuple[str, int, int], ...]) -> Inventory:
    checks: list[CheckSpec] = []
    problems: list[str] = []
    for name, _, _ in signature:
        found, trouble = _read_file(grader_dir / name)
        checks.extend(found)
        problems.extend(trouble)
    return Inventory(tuple(checks), tuple(problems))


def grader_inventory(grader_dir: Path) -> Inventory:
    """The checks declared by graders/<lab>/test_*.py, in pytest's collection order (cached
    until a file changes)."""
    files = sorted(grader_dir.glob("test_*.py"))
    signature = tuple((p.name, (s := p.stat()).st_mtime_ns, s.st_size) for p in files)
    return _inventory(grader_dir, signature)


def lab_inventory(lab: Lab) -> Inventory:
    """The checks of a lab's installed grader."""
    return grader_inventory(lab.grader_dir)


def inventory_problems(lab: Lab, matrix: SkillMatrix) -> list[str]:
    """What is wrong with a lab's declared checks against the skills matrix and its [skills]:
    unknown skills, unknown competencies, and a [skills] table that disagrees with the checks."""
    import difflib

    inventory = lab_inventory(lab)
    problems = list(inventory.problems)
    known = set(matrix.ids())
    for check in inventory.checks:
        if check.skill not in known:
            problems.append(f"check '{check.name}' names unknown skill '{check.skill}'")
            continue
        if check.competency is not None:
            allowed = matrix.get(check.skill).competencies
            if check.competency not in allowed:
                close = difflib.get_close_matches(check.competency, allowed, n=1)
                suggestion = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(allowed)}"
                problems.append(f"check '{check.name}' names unknown competency '{check.competency}' of"
                                f" {check.skill}{suggestion}")
    problems.extend(skills_table_problems(lab.spec.skills, inventory.points_by_skill()))
    return problems


def skills_table_problems(weights: dict[str, int], points: dict[str, float]) -> list[str]:
    """[skills] is a summary of the checks: the same categories, ranked the same way
    (a category with more points never has a smaller weight)."""
    problems = []
    for category in sorted(points.keys() - weights.keys()):
        problems.append(f"checks give {points[category]:g} points to '{category}', which [skills] does not list")
    for category in sorted(weights.keys() - points.keys()):
        problems.append(f"[skills] lists '{category}' but no check names it")
    shared = sorted(weights.keys() & points.keys())
    for first in shared:
        for second in shared:
            if points[first] > points[second] and weights[first] < weights[second]:
                problems.append(f"[skills] weighs '{second}' ({weights[second]}) above '{first}' ({weights[first]}),"
                                f" but its checks give {points[second]:g} points against {points[first]:g}")
    return problems


__all__ = ["CheckSpec", "Inventory", "grader_inventory", "inventory_problems", "lab_inventory", "skills_table_problems"]
