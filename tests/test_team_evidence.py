"""Trusted team evidence: bundles carry the work, the lead re-grades it, and every identity attack
from the issue is rejected (or, for a new learner id without trusted keys, flagged).

Runs on the toy curriculum of test_bundle (three toy labs whose checks test an add() function).
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import run_cli
from test_bundle import FULL, T0, dump, load, make_workspace, record, resign, signing_key, toy_data  # noqa: F401

ADA, GRACE = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def graded(workspace, lab_id: str, code: str, points: list[float]):
    """A stored attempt whose files (toy.py = `code`) are snapshotted, claiming `points`: what a
    learner's own (possibly tampered) machine records."""
    from workbench.core.snapshots import manifest_of, sha256_bytes

    lab_dir = workspace.lab_dir(lab_id)
    if not lab_dir.exists():
        from workbench.core.labs import get_lab

        shutil.copytree(get_lab(lab_id).starter_dir, lab_dir)
    (lab_dir / "toy.py").write_text(code)
    result = record(workspace, lab_id, points, started_at=(NOW - timedelta(days=1)).isoformat())
    result.files = {path: workspace.objects.put(data) for path, data in manifest_of(lab_dir).items()}
    assert all(sha256_bytes(workspace.objects.get(d)) == d for d in result.files.values())
    with workspace.progress._transaction() as conn:  # the same attempt, now with its snapshot
        conn.execute("UPDATE attempts SET result_json = ? WHERE id = (SELECT MAX(id) FROM attempts)",
                     (json.dumps(result.to_dict()),))
    return result


SOLUTION = "def add(a, b):\n    return a + b\n"
BROKEN = "def add(a, b):\n    return abs(a) + abs(b)\n"  # passes 'small numbers' and 'floats' only


def export_at(workspace, out: Path, name: str, seed: int, when: datetime = NOW):
    from workbench.core.bundle import export_bundle

    return export_bundle(workspace, out, name=name, private_key=signing_key(seed), exported_at=when).path


@pytest.fixture
def team(toy_data, tmp_path: Path):  # noqa: F811
    """Ada (honest, solved toy-python), Grace (forged: broken code, claims full marks)."""
    folder = tmp_path / "bundles"
    folder.mkdir()
    ada = make_workspace(tmp_path / "ada", 1)
    graded(ada, "toy-python", SOLUTION, FULL["toy-python"])
    grace = make_workspace(tmp_path / "grace", 2)
    graded(grace, "toy-python", BROKEN, FULL["toy-python"])  # a hacked local grader said 4/4
    export_at(ada, folder / "ada.json", "Ada", 1)
    export_at(grace, folder / "grace.json", "Grace", 2)
    return folder


def _report(folder: Path, **options):
    from workbench.core.team import RegradeOptions, team_report

    regrade = options.pop("regrade", None)
    return team_report([folder], regrade=RegradeOptions(**regrade) if regrade is not None else None, **options)


@pytest.mark.slow
def test_regrade_verifies_honest_work_and_catches_a_forged_local_result(team: Path, tmp_path: Path) -> None:
    document = load(team / "grace.json")
    assert document["format_version"] == 2
    [lab] = document["payload"]["labs"]
    assert list(lab["submission"]["files"]) == ["toy.py"]  # only what differs from the starter
    assert base64.b64decode(document["payload"]["blobs"][lab["submission"]["files"]["toy.py"]]).decode() == BROKEN

    before = _report(team)
    assert {m.name: [lab.evidence for lab in m.labs] for m in before.members} == {"Ada": ["self-reported"], "Grace": ["self-reported"]}
    assert before.verification.regraded is False and before.mismatches == []

    report = _report(team, regrade={"workers": 2})
    labs = {m.name: m.labs[0] for m in report.members}
    assert (labs["Ada"].evidence, labs["Ada"].passed, labs["Ada"].score) == ("verified", True, 1.0)
    assert (labs["Grace"].evidence, labs["Grace"].passed, labs["Grace"].self_reported_passed) == ("verified", False, True)
    assert labs["Grace"].score == 0.75
    assert [(m.name, m.check, m.self_reported, m.regraded) for m in report.mismatches] == [
        ("Grace", "adds negative numbers", "pass", "fail"), ("Grace", "(lab passed)", "pass", "fail")]
    assert report.verification.verified == 2 and report.verification.pairs == 2 and report.verification.from_cache == 0
    grace_row = next(row for row in report.heatmap.rows if row.name == "Grace")
    assert grace_row.labs_passed == 0  # the re-graded result is the one counted
    assert report.copy_flags == []  # a one-line add() is below copydetect's 25-token noise threshold

    again = _report(team, regrade={"workers": 2})  # resumes from the cache: nothing graded twice
    assert again.verification.from_cache == 2 and [m.check for m in again.mismatches] == [m.check for m in report.mismatches]


