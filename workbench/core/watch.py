"""Watch mode: re-grade a lab every time the learner saves, debounced, surviving errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from .grading import EventCallback
from .labs import Lab
from .results import GradeResult
from .workspace import Workspace

DEBOUNCE_MS = 150
_WATCHED_SUFFIXES = (".py", ".toml", ".json", ".yaml", ".yml", ".txt", ".md", ".cfg", ".ini")


def relevant_change(path: str) -> bool:
    """Ignore caches, editor swap files and hidden files."""
    parts = Path(path).parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return False
    return path.endswith(_WATCHED_SUFFIXES)


def watch_lab(
    workspace: Workspace,
    lab: Lab,
    *,
    on_event: EventCallback | None = None,
    on_result: Callable[[GradeResult], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    stop: threading.Event | None = None,
    grade_first: bool = True,
) -> None:
    """Grade now (optionally), then again after each batch of saved changes until `stop` is set
    or Ctrl-C. Errors are reported through `on_error` and watching goes on."""
    from watchfiles import watch

    from .grading import GraderProcess
    from .learner import check

    lab_dir = workspace.lab_dir(lab.id)
    held: GraderProcess | None = None

    def run_once() -> None:
        nonlocal held
        process, held = held, None
        try:
            result = check(workspace, lab, on_event=on_event, process=process)
        except Exception as exc:  # noqa: BLE001 - watch mode must survive anything a run throws
            if on_error is not None:
                on_error(exc)
            return
        finally:
            held = _hold(lab, lab_dir, workspace.root, process)
        if on_result is not None:
            on_result(result)

    if grade_first:
        run_once()
    else:
        held = _hold(lab, lab_dir, workspace.root)
    try:
        for changes in watch(
            lab_dir, watch_filter=lambda _change, path: relevant_change(path), debounce=DEBOUNCE_MS, step=30,
            stop_event=stop, rust_timeout=500, yield_on_timeout=False, raise_interrupt=False,
        ):
            if changes:
                run_once()
    finally:
        if held is not None:
            held.close()


def _hold(lab: Lab, lab_dir: Path, workspace_root: Path, previous=None):
    """Start the next grader now so that the next save is graded at once (same sandbox view and
    model route as the run before it)."""
    from .grading import GraderProcess, model_route_for
    from .snapshots import ObjectStore
    from .workspace import STATE_DIR

    try:
        route = previous.route if previous is not None else model_route_for(lab)
        return GraderProcess(lab, lab_dir, hold=True, workspace_root=workspace_root, route=route,
                             objects=ObjectStore(workspace_root / STATE_DIR / "objects"))
    except OSError:
        return None


__all__ = ["DEBOUNCE_MS", "relevant_change", "watch_lab"]
