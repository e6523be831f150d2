"""Pilot tests: the learner loop driven through the keyboard, asserting on app state."""

from __future__ import annotations

import pytest

from .conftest import GREET_SOLUTION, GREET_STARTER, fake_result, wait_for

SIZE = (100, 30)
pytestmark = pytest.mark.anyio


def _lab_screen(app):
    from workbench.tui.screens.lab import LabScreen

    assert isinstance(app.screen, LabScreen), f"expected the lab screen, got {app.screen!r}"
    return app.screen


def _checks(app):
    from workbench.tui.widgets.check_results import CheckResults

    return app.screen.query_one(CheckResults)


async def test_roadmap_keyboard_navigation_search_and_open(tui_workspace, make_app):
    from workbench.tui.screens.roadmap import RoadmapScreen
    from workbench.tui.widgets.roadmap_tree import RoadmapTree

    app = make_app(tui_workspace)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, RoadmapScreen)
        tree = app.screen.query_one(RoadmapTree)
        await wait_for(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data.get("kind") == "lab")
        assert tree.lab_count == 2
        assert tree.cursor_node.data["id"] == "greet-lab"  # the first lab not started
        phases = [node.data["title"] for node in tree.root.children]
        assert phases[0] == "Foundations" and phases[-1] == "Continuous development" and len(phases) == 5

        await pilot.press("down", "down")  # greet-lab -> next topic -> mean-lab
        assert tree.cursor_node.data["id"] == "mean-lab"
        await pilot.press("up", "up")
        assert tree.cursor_node.data["id"] == "greet-lab"

        await pilot.press("slash", *"average")
        assert tree.lab_count == 1
        await pilot.press("enter")  # leaves the search box on the only match
        await wait_for(pilot, lambda: tree.has_focus and tree.cursor_node.data.get("id") == "mean-lab")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "mean-lab")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RoadmapScreen))

        await pilot.press("slash", *"zzz")
        assert tree.lab_count == 0
        await pilot.press("escape")  # clears the search
        assert tree.lab_count == 2


async def test_start_check_live_results_and_hints(tui_workspace, make_app):
    from workbench.tui.widgets.lab_header import LabHeader

    app = make_app(tui_workspace, open_lab="greet-lab")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        screen = _lab_screen(app)
        await pilot.press("c")  # not started yet: nothing graded
        assert _checks(app).runs_seen == 0

        await pilot.press("s")
        assert (tui_workspace.root / "greet-lab" / "greet.py").read_text() == GREET_STARTER
        assert screen.query_one(LabHeader).info["status"] == "in progress"

        await pilot.press("c")
        checks = _checks(app)
        # live: the first check's result is on screen while the run is still going
        await wait_for(pilot, lambda: checks.checks.get(1, {}).get("status") == "fail" and checks.run_state == "running")
        assert screen.query_one(LabHeader).grading
        first = checks.checks[1]
        assert first["points"] == 0 and first["skill"] == "programming" and first["metrics"] == {"length": 0}
        assert "returned ''" in first["message"] and first["duration_s"] >= 0
        await wait_for(pilot, lambda: checks.run_state == "done")
        assert checks.verdict == "fail" and checks.checks[2]["status"] == "fail"
        await wait_for(pilot, lambda: not screen.grading)
        assert screen.query_one(LabHeader).info["attempts"] == 1

        await pilot.press("h")
        assert tui_workspace.progress.hints_revealed("greet-lab") == [1]
        assert "f-string" in str(screen.query_one("#hint-text").render())
        await pilot.press("h", "h")
        assert tui_workspace.progress.hints_revealed("greet-lab") == [1, 2]
        assert screen.query_one(LabHeader).info["hints_revealed"] == 2


async def test_watch_mode_regrades_after_a_file_write(tui_workspace, make_app):
    from workbench.core.labs import get_lab
    from workbench.tui.screens.roadmap import RoadmapScreen
    from workbench.tui.screens.skills import SkillsScreen
    from workbench.tui.widgets.lab_header import LabHeader
    from workbench.tui.widgets.lab_panels import SolutionView

    tui_workspace.start(get_lab("greet-lab"))
    app = make_app(tui_workspace, open_lab="greet-lab")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        screen = _lab_screen(app)
        checks = _checks(app)
        await pilot.press("w")
        assert screen.watching and screen.query_one(LabHeader).watching
        await wait_for(pilot, lambda: checks.runs_seen == 1 and checks.run_state == "done" and not screen.grading)
        assert checks.verdict == "fail"

        (tui_workspace.root / "greet-lab" / "greet.py").write_text(GREET_SOLUTION)
        await wait_for(pilot, lambda: checks.runs_seen == 2 and checks.run_state == "done" and not screen.grading)
        assert checks.verdict == "pass"
        assert screen.query_one(LabHeader).info["status"] == "passed"

        await pilot.press("w")
        assert not screen.watching and not screen.query_one(LabHeader).watching

        await pilot.press("v")  # passed: the solution opens without asking
        assert "Hello" in screen.query_one(SolutionView).shown_files["greet.py"]
        assert tui_workspace.progress.solutions_viewed() == {"greet-lab": False}

        await pilot.press("escape")
        roadmap = app.screen
        assert isinstance(roadmap, RoadmapScreen)
        assert roadmap.roadmap_data["labs_passed"] == 1
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, SkillsScreen))
        assert app.screen.scores["programming"].proficiency == 100.0