def test_a_version_1_bundle_still_reads_and_counts_only_as_self_reported(toy_data, tmp_path: Path) -> None:  # noqa: F811
    from workbench.core.bundle_format import sign_payload

    folder = tmp_path / "bundles"
    folder.mkdir()
    ada = make_workspace(tmp_path / "ada", 1)
    record(ada, "toy-python", FULL["toy-python"])
    document = load(export_at(ada, tmp_path / "v2.json", "Ada", 1))
    payload = document["payload"]
    del payload["blobs"]
    for lab in payload["labs"]:
        del lab["submission"], lab["engine_version"]
    dump(sign_payload(payload, signing_key(1), format_version=1), folder / "ada-v1.json")
    report = _report(folder, regrade={"workers": 1})
    [member] = report.members
    assert member.bundle_version == 1 and report.rejected == []
    assert [(lab.evidence, lab.why) for lab in member.labs] == [("self-reported", "no work attached (version 1 bundle)")]


# -- identity: every attack of the issue ---------------------------------------------------------

def test_a_new_key_backdated_under_a_colleagues_id_is_rejected_and_the_colleague_still_counts(team: Path) -> None:
    first = _report(team)  # the lead has seen Ada's and Grace's keys
    assert sorted(m.name for m in first.members) == ["Ada", "Grace"] and first.verification.new_keys == 2
    # Mallory exports under Ada's learner id with a brand-new key, dated a day before Ada's
    document = load(team / "ada.json")
    document["payload"]["exported_at"] = (NOW - timedelta(days=400)).isoformat()
    dump(resign(document, 9, replace_key=True), team / "0-mallory-as-ada.json")
    report = _report(team)
    assert [(Path(r.source).name, r.reason) for r in report.rejected] == [("0-mallory-as-ada.json", "duplicate-learner")]
    assert sorted(m.name for m in report.members) == ["Ada", "Grace"]
    assert next(m for m in report.members if m.name == "Ada").key == first.members[0].key


def test_two_new_keys_for_one_id_in_a_first_run_are_both_held_back(team: Path) -> None:
    document = load(team / "ada.json")
    document["payload"]["exported_at"] = (NOW - timedelta(days=400)).isoformat()
    dump(resign(document, 9, replace_key=True), team / "0-mallory-as-ada.json")
    report = _report(team)  # no earlier sighting: neither the date nor the file order decides
    assert sorted((Path(r.source).name, r.reason) for r in report.rejected) == [
        ("0-mallory-as-ada.json", "contested-learner"), ("ada.json", "contested-learner")]
    assert [m.name for m in report.members] == ["Grace"]


def test_a_known_key_cannot_claim_another_learner_id(team: Path) -> None:
    _report(team)
    document = load(team / "grace.json")
    document["payload"]["learner"]["id"] = ADA
    dump(resign(document, 2), team / "grace-as-ada.json")
    report = _report(team)
    assert [(Path(r.source).name, r.reason) for r in report.rejected] == [("grace-as-ada.json", "foreign-id")]


def test_a_new_learner_id_is_flagged_without_trusted_keys_and_rejected_with_them(team: Path, tmp_path: Path) -> None:
    from workbench.core.keys import public_key_b64

    _report(team)
    ghost = make_workspace(tmp_path / "ghost", 77)
    graded(ghost, "toy-python", SOLUTION, FULL["toy-python"])
    export_at(ghost, team / "ghost.json", "Ghost", 77)
    report = _report(team)
    assert {m.name: m.new_key for m in report.members} == {"Ada": False, "Grace": False, "Ghost": True}
    assert report.verification.new_keys == 1
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(f"{public_key_b64(signing_key(1))} {ADA} Ada Lovelace\n{public_key_b64(signing_key(2))} {GRACE}\n")
    bound = _report(team, trusted_keys=trusted)
    assert sorted(m.name for m in bound.members) == ["Ada", "Grace"]
    assert [(Path(r.source).name, r.reason) for r in bound.rejected] == [("ghost.json", "untrusted-key")]


