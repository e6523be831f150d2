"""Learner commands: init, labs, roadmap, start, check, hint, reset, solution, skills, progress."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

from ._ui import console, print_check_event, print_json, print_result_summary

LAB_ARG = typer.Argument(None, help="Lab id (default: the lab folder you are in, else the last one started).", show_default=False)
JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _workspace(required: bool = True):
    from ..core.errors import NotFoundError
    from ..core.workspace import find_workspace

    try:
        return find_workspace()
    except NotFoundError:
        if required:
            raise
        return None


def init(path: Path = typer.Argument(Path("."), help="Folder for the workspace (created if missing).")) -> None:
    """Create a workspace: your lab copies and progress live there."""
    from ..core.workspace import init_workspace

    workspace, created = init_workspace(path)
    if created:
        console().print(f"Created workspace [bold]{workspace.root}[/]")
    else:
        console().print(f"{workspace.root} is already a workspace; nothing changed.")
    console().print("Next: [bold]workbench labs[/] to list labs, [bold]workbench start LAB[/] to begin one.")


def labs(as_json: bool = JSON_OPT) -> None:
    """List every lab with its phase, topic, tags and your status."""
    from ..core.learner import lab_rows

    rows = lab_rows(_workspace(required=False))
    if as_json:
        print_json(rows)
        return
    headers = ("id", "status", "month", "tags", "needs", "min", "title")
    cells = []
    for row in rows:
        status = row["status"] + (f" ({row['best_score']:.0%})" if row["best_score"] is not None else "")
        cells.append((row["id"], status, str(row["month"]), ",".join(row["tags"]), ",".join(row["needs"]) or "-",
                      str(row["estimated_minutes"]), row["title"]))
    widths = [max(len(header), *(len(c[i]) for c in cells)) for i, header in enumerate(headers)]
    room = shutil.get_terminal_size((100, 24)).columns - sum(w + 2 for w in widths[:-1]) - 1
    widths[-1] = max(10, min(widths[-1], room))  # the title gives way on a narrow terminal

    def line(values: tuple[str, ...]) -> str:
        shown = [v if len(v) <= w else v[: w - 1] + "…" for v, w in zip(values, widths, strict=True)]
        return "  ".join(v.ljust(w) for v, w in zip(shown, widths, strict=True)).rstrip()

    out = console()
    out.print(line(headers), style="bold", markup=False, soft_wrap=True)
    for row_cells in cells:
        out.print(line(row_cells), markup=False, soft_wrap=True)


def _print_roadmap(data: dict) -> None:
    out = console()
    out.print(f"[bold]{data['title']}[/] ({data['curriculum']} {data['version']}) — "
              f"{data['labs_passed']}/{data['labs_total']} labs passed")
    marks = {"passed": "[green]●[/]", "in progress": "[yellow]◐[/]", "not started": "○"}
    for phase in data["phases"]:
        out.print(f"\n[bold cyan]{phase['title']}[/] [dim]{phase['months_label']}[/]")
        for topic in phase["topics"]:
            out.print(f"  {topic['title']}")
            if not topic["labs"]:
                out.print("    [dim]no lab yet[/]")
            for lab in topic["labs"]:
                score = f" {lab['best_score']:.0%}" if lab["best_score"] is not None else ""
                home = "" if lab["topic"] == topic["id"] else " · also listed under its own topic"
                out.print(f"    {marks[lab['status']]} {lab['id']} [dim]— {lab['title']} · ~{lab['estimated_minutes']} min{score}{home}[/]")


def roadmap(as_json: bool = JSON_OPT) -> None:
    """The 12-month roadmap: phases, topics and labs with your progress."""
    from ..core.learner import roadmap as build

    data = build(_workspace(required=False))
    if as_json:
        print_json(data)
    else:
        _print_roadmap(data)


def open_home() -> None:
    """What `workbench` alone shows: the TUI when available, else the roadmap."""
    try:
        from ..tui import run_tui
    except ImportError:
        from ..core.learner import roadmap as build

        _print_roadmap(build(_workspace(required=False)))
        return
    run_tui()


def start(lab_id: str = typer.Argument(..., help="Lab id, e.g. python-async.")) -> None:
    """Copy a lab's starter files into your workspace and show where to begin."""
    from ..core.labs import get_lab

    workspace = _workspace()
    lab = get_lab(lab_id, workspace.settings.curriculum)
    folder, created = workspace.start(lab)
    out = console()
    out.print(("Started" if created else "Already started:") + f" [bold]{lab.spec.title}[/] in {folder}")
    out.print("Edit: " + ", ".join(str(folder / name) for name in lab.spec.files))
    out.print(f"Brief: {folder / 'README.md'}")
    out.print(f"Then: [bold]workbench check {lab.id}[/] (add --watch to re-grade on every save)")