async def test_reset_asks_then_restores_the_starter(tui_workspace, make_app):
    from workbench.core.labs import get_lab
    from workbench.tui.screens.dialogs import ConfirmDialog

    tui_workspace.start(get_lab("greet-lab"))
    learner_file = tui_workspace.root / "greet-lab" / "greet.py"
    learner_file.write_text("# my work\n")
    app = make_app(tui_workspace, open_lab="greet-lab")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert learner_file.read_text() == "# my work\n"

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: learner_file.read_text() == GREET_STARTER)
        backups = list((tui_workspace.state_dir / "backups").iterdir())
        assert len(backups) == 1 and (backups[0] / "greet.py").read_text() == "# my work\n"


async def test_without_a_workspace_it_opens_and_offers_to_create_one(data_dir, isolated_home, make_app):
    from workbench.tui.screens.dialogs import CreateWorkspaceDialog
    from workbench.tui.widgets.nav_bar import NavBar

    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.roadmap_data["labs_total"] == 2
        assert "no workspace" in str(app.screen.query_one(NavBar).render())
        app.open_lab("greet-lab")
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        await pilot.press("c")  # explains instead of failing
        assert app.workspace is None
        await pilot.press("escape", "i")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateWorkspaceDialog))
        assert app.screen.query_one("#workspace-path").value == "~/ai-labs"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.workspace is not None)
        assert app.workspace.root == (isolated_home / "ai-labs").resolve()
        assert app.screen.query_one(NavBar).workspace_label == "~/ai-labs"


def test_workspace_discovery_falls_back_to_home_ai_labs(data_dir, isolated_home, tmp_path, monkeypatch):
    from workbench.core.workspace import init_workspace
    from workbench.tui.startup import discover_workspace

    monkeypatch.chdir(tmp_path)
    assert discover_workspace() == (None, None)
    init_workspace(isolated_home / "ai-labs")
    workspace, problem = discover_workspace()
    assert workspace is not None and workspace.root == (isolated_home / "ai-labs").resolve() and problem is None
    here, _ = init_workspace(tmp_path / "here")
    monkeypatch.chdir(here.root)
    assert discover_workspace()[0].root == here.root


async def test_skills_screen_shows_evidence_and_weakest_critical_labs(tui_workspace, make_app):
    from workbench.tui.screens.skills import SkillsScreen
    from workbench.tui.widgets.skill_table import SkillTable

    tui_workspace.progress.record_attempt(fake_result(greet_points=2.0, shout_points=0.0), lab_version=1)
    app = make_app(tui_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, SkillsScreen))
        screen = app.screen
        table = screen.query_one(SkillTable)
        assert table.row_count == 12
        assert screen.scores["programming"].proficiency == pytest.approx(66.7, abs=0.1)
        detail = str(screen.query_one("#skill-detail").render())
        assert "Greetings: credit 67%" in detail and "✓ 2/2 greet() says hello by name" in detail
        assert "Evidence: 3 of 3 points attempted (low evidence: below 10)" in detail
        assert "○ JavaScript/TypeScript" in detail and "3 not assessed by any check yet." in detail
        assert str(table.get_row("programming")[4]) == "3/3 low"
        options = screen.query_one("#skill-recommendations")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["mean-lab", "greet-lab"]  # ml-fundamentals (0) is weaker than programming (67)
        await pilot.press("tab", "enter")  # focus the suggestions, open the first
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "mean-lab")
        assert app.current_mode == "roadmap"