def test_a_trusted_key_with_no_id_bound_cannot_claim_anyone(team: Path, tmp_path: Path) -> None:
    from workbench.core.keys import public_key_b64

    document = load(team / "ada.json")
    dump(resign(document, 9, replace_key=True), team / "keyonly-as-ada.json")
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(f"{public_key_b64(signing_key(1))} {ADA}\n{public_key_b64(signing_key(9))}\n")
    report = _report(team, trusted_keys=trusted)
    reasons = {Path(r.source).name: r.reason for r in report.rejected}
    assert reasons == {"keyonly-as-ada.json": "unbound-key", "grace.json": "untrusted-key"}
    assert [m.name for m in report.members] == ["Ada"]


def test_a_lab_that_keeps_one_check_with_passed_true_is_rejected(team: Path) -> None:
    _report(team)
    document = load(team / "grace.json")
    lab = document["payload"]["labs"][0]
    lab["checks"] = lab["checks"][:1]
    lab["passed"] = True
    document["payload"]["skill_profile"] = []
    dump(resign(document, 2), team / "grace-one-check.json")
    report = _report(team)
    [rejection] = report.rejected
    assert rejection.reason == "incomplete-checks" and "2 of the grader's 3 checks missing" in rejection.detail


def test_a_future_dated_bundle_is_rejected(team: Path, tmp_path: Path) -> None:
    _report(team)
    ada = make_workspace(tmp_path / "ada2", 1)
    graded(ada, "toy-python", SOLUTION, FULL["toy-python"])
    export_at(ada, team / "ada-from-the-future.json", "Ada", 1, NOW + timedelta(days=30))
    report = _report(team)
    assert [(Path(r.source).name, r.reason) for r in report.rejected] == [("ada-from-the-future.json", "future-dated")]
    assert next(m for m in report.members if m.name == "Ada").source.endswith("ada.json")


def test_carried_work_cannot_escape_the_lab_folder_or_lie_about_its_bytes(team: Path) -> None:
    _report(team)
    for name, change in {
        "path-escape": lambda lab, blobs: lab["submission"]["files"].update({"../../escape.py": lab["submission"]["files"]["toy.py"]}),
        "swapped-bytes": lambda lab, blobs: blobs.update({lab["submission"]["files"]["toy.py"]: base64.b64encode(b"x = 1\n").decode()}),
    }.items():
        document = load(team / "grace.json")
        change(document["payload"]["labs"][0], document["payload"]["blobs"])
        dump(resign(document, 2), team / f"grace-{name}.json")
    report = _report(team)
    reasons = {Path(r.source).name: (r.reason, r.detail) for r in report.rejected}
    assert reasons["grace-path-escape.json"] == ("inconsistent", "toy-python: unsafe file path '../../escape.py'")
    assert reasons["grace-swapped-bytes.json"] == ("inconsistent", "toy-python/toy.py: its bytes do not match their SHA-256")


def test_export_refuses_a_lab_over_the_size_cap_naming_the_file(toy_data, tmp_path: Path) -> None:  # noqa: F811
    from workbench.core.bundle import export_bundle
    from workbench.core.errors import WorkbenchError

    ada = make_workspace(tmp_path / "ada", 1)
    (ada.lab_dir("toy-python")).mkdir(parents=True)
    (ada.lab_dir("toy-python") / "weights.bin").write_bytes(b"\1" * (1024 * 1024 + 10))
    graded(ada, "toy-python", SOLUTION, FULL["toy-python"])
    with pytest.raises(WorkbenchError, match=r"the largest is toy-python/weights.bin \(1024 KiB\)"):
        export_bundle(ada, tmp_path / "out.json", name="Ada", private_key=signing_key(1))
    (ada.lab_dir("toy-python") / ".workbenchignore").write_text("weights.bin\n")
    graded(ada, "toy-python", SOLUTION, FULL["toy-python"])
    assert export_bundle(ada, tmp_path / "out.json", name="Ada", private_key=signing_key(1)).bytes < 1024