def _watch(workspace, lab) -> None:
    from ..core.watch import watch_lab

    out = console()
    out.print(f"[bold]Watching {workspace.lab_dir(lab.id)}[/] — save a file to re-grade, Ctrl-C to stop.")

    def on_result(result) -> None:
        print_result_summary(result)

    def on_error(exc: BaseException) -> None:
        out.print(f"[red]error:[/] {exc} (still watching)")

    from ..llm.grading import install as install_model_hook

    install_model_hook()
    watch_lab(workspace, lab, on_event=print_check_event, on_result=on_result, on_error=on_error)


def check(
    lab_id: Optional[str] = LAB_ARG,  # noqa: UP045 - Typer needs Optional on 3.10
    as_json: bool = JSON_OPT,
    watch: bool = typer.Option(False, "--watch", "-w", help="Re-grade every time you save a file (Ctrl-C stops)."),
    all_labs: bool = typer.Option(False, "--all", help="Grade every started lab; a summary table, exit 0 only if all pass."),
    junit_xml: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--junit-xml", help="Also write the results as JUnit XML (one testcase per check) for CI.", dir_okay=False),
) -> None:
    """Grade your copy of a lab; each check is shown as it finishes. Exit 0 on pass, 1 otherwise."""
    from ..core import learner
    from ..core.errors import UsageError

    workspace = _workspace()
    if watch and (all_labs or junit_xml):
        raise UsageError("--watch cannot be combined with --all or --junit-xml", hint="run them separately")
    if all_labs and lab_id:
        raise UsageError("give a lab id or --all, not both")
    lab = None if all_labs else learner.resolve_lab(workspace, lab_id)
    if watch:
        _watch(workspace, lab)
        return
    from ..llm.grading import install as install_model_hook

    install_model_hook()
    on_event = None if as_json else print_check_event
    results = learner.check_all(workspace, on_event=on_event) if all_labs else [learner.check(workspace, lab, on_event=on_event)]
    if junit_xml is not None:
        from ..core.junit import junit_xml as to_junit
        from ..core.labs import load_labs

        versions = {known.id: known.spec.version for known in load_labs(workspace.settings.curriculum).values()}
        junit_xml.parent.mkdir(parents=True, exist_ok=True)
        junit_xml.write_bytes(to_junit(results, versions))
    passed = all(result.status == "pass" for result in results)
    if as_json:
        print_json([r.to_dict() for r in results] if all_labs else results[0].to_dict())
    elif all_labs:
        for result in results:
            print_result_summary(result)
        _print_check_summary(results)
    else:
        print_result_summary(results[0])
        if not passed:
            console().print(f"[dim]Stuck? 'workbench hint {lab.id}' reveals the next hint.[/]")
    if junit_xml is not None and not as_json:
        console().print(f"[dim]JUnit XML: {junit_xml}[/]")
    raise typer.Exit(0 if passed else 1)


def _print_check_summary(results) -> None:
    from rich.table import Table

    table = Table("lab", "status", "points", "score", "pass mark", "required failed", "time", box=None, header_style="bold",
                  title="workbench check --all", title_justify="left")
    for result in results:
        colour = {"pass": "green", "fail": "red", "error": "yellow"}[result.status]
        table.add_row(result.lab, f"[{colour}]{result.status}[/]", f"{result.points:g}/{result.max_points:g}",
                      f"{result.score:.0%}", f"{result.pass_mark:.0%}", str(len(result.required_failed)),
                      f"{result.duration_s:.1f}s")
    passed = sum(1 for result in results if result.status == "pass")
    out = console()
    out.print()
    out.print(table)
    out.print(f"[bold]{passed}/{len(results)} labs pass[/]")


