"""Evidence commands: `export` (signed result bundle), `bundle verify`, and `report` (team
readiness from many bundles). Thin: parse, call workbench.core.bundle / .team, show the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ._ui import console, err_console, print_json

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")
bundle_app = typer.Typer(no_args_is_help=True, help="Signed result bundles: verify them.")


def export(
    out: Optional[Path] = typer.Option(  # noqa: UP045 - Typer needs Optional on 3.10
        None, "--out", "-o", help="Bundle file (or folder) to write; default: workbench-bundle-NAME-TIME.json here."),
    name: Optional[str] = typer.Option(  # noqa: UP045
        None, "--name", help="Your display name in reports (remembered); default: the last one, else git user.name, else your login."),
    as_json: bool = JSON_OPT,
) -> None:
    """Export your graded evidence as a signed bundle for your team lead (key created on first use)."""
    from ..core.bundle import export_bundle
    from ..core.resources import config_dir
    from ..core.workspace import find_workspace

    outcome = export_bundle(find_workspace(), out, name=name)
    if as_json:
        print_json({"path": str(outcome.path), "learner_id": outcome.learner_id, "name": outcome.name,
                    "key": outcome.fingerprint, "public_key": outcome.public_key, "key_created": outcome.key_created, "labs": outcome.labs,
                    "checks": outcome.checks, "warnings": outcome.warnings})
        return
    out_console = console()
    if outcome.key_created:
        out_console.print(f"Created your signing key in {config_dir()} (keep it; it identifies your bundles).", soft_wrap=True)
    out_console.print(f"Wrote [bold]{outcome.path}[/]: {outcome.labs} lab(s), {outcome.checks} check(s), "
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
) -> None:
    """Team readiness from learners' bundles: verifies each, never counts one that fails, and lists why."""
    from ..core.errors import WorkbenchError
    from ..core.team import team_report

    chosen = fmt or {".md": "md", ".markdown": "md", ".json": "json"}.get(out.suffix.lower() if out else "", "html")
    if chosen not in ("html", "md", "json"):
        raise WorkbenchError(f"unknown format '{chosen}'", hint="use --format html, md or json")
    model = team_report(paths, curriculum_id=curriculum, trusted_keys=trusted_keys, anonymize=anonymize,
                        min_group=min_group, title=title, exclude=out, stale_after_months=stale_after_months)
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


def register(app: typer.Typer) -> None:
    """Attach `export`, `bundle verify` and `report` to the root app."""
    app.command()(export)
    app.command()(report)
    app.add_typer(bundle_app, name="bundle", help="Signed result bundles: verify them.")
