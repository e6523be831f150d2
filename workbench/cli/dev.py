"""Authoring commands: `workbench dev verify` proves each lab's starter fails and solution passes."""

from __future__ import annotations

from typing import Optional

import typer

from ._ui import console, print_json

app = typer.Typer(no_args_is_help=True)


@app.command()
def verify(
    lab_ids: Optional[list[str]] = typer.Argument(None, help="Lab ids (default: every lab)."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Grade each lab's starter (must fail), solution (must score 100%) and mutants (must fail)."""
    from ..core.labs import get_lab, load_labs
    from ..core.verify import verify_lab

    labs = [get_lab(lab_id) for lab_id in lab_ids] if lab_ids else list(load_labs().values())
    outcomes = []
    out = console()
    for lab in labs:
        if not as_json:
            out.print(f"[bold]{lab.id}[/] …", end=" ")
        from ..llm.grading import install as install_model_hook

        install_model_hook()
        outcome = verify_lab(lab)
        outcomes.append(outcome)
        if not as_json:
            verdict = "[green]ok[/]" if outcome.ok else "[red]BROKEN[/]"
            out.print(f"{verdict} starter {outcome.starter.score:.0%} · solution {outcome.solution.score:.0%} "
                      f"[dim]({outcome.starter.duration_s + outcome.solution.duration_s:.1f}s)[/]")
            for mutant in outcome.mutants:
                mark = "[green]caught[/]" if mutant.result.status != "pass" else "[red]PASSES[/]"
                out.print(f"   mutant {mutant.name}: {mark} [dim]({mutant.caught_by}; {mutant.defect})[/]")
            for problem in outcome.problems:
                out.print(f"   [red]{problem}[/]")
    if as_json:
        print_json([{"lab": o.lab, "ok": o.ok, "problems": o.problems, "starter_score": o.starter.score,
                     "solution_score": o.solution.score, "starter_s": o.starter.duration_s,
                     "solution_s": o.solution.duration_s,
                     "mutants": [{"name": m.name, "defect": m.defect, "status": m.result.status, "score": m.result.score,
                                  "caught_by": m.caught_by} for m in o.mutants]} for o in outcomes])
    raise typer.Exit(0 if all(o.ok for o in outcomes) else 1)