def hint(lab_id: Optional[str] = LAB_ARG, as_json: bool = JSON_OPT) -> None:  # noqa: UP045
    """Reveal one more hint (the one for your first failing check first). Hints are recorded."""
    from ..core import learner

    workspace = _workspace()
    lab = learner.resolve_lab(workspace, lab_id)
    reveal = learner.next_hint(workspace, lab)
    if as_json:
        print_json({"lab": reveal.lab, "new": reveal.new_index, "for_check": reveal.for_check,
                    "revealed": [{"index": i, "text": t} for i, t in reveal.revealed], "total": reveal.total})
        return
    out = console()
    for index, text in reveal.revealed:
        fresh = index == reveal.new_index
        label = f"Hint {index}/{reveal.total}" + (f" (for '{reveal.for_check}')" if fresh and reveal.for_check else "")
        out.print(f"[bold]{label}[/]{' [green](new)[/]' if fresh else ''}\n  {text}")
    if reveal.new_index is None:
        out.print("[dim]All hints are revealed. 'workbench solution --give-up' shows the reference (recorded).[/]")


def reset(
    lab_id: str = typer.Argument(..., help="Lab id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Restore a lab's starter files; your current files are kept in a timestamped backup."""
    from ..core.labs import get_lab

    workspace = _workspace()
    lab = get_lab(lab_id, workspace.settings.curriculum)
    if not yes and not typer.confirm(f"Reset {workspace.lab_dir(lab.id)} to the starter? (a backup is kept)"):
        raise typer.Exit(1)
    backup = workspace.reset(lab)
    console().print(f"Reset {lab.id}. Your previous files are in {backup}")


def solution(
    lab_id: str = typer.Argument(..., help="Lab id."),
    give_up: bool = typer.Option(False, "--give-up", help="Show it before passing (recorded; halves the lab's skill credit)."),
) -> None:
    """Show the reference solution (after you pass, or with --give-up)."""
    from ..core.labs import get_lab

    workspace = _workspace()
    lab = get_lab(lab_id, workspace.settings.curriculum)
    folder = workspace.reveal_solution(lab, give_up)
    out = console()
    out.print(f"Reference solution copied to [bold]{folder}[/]")
    for name in lab.spec.files:
        path = folder / name
        if path.is_file():
            from rich.syntax import Syntax

            out.print(f"\n[bold]{name}[/]")
            out.print(Syntax(path.read_text(), "python" if name.endswith(".py") else "text", line_numbers=True))


def skills(
    as_json: bool = JSON_OPT,
    explain: bool = typer.Option(False, "--explain", help="Explain how proficiency is computed, with your figures."),
) -> None:
    """Your proficiency per skill category, from graded evidence, with how much evidence stands behind it."""
    from ..core import learner

    workspace = _workspace(required=False)
    scores = learner.skills(workspace)
    rows = learner.skill_rows(scores)
    if as_json:
        print_json(rows)
        return
    if explain:
        _explain_skills(scores, workspace)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("category", min_width=14)
    table.add_column("tier")
    table.add_column("proficiency", no_wrap=True)
    table.add_column("level")
    table.add_column("evidence", no_wrap=True)
    table.add_column("labs")
    for row in rows:
        value = row["proficiency"]
        bar = "-" if value is None else f"{'█' * round(value / 20):<5} {value:5.1f}"
        level = row["level"] + (" (capped)" if row["capped_from"] else "")
        volume = row["evidence_volume"]
        evidence = "-" if value is None else (f"{volume['attempted_points']:g}/{volume['offered_points']:g}"
                                              + (" low" if volume["low_evidence"] else ""))
        labs = ", ".join(f"{e['lab']} {e['credit']:.0%}" + (" stale" if e["stale"] else "")
                         + (" older version" if e["older_version"] else "") for e in row["evidence"]) or "-"
        table.add_row(row["name"], row["tier"], bar, level, evidence, labs)
    out = console()
    out.print(table)
    out.print(f"[dim]evidence: points attempted / points the curriculum offers; 'low' below "
              f"{rows[0]['evidence_volume']['low_evidence_below']:g} attempted points. 'workbench skills --explain' shows the formula.[/]")
    unassessed = [(row["name"], row["unassessed_competencies"]) for row in rows if row["unassessed_competencies"]]
    if unassessed:
        out.print("\n[bold]Competencies no check names yet[/] (no score makes a claim about them):")
        for name, competencies in unassessed:
            out.print(f"  {name}: {', '.join(competencies)}")
    older = sorted({e["lab"] for row in rows for e in row["evidence"] if e["older_version"]})
    if older:
        out.print(f"\n[yellow]Evidence from an older lab version:[/] {', '.join(older)}. "
                  "'workbench upgrade' re-grades your files under the installed version.")


def _explain_skills(scores, workspace) -> None:
    from ..core import skills as skills_module
    from ..core.labs import load_labs

    out = console()
    out.print(skills_module.__doc__.strip(), markup=False)
    curriculum = workspace.settings.curriculum if workspace else "ai-engineer-2026"
    levels = {lab_id: lab.spec.level for lab_id, lab in load_labs(curriculum).items()}
    out.print("\n[bold]Your figures[/] (per lab: level x points offered, credit = share x help):")
    for score in scores:
        if score.proficiency is None:
            out.print(f"\n{score.category.name}: not assessed (no check names it)")
            continue
        flags = [flag for flag, on in (("low evidence", score.low_evidence), ("stale", score.stale)) if on]
        capped = f", capped from {score.capped_from}: {score.cap_reason}" if score.capped_from else ""
        out.print(f"\n{score.category.name}: {score.proficiency:g} ({score.level}{capped})"
                  + (f" [{', '.join(flags)}]" if flags else ""), markup=False)
        credits = {c.lab: c for c in score.credits}
        for lab_id in score.assessed_by:
            credit = credits.get(lab_id)
            if credit is None:
                out.print(f"  {lab_id}: not tried (counts 0)", markup=False)
                continue
            offered = credit.offered_points
            weight = levels.get(lab_id, 1) * offered
            note = "".join([" stale" if credit.stale else "", " older version" if credit.older_version else ""])
            out.print(f"  {lab_id}: {levels.get(lab_id, 1)} x {offered:g} pts, attempted {credit.attempted_points:g},"
                      f" credit {credit.credit:.4g} -> {weight * credit.credit:.4g} of {weight:g}{note}", markup=False)


def upgrade(
    lab_ids: Optional[list[str]] = typer.Argument(None, help="Labs to re-grade (default: every lab whose evidence is from an older version)."),  # noqa: UP045
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list the labs graded under an older version."),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-grade your current files under each lab's installed version; earlier attempts stay in the history."""
    from ..core import learner

    workspace = _workspace()
    out = console()
    if dry_run:
        outdated = learner.outdated_labs(workspace)
        if as_json:
            print_json([{"lab": lab.id, "version": lab.spec.version} for lab in outdated])
        elif outdated:
            out.print("Graded under an older version: " + ", ".join(f"{lab.id} (now v{lab.spec.version})" for lab in outdated))
        else:
            out.print("Every lab's evidence is from its installed version.")
        return
    from ..llm.grading import install as install_model_hook

    install_model_hook()
    outcomes = learner.upgrade(workspace, lab_ids, on_event=None if as_json else print_check_event)
    if as_json:
        print_json([{"lab": o.lab, "from_version": o.from_version, "to_version": o.to_version, "skipped": o.skipped,
                     "status": o.result.status if o.result else None, "score": o.result.score if o.result else None}
                    for o in outcomes])
    elif not outcomes:
        out.print("Nothing to upgrade: every lab's evidence is from its installed version.")
    for o in outcomes if not as_json else []:
        was = f"v{o.from_version}" if o.from_version else "an unrecorded version"
        if o.skipped:
            out.print(f"[yellow]{o.lab}: skipped[/] ({o.skipped})")
        else:
            out.print(f"{o.lab}: {was} -> v{o.to_version}, {o.result.status} {o.result.score:.0%}")
    raise typer.Exit(0 if all(o.result is not None for o in outcomes) else 1)


def progress(as_json: bool = JSON_OPT) -> None:
    """Your attempts, best scores, hints and solutions per lab."""
    from ..core.learner import lab_rows

    workspace = _workspace()
    hints = workspace.progress.all_hints()
    solutions = workspace.progress.solutions_viewed()
    rows = [dict(row, hints=hints.get(row["id"], 0), solution_viewed=row["id"] in solutions)
            for row in lab_rows(workspace) if row["status"] != "not started"]
    if as_json:
        print_json({"workspace": str(workspace.root), "labs": rows})
        return
    from rich.table import Table

    table = Table("lab", "status", "attempts", "best", "hints", "solution", box=None, header_style="bold")
    for row in rows:
        best = f"{row['best_score']:.0%}" if row["best_score"] is not None else "-"
        table.add_row(row["id"], row["status"], str(row["attempts"]), best, str(row["hints"]),
                      "viewed" if row["solution_viewed"] else "-")
    console().print(f"Workspace {workspace.root}")
    console().print(table if rows else "No lab started yet: 'workbench start LAB'.")


def register(app: typer.Typer) -> None:
    """Attach the learner commands to the root app."""
    for command in (init, labs, roadmap, start, check, hint, reset, solution, skills, upgrade, progress):
        app.command()(command)
