"""Team readiness reports: golden Markdown and JSON, the documented schema, anonymity, profiles.

Golden files live in tests/golden/; after an intended change, regenerate them with
`WORKBENCH_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import REPO
from test_bundle import shared_team_scenario, toy_data  # noqa: F401 - toy_data is a fixture

GOLDEN = Path(__file__).resolve().parent / "golden"
GENERATED_AT = "2026-04-15T08:00:00+00:00"


@pytest.fixture
def scenario(toy_data, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """The shared team, with the working directory at its parent so sources read 'bundles/...'."""
    built = shared_team_scenario(tmp_path_factory)
    built.install_ledger()
    monkeypatch.chdir(built.folder.parent)
    return built


def _report(**options):
    from workbench.core.team import team_report

    options = {"generated_at": GENERATED_AT, **options}
    return team_report([Path("bundles")], title="Team readiness — platform team", **options)


def _assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("WORKBENCH_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with WORKBENCH_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (WORKBENCH_UPDATE_GOLDEN=1 updates it)"


def test_report_counts_the_honest_bundles_and_lists_every_tampered_one(scenario) -> None:
    report = _report()
    assert sorted(m.name for m in report.members) == ["Ada", "Alan", "Barbara", "Grace", "Linus", "Margaret"]
    assert {Path(r.source).name: r.reason for r in report.rejected} == scenario.tampered
    margaret = next(m for m in report.members if m.name == "Margaret")
    assert margaret.source == "bundles/margaret-april.json" and margaret.older_bundles == 1
    assert report.summary.model_dump() == {"files": 15, "members": 6, "older_bundles": 1, "rejected": 8,
                                           "rejected_by_reason": {"bad-signature": 1, "duplicate-bundle": 1,
                                                                  "duplicate-learner": 1, "edited-content": 1,
                                                                  "not-a-bundle": 2, "unknown-grader-hash": 1,
                                                                  "wrong-format-version": 1}}
    assert [c.tier for c in report.categories] == sorted((c.tier for c in report.categories),
                                                         key=["critical", "high", "emerging"].index)
    checks = report.checks
    assert checks[0].pass_rate == min(c.pass_rate for c in checks) and checks[-1].pass_rate == 1.0
    assert [g.tier for g in report.gaps] == sorted((g.tier for g in report.gaps), key=["critical", "high", "emerging"].index)
    [trend] = report.trends
    assert trend.name == "Margaret" and trend.change["generative-ai"] > 0


def test_markdown_matches_golden(scenario) -> None:
    from workbench.reports import render_report

    _assert_golden("team-report.md", render_report(_report(), "md"))


def test_json_matches_golden_and_the_documented_schema(scenario) -> None:
    from workbench.core.team import TeamReport
    from workbench.reports import render_report

    text = render_report(_report(), "json")
    _assert_golden("team-report.json", text)
    data = json.loads(text)
    assert TeamReport.model_validate(data).summary.members == 6
    documented = (REPO / "docs" / "report-schema.md").read_text()
    fields = set(TeamReport.model_json_schema()["properties"])
    for definition in TeamReport.model_json_schema()["$defs"].values():
        fields |= set(definition["properties"])
    missing = sorted(f for f in fields if not re.search(rf"`{f}`", documented))
    assert not missing, f"docs/report-schema.md does not document: {', '.join(missing)}"


def test_anonymized_report_names_nobody_and_hides_small_groups(scenario) -> None:
    from workbench.reports import render_report

    report = _report(anonymize=True)
    assert report.heatmap is None and report.members == [] and report.trends == [] and report.rejected == []
    assert report.summary.rejected == 8
    assert all(c.status in ("ready", "partly ready", "not ready", "not assessed") for c in report.categories)
    hidden = [c for c in report.checks if c.hidden]
    assert hidden and all(c.attempted is None and c.pass_rate is None for c in hidden)
    shown = [c for c in report.checks if not c.hidden]
    assert shown and all(c.attempted >= 5 for c in shown)
    markdown = render_report(report, "md")
    _assert_golden("team-report-anonymized.md", markdown)
    for name in ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "bundles/"):
        assert name not in markdown

    small = _report(anonymize=True, min_group=7)
    assert {c.status for c in small.categories} == {"hidden", "not assessed"}
    assert {p.verdict for p in small.profiles} <= {"hidden", "not assessed"}
    assert small.gaps == [] and all(lab.hidden and lab.passed is None for lab in small.labs)
    assert "Hidden: fewer than 7 members." in render_report(small, "md")


def test_trusted_keys_reach_the_cli(scenario, toy_data, tmp_path: Path) -> None:  # noqa: F811
    from conftest import run_cli
    from test_bundle import signing_key

    from workbench.core.keys import public_key_b64

    trusted = tmp_path / "trusted.txt"
    trusted.write_text("\n".join(f"{public_key_b64(signing_key(seed))} 00000000-0000-4000-8000-{seed:012d}" for seed in (1, 2, 3))
                       + f"\n{public_key_b64(signing_key(4))}\n")  # Margaret's key, bound to no learner id
    out = tmp_path / "out" / "report.json"
    result = run_cli("report", "bundles", "--trusted-keys", str(trusted), "--out", str(out),
                     env={"WORKBENCH_DATA_DIR": str(toy_data)}, cwd=Path.cwd())
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [m["name"] for m in data["members"]] == ["Ada", "Grace", "Linus"] and data["trusted_keys"] is True
    assert data["summary"]["rejected_by_reason"]["untrusted-key"] == 5
    assert data["summary"]["rejected_by_reason"]["unbound-key"] == 2  # Margaret's two exports


def test_shipped_profiles_are_valid() -> None:
    from workbench.core.skills import load_skill_matrix
    from workbench.core.team import load_profiles

    profiles = load_profiles()
    known = set(load_skill_matrix(profiles.skills).ids())
    assert len(profiles.profiles) >= 3 and all(set(p.requires) <= known for p in profiles.profiles)
    assert set(profiles.tier_targets) == {"critical", "high", "emerging"}


def test_a_profile_naming_an_unknown_category_is_a_data_error(toy_data, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    import shutil

    from test_bundle import clear_caches

    from workbench.core.errors import DataError
    from workbench.core.team import load_profiles

    data = tmp_path / "data"
    shutil.copytree(toy_data, data)
    profiles = data / "curricula" / "profiles-2026.toml"
    profiles.write_text(profiles.read_text().replace('generative-ai = "advanced"', 'genai = "advanced"'))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    clear_caches()
    with pytest.raises(DataError, match=r"profiles-2026.toml:\d+: key 'profiles.requires.genai': .*unknown category 'genai'"):
        load_profiles()


def test_report_shows_who_is_stale_where_and_the_unassessed_competencies(scenario) -> None:
    from workbench.reports import render_report

    later = _report(generated_at="2035-01-01T00:00:00+00:00")  # every check was graded years before
    assert later.scoring.stale_before.startswith("2034-01") and later.scoring.stale_after_months == 12
    assert sorted(s.name for s in later.staleness) == ["Ada", "Alan", "Barbara", "Grace", "Linus", "Margaret"]
    linus = next(s for s in later.staleness if s.name == "Linus")
    assert linus.categories == ["programming", "systems-design"] and linus.last_evidence_at["programming"] < "2035"
    for category in (c for c in later.categories if c.status != "not assessed"):
        stale_cells = [cell for row in later.heatmap.rows for cell in row.cells if cell.category == category.id and cell.stale]
        assert category.members_stale == len(stale_cells) > 0
    markdown = render_report(later, "md")
    assert "## Stale evidence" in markdown and "| Linus | Programming & Software Engineering (" in markdown
    patient = _report(generated_at="2035-01-01T00:00:00+00:00", stale_after_months=120)
    assert patient.staleness == [] and "## Stale evidence" not in render_report(patient, "md")
    assert _report().staleness == []  # the golden report's date: nothing is stale yet

    report = _report()
    programming = next(c for c in report.categories if c.id == "programming")
    assert programming.offered_points == 4.0 and programming.members_low_evidence == 6  # toy labs offer little
    assert programming.unassessed_competencies == ["Python (advanced)", "JavaScript/TypeScript", "SQL"]
    deep = next(c for c in report.categories if c.id == "deep-learning")
    assert deep.status == "not assessed" and deep.assessed_by == [] and deep.offered_points == 0
    assert "### Competencies no lab assesses yet" in render_report(report, "md")
    assert all(not cell.stale and cell.low_evidence for row in report.heatmap.rows for cell in row.cells)
