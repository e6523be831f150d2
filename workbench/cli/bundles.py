"""Evidence commands: `export` (signed result bundle), `bundle verify`, and `report` (team
readiness from many bundles). Thin: parse, call workbench.core.bundle / .team, show the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ._ui import console, err_console, print_json

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")
LEDGER_OPT = typer.Option(None, "--ledger", help="The lead's key -> learner-id ledger (created on first use;"
                          " default: team-ledger.json in the config dir). Ignored with --trusted-keys.")
EXECUTOR_OPT = typer.Option("local", "--executor", help="Where re-grading runs: local (a process pool) or ray.")
ADDRESS_OPT = typer.Option(None, "--address", help="With --executor ray: auto or HOST:PORT of the cluster (default: a local Ray).")
WORKERS_OPT = typer.Option(None, "--workers", min=1, help="With --executor local: worker processes (default: one per core).")
UNSANDBOXED_OPT = typer.Option(False, "--allow-unsandboxed",
                               help="Re-grade even without the bwrap sandbox (only on a throwaway machine).")


bundle_app = typer.Typer(no_args_is_help=True, help="Signed result bundles: verify them, re-grade the work they carry.")


def export(
    out: Optional[Path] = typer.Option(  # noqa: UP045 - Typer needs Optional on 3.10
        None, "--out", "-o", help="Bundle file (NAME.json) or folder to write into (made if missing; any path without a suffix is a folder); default: workbench-bundle-NAME-TIME.json here."),
    name: Optional[str] = typer.Option(  # noqa: UP045
        None, "--name", help="Your display name in reports (remembered); default: the last one, else git user.name, else your login."),
    as_json: bool = JSON_OPT,
) -> None:
    """Export your graded evidence, with the files behind each lab's best attempt, as a signed bundle
    for your team lead (key created on first use)."""
    from ..core.bundle import export_bundle
    from ..core.resources import config_dir
    from ..core.workspace import find_workspace

    outcome = export_bundle(find_workspace(), out, name=name)
    if as_json:
        print_json({"path": str(outcome.path), "learner_id": outcome.learner_id, "name": outcome.name,
                    "key": outcome.fingerprint, "public_key": outcome.public_key, "key_created": outcome.key_created, "labs": outcome.labs,
                    "checks": outcome.checks, "files": outcome.files, "bytes": outcome.bytes, "warnings": outcome.warnings})
        return
    out_console = console()
    if outcome.key_created:
        out_console.print(f"Created your signing key in {config_dir()} (keep it; it identifies your bundles).", soft_wrap=True)
    out_console.print(f"Wrote [bold]{outcome.path}[/]: {outcome.labs} lab(s), {outcome.checks} check(s), "
                      f"{outcome.files} file(s) of work ({outcome.bytes / 1024:.0f} KiB) for your lead to re-grade, "
                      f"signed as {outcome.name} with key {outcome.fingerprint}", soft_wrap=True)
    out_console.print(f"[dim]Public key (for your lead's --trusted-keys file): {outcome.public_key}[/]", soft_wrap=True)
    for warning in outcome.warnings:
        out_console.print(f"[yellow]warning:[/] {warning}")


@bundle_app.command("verify")
def verify(
    files: list[Path] = typer.Argument(..., help="Bundle files (or folders of *.json).", show_default=False),
    curriculum: str = typer.Option("ai-engineer-2026", "--curriculum", help="Curriculum the bundles must be for."),
    trusted_keys: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--trusted-keys", help="File of 'PUBLIC_KEY [LEARNER_ID]' lines (keys as 'export' prints them); others are rejected."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check each bundle's signature, schema and grader hashes against the installed graders. Exit 1 if any fails."""
    from ..core.bundle import Rejection, installed_state, verify_file
    from ..core.keys import load_trusted_keys
    from ..core.team import collect_bundle_files

    state = installed_state(curriculum)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    results = [verify_file(path, state, trusted, source) for path, source in collect_bundle_files(files)]
    rows = []
    for result in results:
        if isinstance(result, Rejection):
            rows.append({"file": result.source, "ok": False, "reason": result.reason, "detail": result.detail,
                         "learner_id": result.learner_id})
        else:
            payload = result.payload
            rows.append({"file": result.source, "ok": True, "learner_id": payload.learner.id, "name": payload.learner.name,
                         "key": result.fingerprint, "public_key": payload.learner.public_key,
                         "exported_at": payload.exported_at.isoformat(), "labs": len(payload.labs)})
    if as_json:
        print_json(rows)
    else:
        from rich.markup import escape

        out = console()
        for row in rows:
            if row["ok"]:
                out.print(f"[green]✓[/] {escape(row['file'])} [dim]— {escape(row['name'])}, {row['labs']} lab(s), "
                          f"exported {row['exported_at'][:10]}, key {row['key']}[/]", soft_wrap=True)
            else:
                out.print(f"[red]✗[/] {escape(row['file'])} — [red]{row['reason']}[/]: {escape(row['detail'])}", soft_wrap=True)
    raise typer.Exit(0 if all(row["ok"] for row in rows) else 1)


