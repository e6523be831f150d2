"""The HTML report opened in headless Chromium: the DOM it builds, and a screenshot written to
tests/.artifacts/ for a person to look at. Skipped, with the reason, where Chromium is missing
(CI installs Debian's `chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_bundle import shared_team_scenario, toy_data  # noqa: F401 - toy_data is a fixture

ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"
CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


@pytest.fixture
def html_report(toy_data, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> Path:
    from workbench.core.team import team_report
    from workbench.reports import render_report

    built = shared_team_scenario(tmp_path_factory)
    built.install_ledger()
    monkeypatch.chdir(built.folder.parent)
    report = team_report([Path("bundles")], generated_at="2026-04-15T08:00:00+00:00", title="Team readiness — platform team")
    path = tmp_path / "team-report.html"
    path.write_text(render_report(report, "html"), encoding="utf-8")
    return path


def test_html_is_self_contained(html_report: Path) -> None:
    html = html_report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<svg" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must not load anything"
    assert "<link" not in html and "<script" not in html and "@import" not in html and "url(" not in html
    assert "@media print" in html and "print-color-adjust: exact" in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_html_report_in_headless_chromium(html_report: Path) -> None:
    dumped = _chromium("--dump-dom", html_report.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert '<div class="big" id="members-counted">6</div>' in dom
    assert '<div class="big" id="bundles-rejected">8</div>' in dom
    for member in ("Ada", "Alan", "Barbara", "Grace", "Linus", "Margaret"):
        assert f"<td>{member}</td>" in dom
    rejected = dom[dom.index('id="rejected"'):]
    for source, label in (("alan-edited-score.json", "edited content"), ("barbara-other-key.json", "bad signature"),
                          ("alan-own-grader.json", "unknown grader hash"), ("ada-impostor.json", "duplicate learner"),
                          ("linus-v3.json", "wrong format version"), ("grace-truncated.json", "not a bundle")):
        assert re.search(rf"{re.escape(source)}</code></td><td class=\"reason\">{label}</td>", rejected), source
    assert dom.index("Programming &amp; Software Engineering") < dom.index("Security &amp; Governance")

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "team-report.png"
    screenshot.unlink(missing_ok=True)
    shot = _chromium(f"--screenshot={screenshot}", "--window-size=1280,2000", html_report.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_regraded_html_report_shows_verified_and_self_reported_apart(toy_data, tmp_path: Path) -> None:  # noqa: F811
    """`workbench report bundles/ --regrade --format html`: the evidence table, the mismatch and
    the copy flag, as a browser shows them."""
    from conftest import run_cli
    from test_bundle import make_workspace, record
    from test_team_evidence import BROKEN, FULL, SOLUTION, export_at, graded

    folder = tmp_path / "bundles"
    folder.mkdir()
    long_solution = SOLUTION + "".join(f"\n\ndef helper_{i}(values):\n    total = 0\n    for value in values:\n"
                                       f"        total += value * {i} - (value // 3)\n    return total\n" for i in range(6))
    for seed, (name, code) in enumerate((("Ada", long_solution), ("Grace", BROKEN), ("Hedy", long_solution)), start=1):
        workspace = make_workspace(tmp_path / name.lower(), seed)
        graded(workspace, "toy-python", code, FULL["toy-python"])
        export_at(workspace, folder / f"{name.lower()}.json", name, seed)
    linus = make_workspace(tmp_path / "linus", 4)
    record(linus, "toy-ml", FULL["toy-ml"])  # graded before snapshots: no work to re-grade
    export_at(linus, folder / "linus.json", "Linus", 4)
    out = tmp_path / "team.html"
    result = run_cli("report", str(folder), "--regrade", "--format", "html", "--out", str(out),
                     env={"WORKBENCH_DATA_DIR": str(toy_data)}, timeout=300)
    assert result.returncode == 0, result.stderr
    dumped = _chromium("--dump-dom", out.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert '<div class="big" id="labs-verified">3/4</div>' in dom
    evidence = dom[dom.index('id="evidence"'):dom.index('id="members"')]
    assert evidence.count('<td class="ok">verified</td>') == 3
    assert '<td class="self">self-reported <span class="note">— no work attached (graded before snapshots)</span></td>' in evidence
    assert re.search(r"<td>Grace</td><td>toy-python</td><td>adds negative numbers</td><td>pass \(1/1\)</td>"
                     r"<td class=\"reason\">fail \(0\)</td>", evidence)
    assert re.search(r"<td>toy-python</td><td>Ada</td><td>Hedy</td><td class=\"num\">100%", evidence)

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "team-report-regraded.png"
    screenshot.unlink(missing_ok=True)
    shot = _chromium(f"--screenshot={screenshot}", "--window-size=1280,4400", out.as_uri())
    assert shot.returncode == 0 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