@pytest.mark.slow
def test_cli_bundle_regrade_and_report_regrade(team: Path, toy_data, tmp_path: Path) -> None:  # noqa: F811
    env = {"WORKBENCH_DATA_DIR": str(toy_data)}
    result = run_cli("bundle", "regrade", str(team), "--json", "--workers", "1", env=env, timeout=300)
    assert result.returncode == 1, result.stderr  # a self-reported pass did not hold
    data = json.loads(result.stdout)
    assert data["verification"]["verified"] == 2 and [m["check"] for m in data["mismatches"]][0] == "adds negative numbers"
    out = tmp_path / "report.md"
    report = run_cli("report", str(team), "--regrade", "--out", str(out), env=env, timeout=300)
    assert report.returncode == 0, report.stderr
    text = out.read_text()
    assert "## Evidence: verified or self-reported" in text and "| Grace | toy-python | adds negative numbers | pass (1) | **fail** (0) |" in text
    assert "regrade: 2 lab(s) verified (2 from cache)" in report.stderr


def test_copy_detection_flags_a_renamed_copy_and_the_reference_but_not_independent_work() -> None:
    from conftest import REPO

    from workbench.core.similarity import REFERENCE, similar_pairs

    lab = REPO / "labs" / "python-async"
    solution = {p.name: p.read_bytes() for p in (lab / "solution").glob("*.py")}
    starter = {p.name: p.read_bytes() for p in (lab / "starter").glob("*.py")}
    renamed = {name: data.replace(b"semaphore", b"gate").replace(b"attempt", b"try_no") for name, data in solution.items()}
    own = {"client.py": b"\n".join(b"def helper_%d(x):\n    total = 0\n    for i in range(x):\n        total += i * %d\n    return total" % (i, i)
                                   for i in range(12))}
    flags = {(f.a, f.b) for f in similar_pairs("python-async", {"ana": renamed, "bo": own, "cy": solution}, solution, starter)}
    assert ("ana", "cy") in flags and ("ana", REFERENCE) in flags and ("cy", REFERENCE) in flags
    assert not any("bo" in pair for pair in flags)


def test_timing_bounds_get_the_labs_tolerance_only_when_a_lead_regrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.core.labs import load_labs
    from workbench.grading_kit import timing_limit

    monkeypatch.delenv("WORKBENCH_TIMING_TOLERANCE", raising=False)
    assert timing_limit(0.8) == 0.8
    monkeypatch.setenv("WORKBENCH_TIMING_TOLERANCE", "2.0")
    assert timing_limit(0.8) == 1.6
    monkeypatch.setenv("WORKBENCH_TIMING_TOLERANCE", "0.1")  # never stricter than the learner's own run
    assert timing_limit(0.8) == 0.8
    declared = {lab_id: lab.spec.limits.timing_tolerance for lab_id, lab in load_labs().items()}
    assert declared["serving-batching"] == declared["python-async"] == declared["llm-gateway"] == 2.0


def test_materialize_lays_the_work_over_the_starter_and_refuses_unsafe_paths(tmp_path: Path) -> None:
    from workbench.core.errors import WorkbenchError
    from workbench.core.snapshots import materialize

    starter = tmp_path / "starter"
    (starter / "data").mkdir(parents=True)
    (starter / "data" / "rows.csv").write_text("a,b\n")
    (starter / "toy.py").write_text("def add(a, b):\n    return 0\n")
    materialize(starter, {"toy.py": SOLUTION.encode(), "pkg/extra.py": b"X = 1\n"}, tmp_path / "lab")
    assert (tmp_path / "lab" / "toy.py").read_text() == SOLUTION and (tmp_path / "lab" / "data" / "rows.csv").is_file()
    assert (tmp_path / "lab" / "pkg" / "extra.py").read_bytes() == b"X = 1\n"
    for bad in ("../escape.py", "/etc/passwd", "a/../../b.py", ".git/hooks/post-checkout", "", "a\\b.py"):
        with pytest.raises(WorkbenchError, match="unsafe file path"):
            materialize(starter, {bad: b"x"}, tmp_path / f"lab-{abs(hash(bad))}")