def report(
    paths: list[Path] = typer.Argument(..., help="Bundle files or folders (every *.json inside is read).", show_default=False),
    fmt: Optional[str] = typer.Option(  # noqa: UP045
        None, "--format", "-f", help="html, md or json (default: from --out's suffix, else html)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),  # noqa: UP045
    trusted_keys: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--trusted-keys", help="File of 'PUBLIC_KEY [LEARNER_ID]' lines (keys as 'export' prints them): count only these."),
    anonymize: bool = typer.Option(False, "--anonymize", help="Name nobody: no heatmap, trends or file names; only aggregates."),
    min_group: int = typer.Option(5, "--min-group", min=1, help="With --anonymize, hide figures over fewer members."),
    curriculum: str = typer.Option("ai-engineer-2026", "--curriculum", help="Curriculum to report against."),
    title: Optional[str] = typer.Option(None, "--title", help="Report title."),  # noqa: UP045
    stale_after_months: int = typer.Option(12, "--stale-after-months", min=1, max=120,
                                           help="Evidence whose newest check is older than this is flagged stale."),
    ledger: Optional[Path] = LEDGER_OPT,  # noqa: UP045
    regrade: bool = typer.Option(False, "--regrade", help="Re-grade the work each bundle carries (sandboxed) and count those scores."),
    executor: str = EXECUTOR_OPT,
    address: Optional[str] = ADDRESS_OPT,  # noqa: UP045
    workers: Optional[int] = WORKERS_OPT,  # noqa: UP045
    allow_unsandboxed: bool = UNSANDBOXED_OPT,
) -> None:
    """Team readiness from learners' bundles: verifies each, never counts one that fails, and lists why.
    With --regrade the carried work is graded again here and counted as verified."""
    from ..core.errors import WorkbenchError
    from ..core.team import team_report

    chosen = fmt or {".md": "md", ".markdown": "md", ".json": "json"}.get(out.suffix.lower() if out else "", "html")
    if chosen not in ("html", "md", "json"):
        raise WorkbenchError(f"unknown format '{chosen}'", hint="use --format html, md or json")
    options, progress = _regrade_options(executor, address, workers, allow_unsandboxed) if regrade else (None, None)
    try:
        model = team_report(paths, curriculum_id=curriculum, trusted_keys=trusted_keys, anonymize=anonymize,
                            min_group=min_group, title=title, exclude=out, stale_after_months=stale_after_months,
                            ledger_path=ledger, regrade=options)
    except KeyboardInterrupt:
        raise WorkbenchError("re-grading interrupted: every finished grade is cached",
                             hint="run the same command again to resume") from None
    finally:
        if progress is not None:
            progress.stop()
    from ..reports import render_report

    text = render_report(model, chosen)
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    summary = model.summary
    reasons = ", ".join(f"{n} {reason}" for reason, n in summary.rejected_by_reason.items())
    err_console().print(f"report: {summary.members} member(s) counted, {summary.rejected} bundle(s) rejected"
                        + (f" ({reasons})" if reasons else "") + (f" -> {out}" if out else ""), soft_wrap=True)
    check = model.verification
    if check.regraded:
        err_console().print(f"regrade: {check.verified} lab(s) verified ({check.from_cache} from cache), {check.self_reported}"
                            f" self-reported, {check.mismatches} mismatch(es), {check.copy_flags} copy flag(s)", soft_wrap=True)


def _regrade_options(executor: str, address: str | None, workers: int | None, allow_unsandboxed: bool):  # noqa: ANN202
    """RegradeOptions with a progress bar (ETA) on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ..core.team import RegradeOptions

    progress = Progress(TextColumn("re-grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                        console=err_console(), transient=False)
    task: list[int] = []

    def on_start(total: int, cached: int) -> None:
        progress.start()
        task.append(progress.add_task("regrade", total=total, completed=cached, last=f"({cached} cached)" if cached else ""))

    def on_result(job, result: dict, from_cache: bool) -> None:  # noqa: ANN001
        if task and not from_cache:
            progress.update(task[0], advance=1, last=f"{job.label}: {result.get('status')} {result.get('score', 0):.0%}")

    from ..llm.grading import (
        install,  # each worker's model hook: its node's embedded server, or the configured backend
    )

    return RegradeOptions(executor=executor, workers=workers, address=address, allow_unsandboxed=allow_unsandboxed,
                          on_start=on_start, on_result=on_result, setup=install), progress


@bundle_app.command("regrade")
def bundle_regrade(
    files: list[Path] = typer.Argument(..., help="Bundle files (or folders of *.json).", show_default=False),
    curriculum: str = typer.Option("ai-engineer-2026", "--curriculum", help="Curriculum the bundles must be for."),
    trusted_keys: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--trusted-keys", help="File of 'PUBLIC_KEY LEARNER_ID [NAME]' lines; other keys are rejected."),
    ledger: Optional[Path] = LEDGER_OPT,  # noqa: UP045
    executor: str = EXECUTOR_OPT,
    address: Optional[str] = ADDRESS_OPT,  # noqa: UP045
    workers: Optional[int] = WORKERS_OPT,  # noqa: UP045
    allow_unsandboxed: bool = UNSANDBOXED_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Re-grade the work bundles carry with the installed graders; list what is verified, what is
    only self-reported and every mismatch. Exit 1 if any self-reported pass does not hold."""
    from ..core.errors import WorkbenchError
    from ..core.team import team_report

    options, progress = _regrade_options(executor, address, workers, allow_unsandboxed)
    try:
        model = team_report(files, curriculum_id=curriculum, trusted_keys=trusted_keys, ledger_path=ledger, regrade=options)
    except KeyboardInterrupt:
        raise WorkbenchError("re-grading interrupted: every finished grade is cached",
                             hint="run the same command again to resume") from None
    finally:
        progress.stop()
    rows = [{"learner_id": m.id, "name": m.name, "source": m.source, **lab.model_dump()} for m in model.members for lab in m.labs]
    if as_json:
        print_json({"verification": model.verification.model_dump(), "labs": rows,
                    "mismatches": [x.model_dump() for x in model.mismatches],
                    "copy_flags": [x.model_dump() for x in model.copy_flags],
                    "rejected": [x.model_dump() for x in model.rejected]})
    else:
        from rich.markup import escape

        out = console()
        for row in rows:
            mark = "[green]verified[/]" if row["evidence"] == "verified" else "[yellow]self-reported[/]"
            score = f"{row['score']:.0%}" if row["score"] is not None else "-"
            claimed = f"{row['self_reported_score']:.0%}" if row["self_reported_score"] is not None else "-"
            out.print(f"{escape(row['name'])} / {row['lab']}: {mark} {score} (self-reported {claimed})"
                      + (f" [dim]{escape(row['why'])}[/]" if row["why"] else ""), soft_wrap=True)
        for miss in model.mismatches:
            out.print(f"[red]mismatch[/] {escape(miss.name)} / {miss.lab} / {escape(miss.check)}: self-reported {miss.self_reported}"
                      f" ({miss.self_reported_points}), re-graded {miss.regraded} ({miss.regraded_points})", soft_wrap=True)
        for flag in model.copy_flags:
            out.print(f"[yellow]similar[/] {flag.lab}: {escape(flag.name)} ~ {escape(flag.other_name)} ({flag.similarity:.0%})", soft_wrap=True)
        for rejection in model.rejected:
            out.print(f"[red]rejected[/] {escape(rejection.source)}: {rejection.reason}: {escape(rejection.detail)}", soft_wrap=True)
    raise typer.Exit(1 if model.mismatches else 0)


def register(app: typer.Typer) -> None:
    """Attach `export`, `bundle verify` and `report` to the root app."""
    app.command()(export)
    app.command()(report)
    app.add_typer(bundle_app, name="bundle", help="Signed result bundles: verify them, re-grade the work they carry.")
