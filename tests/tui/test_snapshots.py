"""A few snapshots of the main screens at 80x24 (NO_COLOR is set for every test, so they are
monochrome). Update after a deliberate change with `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

from .conftest import fake_result, wait_for

SIZE = (80, 24)


def _started(workspace) -> None:
    from workbench.core.labs import get_lab

    workspace.start(get_lab("greet-lab"))
    workspace.progress.record_attempt(fake_result(greet_points=2.0, shout_points=0.0), lab_version=1)


def test_roadmap_snapshot(tui_workspace, make_app, snap_compare):
    _started(tui_workspace)
    assert snap_compare(make_app(tui_workspace), terminal_size=SIZE)


def test_lab_screen_snapshot(tui_workspace, make_app, snap_compare):
    _started(tui_workspace)

    async def opened(pilot) -> None:
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "lab_id", None) == "greet-lab")

    assert snap_compare(make_app(tui_workspace, open_lab="greet-lab"), terminal_size=SIZE, run_before=opened)


def test_lab_checks_tab_snapshot(tui_workspace, make_app, snap_compare):
    _started(tui_workspace)

    async def opened(pilot) -> None:
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "lab_id", None) == "greet-lab")
        pilot.app.screen.query_one("TabbedContent").active = "tab-checks"

    assert snap_compare(make_app(tui_workspace, open_lab="greet-lab"), terminal_size=SIZE, run_before=opened)


def test_skills_snapshot(tui_workspace, make_app, snap_compare):
    _started(tui_workspace)
    assert snap_compare(make_app(tui_workspace), press=["2"], terminal_size=SIZE)