async def test_backend_panel_degrades_without_the_backend_layer(tui_workspace, make_app, monkeypatch):
    from workbench.tui import backend_adapter
    from workbench.tui.screens.backend import BackendScreen

    def missing():
        raise ImportError("no workbench.llm")

    monkeypatch.setattr(backend_adapter, "_llm_modules", missing)
    result = fake_result()
    result.llm_calls = [{"model": "openai/local", "completion_tokens": 40, "latency_ms": 500.0}]
    tui_workspace.progress.record_attempt(result)
    app = make_app(tui_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, BackendScreen) and app.screen.status is not None)
        status = app.screen.status
        assert not status.available and status.detail == backend_adapter.NOT_INSTALLED
        assert "not installed" in str(app.screen.query_one("#backend-status").render())
        assert status.recent_calls[0].tokens_per_s == pytest.approx(80.0)
        await pilot.press("u")
        await wait_for(pilot, lambda: not app.screen.busy)


async def test_backend_panel_starts_and_stops_through_the_adapter(tui_workspace, make_app, monkeypatch):
    from types import SimpleNamespace

    from workbench.tui import backend_adapter
    from workbench.tui.screens.backend import BackendScreen

    calls = []
    state = {"value": "stopped"}

    def up():
        calls.append("up")
        state["value"] = "running"
        return SimpleNamespace(already_running=False, startup_s=1.5, tokens_per_s=120.0)

    def down():
        calls.append("down")
        state["value"] = "stopped"
        return SimpleNamespace(message="stopped the embedded server")

    server = SimpleNamespace(status=lambda: SimpleNamespace(state=state["value"], info=None, detail=state["value"]),
                             up=up, down=down)
    monkeypatch.setattr(backend_adapter, "_llm_modules", lambda: (None, server))
    app = make_app(tui_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, BackendScreen) and app.screen.status is not None)
        assert app.screen.status.server == "stopped"
        await pilot.press("u")
        await wait_for(pilot, lambda: app.screen.status.server == "running" and not app.screen.busy)
        await pilot.press("d")
        await wait_for(pilot, lambda: app.screen.status.server == "stopped" and not app.screen.busy)
        assert calls == ["up", "down"]


async def test_help_screen_and_command_palette(tui_workspace, make_app):
    from workbench.tui.screens.help import HelpScreen
    from workbench.tui.screens.skills import SkillsScreen

    app = make_app(tui_workspace, open_lab="greet-lab")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Run checks", "Toggle watch mode", "Reveal next hint", "Skills", "Backend panel",
                      "Open lab: Average of a list", "Start model server"):
            assert title in titles
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = " ".join(f"{key} {what}" for key, what in app.screen.rows)
        for line in ("Check", "Watch", "Hint", "Reset", "Solution", "Skills", "ctrl+p"):
            assert line in keys
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"Skills")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SkillsScreen))


@pytest.mark.parametrize("keys", [(), ("2",), ("3",)], ids=["roadmap", "skills", "backend"])
async def test_main_screens_fit_80x24(tui_workspace, make_app, keys):
    app = make_app(tui_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        await pilot.pause(0.2)
        footer = app.screen.query_one("Footer")
        assert footer.region.y == 23 and footer.region.height == 1
        for widget in app.screen.query("NavBar, #roadmap-tree, SkillTable, #skill-recommendations, #backend-status"):
            assert widget.region.height >= 1 and widget.region.bottom <= 23, widget


async def test_lab_screen_fits_80x24(tui_workspace, make_app):
    from workbench.core.labs import get_lab
    from workbench.tui.widgets.lab_header import LabHeader

    tui_workspace.start(get_lab("greet-lab"))
    app = make_app(tui_workspace, open_lab="greet-lab")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "lab_id", None) == "greet-lab")
        header = app.screen.query_one(LabHeader)
        assert header.region.height == 3
        assert "~/ai-labs/greet-lab/greet.py" in str(header.render())
        brief = app.screen.query_one("#brief-scroll")
        assert brief.region.height >= 10



async def test_no_color_is_honoured(tui_workspace, make_app, monkeypatch):
    from textual.filter import Monochrome, NoColor

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tui_workspace)
    async with app.run_test(size=SIZE):
        assert app.no_color
        assert any(isinstance(f, (Monochrome, NoColor)) for f in app._filters)


def test_prefetch_reads_the_roadmap_in_a_child(tui_workspace, monkeypatch):
    from workbench.tui.startup import RoadmapPrefetch

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tui_workspace.root))
    prefetch = RoadmapPrefetch.start(None)
    found = prefetch.result()
    assert found["workspace_root"] == str(tui_workspace.root)
    assert found["roadmap"]["labs_total"] == 2 and found["problem"] is None
    prefetch.close()
    unread = RoadmapPrefetch.start(None)
    unread.close()  # reaps the child without reading
