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
                out.print(f"    {marks[lab['status']]} {lab['id']} [dim]— {lab['title']} · ~{lab['estimated_minutes']} min{score}[/]")


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
) -> None:
    """Grade your copy of a lab; each check is shown as it finishes. Exit 0 on pass, 1 otherwise."""
    from ..core import learner

    workspace = _workspace()
    lab = learner.resolve_lab(workspace, lab_id)
    if watch:
        _watch(workspace, lab)
        return
    from ..llm.grading import install as install_model_hook

    install_model_hook()
    result = learner.check(workspace, lab, on_event=None if as_json else print_check_event)
    if as_json:
        print_json(result.to_dict())
    else:
        print_result_summary(result)
        if result.status != "pass":
            console().print(f"[dim]Stuck? 'workbench hint {lab.id}' reveals the next hint.[/]")
    raise typer.Exit(0 if result.status == "pass" else 1)


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
    explain: bool = typer.Option(False, "--explain", help="Explain how proficiency is computed."),
) -> None:
    """Your proficiency per skill category, from graded evidence."""
    from ..core import learner
    from ..core import skills as skills_module

    if explain:
        console().print(skills_module.__doc__.strip())
        return
    rows = learner.skill_rows(learner.skills(_workspace(required=False)))
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("category", "tier", "proficiency", "level", "evidence", box=None, header_style="bold")
    for row in rows:
        value = row["proficiency"]
        bar = "-" if value is None else f"{'█' * round(value / 10):<10} {value:5.1f}"
        evidence = ", ".join(f"{e['lab']} {e['credit']:.0%}" for e in row["evidence"]) or "-"
        table.add_row(row["name"], row["tier"], bar, row["level"], evidence)
    console().print(table)


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
    for command in (init, labs, roadmap, start, check, hint, reset, solution, skills, progress):
        app.command()(command)
