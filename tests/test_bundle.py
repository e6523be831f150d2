"""Signed result bundles: export, verification, and every tamper case rejected with its reason
while the honest bundles still count.

The tests run against a tiny self-contained curriculum (three toy labs, WORKBENCH_DATA_DIR), so
their figures do not move when the real labs change; `team_scenario` builds the team that the
report tests (test_report*.py) share.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import REPO, run_cli

# -- a self-contained toy curriculum ------------------------------------------------------------

TOY_LABS = {
    "toy-python": {"topic": ("foundations", "advanced-python"), "level": 1, "skills": {"programming": 3, "systems-design": 1},
                   "checks": [("adds small numbers", "programming", 2.0), ("adds negative numbers", "programming", 1.0),
                              ("adds floats", "systems-design", 1.0)]},
    "toy-ml": {"topic": ("foundations", "ml-fundamentals"), "level": 2, "skills": {"ml-fundamentals": 3, "programming": 1},
               "checks": [("fits the training set", "ml-fundamentals", 2.0), ("generalises", "ml-fundamentals", 2.0),
                          ("is vectorised", "programming", 1.0)]},
    "toy-rag": {"topic": ("advanced", "generative-ai"), "level": 3, "skills": {"generative-ai": 3, "security-governance": 1},
                "checks": [("retrieves the right passage", "generative-ai", 3.0), ("cites its sources", "generative-ai", 1.0),
                           ("refuses injected instructions", "security-governance", 2.0)]},
}
_TOY_CASES = ("learner.add(2, 3) == 5", "learner.add(-2, -3) == -5", "learner.add(0.5, 0.25) == 0.75")


def toy_grader(lab_id: str) -> str:
    """A grader whose checks are exactly TOY_LABS[lab_id]["checks"] (name, skill, points): each
    checks an add() function."""
    lines = [f'"""Toy grader {lab_id}: checks an add() function."""\nimport pytest\n']
    for index, (name, skill, points) in enumerate(TOY_LABS[lab_id]["checks"]):
        lines.append(f'\n@pytest.mark.check(skill="{skill}", points={points:g}, hint=1)\ndef test_{index + 1}(learner):\n'
                     f'    """{name}"""\n    assert {_TOY_CASES[index % len(_TOY_CASES)]}\n')
    return "\n".join(lines)


_DATA_DIR: Path | None = None


def make_toy_data(root: Path) -> Path:
    """Write curricula/, labs/ and graders/ for the three toy labs under `root`."""
    (root / "curricula").mkdir(parents=True)
    for name in ("skills-2026.toml", "profiles-2026.toml"):
        shutil.copy(REPO / "curricula" / name, root / "curricula" / name)
    topics = {("foundations", "advanced-python"): [], ("foundations", "ml-fundamentals"): [], ("advanced", "generative-ai"): []}
    for lab_id, spec in TOY_LABS.items():
        topics[spec["topic"]].append(lab_id)
    lines = ['format_version = 1\nid = "ai-engineer-2026"\ntitle = "Toy roadmap"\nversion = "test.1"\nskills = "skills-2026"\n']
    for phase in ("foundations", "advanced"):
        lines.append(f'[[phases]]\nid = "{phase}"\ntitle = "{phase.title()}"\n')
        for (phase_id, topic), labs in topics.items():
            if phase_id == phase:
                lines.append(f'[[phases.topics]]\nid = "{topic}"\ntitle = "{topic}"\nlabs = {json.dumps(labs)}\n')
    (root / "curricula" / "ai-engineer-2026.toml").write_text("\n".join(lines))
    for lab_id, spec in TOY_LABS.items():
        lab_dir = root / "labs" / lab_id
        (lab_dir / "starter").mkdir(parents=True)
        (lab_dir / "solution").mkdir()
        skills = "\n".join(f"{k} = {v}" for k, v in spec["skills"].items())
        (lab_dir / "lab.toml").write_text(textwrap.dedent(f"""\
            format_version = 1
            id = "{lab_id}"
            title = "Toy lab {lab_id}"
            tags = ["toy"]
            phase = "{spec['topic'][0]}"
            month = 1
            topic = "{spec['topic'][1]}"
            level = {spec['level']}
            estimated_minutes = 5
            files = ["toy.py"]
            pass_mark = 0.8
            [skills]
            """) + skills + '\n[limits]\ntimeout_s = 60\n[[hints]]\ntext = "Add the numbers."\n'
            '[[hints]]\ntext = "Use +."\n')
        (lab_dir / "README.md").write_text(f"# {lab_id}\n")
        (lab_dir / "starter" / "toy.py").write_text("def add(a, b):\n    return 0\n")
        (lab_dir / "solution" / "toy.py").write_text("def add(a, b):\n    return a + b\n")
        grader_dir = root / "graders" / lab_id
        grader_dir.mkdir(parents=True)
        (grader_dir / f"test_{lab_id.replace('-', '_')}.py").write_text(toy_grader(lab_id))
    return root


def clear_caches() -> None:
    """Forget every cached curriculum, lab list, grader hash and profile set."""
    from workbench.core import bundle, curriculum, labs, profiles, resources, skills

    for cached in (resources.data_root, curriculum.load_curriculum, skills.load_skill_matrix, labs.load_labs,
                   bundle.installed_state, profiles.load_profiles):
        cached.cache_clear()


@pytest.fixture
def toy_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the core at the toy curriculum for one test."""
    global _DATA_DIR
    if _DATA_DIR is None:
        _DATA_DIR = make_toy_data(tmp_path_factory.mktemp("toy-data"))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(_DATA_DIR))
    clear_caches()
    yield _DATA_DIR
    clear_caches()


# -- building learners and bundles --------------------------------------------------------------

def signing_key(seed: int):
    """A deterministic Ed25519 key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def make_workspace(root: Path, learner_number: int):
    """A workspace with a fixed learner id."""
    from workbench.core.workspace import Workspace, init_workspace

    init_workspace(root)
    settings = root / ".workbench" / "workspace.toml"
    settings.write_text('format_version = 1\ncurriculum = "ai-engineer-2026"\n'
                        f'learner_id = "00000000-0000-4000-8000-{learner_number:012d}"\ncreated_at = "2026-01-05T09:00:00+00:00"\n')
    return Workspace(root)


def record(workspace, lab_id: str, points: list[float], *, grader_sha256: str | None = None, started_at: str = "2026-02-01T10:00:00+00:00"):
    """Store one graded attempt of a toy lab with these points per check."""
    from workbench.core.labs import get_lab
    from workbench.core.results import CheckResult, GradeResult

    lab = get_lab(lab_id)
    tests = [CheckResult(task_id=index, name=name, status="pass" if earned >= cap else "fail", skill=skill, points=earned,
                         max_points=cap, metrics={"score": round(earned / cap, 2)})
             for index, ((name, skill, cap), earned) in enumerate(zip(TOY_LABS[lab_id]["checks"], points, strict=True), start=1)]
    result = GradeResult(lab=lab_id, status="fail", message=None, tests=tests, pass_mark=0.8,
                         grader_sha256=grader_sha256 or lab.grader_sha256(), grader_files=lab.grader_hashes(),
                         workbench_version="0.1.0", started_at=started_at, duration_s=0.5)
    result.status = "pass" if result.score >= 0.8 else "fail"
    workspace.progress.record_attempt(result)
    return result


FULL = {lab_id: [cap for _, _, cap in spec["checks"]] for lab_id, spec in TOY_LABS.items()}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def export(workspace, out: Path, name: str, seed: int, days: int = 0):
    """Export a bundle signed with a deterministic key at a fixed time."""
    from workbench.core.bundle import export_bundle

    return export_bundle(workspace, out, name=name, private_key=signing_key(seed), exported_at=T0 + timedelta(days=days))


def resign(document: dict, seed: int, *, replace_key: bool = False) -> dict:
    """Sign a (changed) bundle again, as a learner holding key `seed` could."""
    from workbench.core.bundle_format import sign_payload
    from workbench.core.keys import public_key_b64

    payload = document["payload"]
    if replace_key:
        payload["learner"]["public_key"] = public_key_b64(signing_key(seed))
    return sign_payload(payload, signing_key(seed))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def dump(document: dict, path: Path) -> Path:
    from workbench.core.bundle_format import canonical_json

    path.write_bytes(canonical_json(document) + b"\n")
    return path


@dataclass
class Scenario:
    """The shared team: honest bundles plus tampered ones, in `folder`, and the lead's ledger
    (the honest members' keys, first seen before these bundles arrived)."""

    folder: Path
    honest: list[str]
    tampered: dict[str, str]
    ledger: Path

    def install_ledger(self) -> None:
        """Give this test's lead (config dir) the scenario's ledger."""
        from workbench.core.keys import default_ledger_path

        default_ledger_path().parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ledger, default_ledger_path())


def team_scenario(base: Path) -> Scenario:
    """Six honest members (one with two exports over time) and one tampered file per reason."""
    folder = base / "bundles"
    folder.mkdir()
    learners = [  # name, key seed (= learner number), {lab: points}, hints, gave up on
        ("Ada", 1, {"toy-python": FULL["toy-python"], "toy-ml": FULL["toy-ml"], "toy-rag": FULL["toy-rag"]}, {}, None),
        ("Grace", 2, {"toy-python": FULL["toy-python"], "toy-ml": FULL["toy-ml"], "toy-rag": [3.0, 0.0, 2.0]}, {"toy-rag": 2}, None),
        ("Linus", 3, {"toy-python": FULL["toy-python"]}, {}, None),
        ("Alan", 5, {"toy-python": [2.0, 0.0, 1.0], "toy-ml": [2.0, 0.0, 0.0], "toy-rag": [0.0, 1.0, 0.0]}, {"toy-ml": 1}, "toy-ml"),
        ("Barbara", 6, {"toy-ml": FULL["toy-ml"], "toy-python": [2.0, 1.0, 0.0]}, {}, None),
    ]
    for number, (name, seed, results, hints, gave_up) in enumerate(learners, start=1):
        workspace = make_workspace(base / name.lower(), seed)
        for lab_id, points in results.items():
            record(workspace, lab_id, points)
        for lab_id, count in hints.items():
            for index in range(1, count + 1):
                workspace.progress.record_hint(lab_id, index, None)
        if gave_up:
            workspace.progress.record_solution(gave_up, gave_up=True)
        if name == "Barbara":
            workspace.progress.mark_started("toy-rag")
        export(workspace, folder / f"{name.lower()}.json", name, seed, days=number)
    margaret = make_workspace(base / "margaret", 4)
    record(margaret, "toy-python", [2.0, 0.0, 0.0])
    export(margaret, folder / "margaret-march.json", "Margaret", 4)
    record(margaret, "toy-python", [2.0, 1.0, 1.0], started_at="2026-04-01T10:00:00+00:00")
    record(margaret, "toy-rag", [3.0, 1.0, 2.0], started_at="2026-04-02T10:00:00+00:00")
    export(margaret, folder / "margaret-april.json", "Margaret", 4, days=30)

    tampered: dict[str, str] = {}
    tampered[dump(raise_a_score(load(folder / "alan.json")), folder / "alan-edited-score.json").name] = "edited-content"
    alan_hacked = make_workspace(base / "alan-hacked", 5)
    record(alan_hacked, "toy-ml", FULL["toy-ml"])
    forged = load(export(alan_hacked, folder / "alan-own-grader.json", "Alan", 5, days=9).path)
    forged["payload"]["labs"][0]["grader_sha256"] = "f" * 64
    tampered[dump(resign(forged, 5), folder / "alan-own-grader.json").name] = "unknown-grader-hash"
    truncated = (folder / "grace.json").read_bytes()
    # cut just after a top-level comma: the parse error is then the same on every run
    cut = truncated.index(b",", truncated.index(b'"', 2)) + 1
    (folder / "grace-truncated.json").write_bytes(truncated[:cut])
    tampered["grace-truncated.json"] = "not-a-bundle"
    other = load(folder / "barbara.json")
    other["signature"] = resign(load(folder / "barbara.json"), 9)["signature"]
    tampered[dump(other, folder / "barbara-other-key.json").name] = "bad-signature"
    impostor = make_workspace(base / "impostor", 1)
    record(impostor, "toy-rag", FULL["toy-rag"])
    export(impostor, folder / "ada-impostor.json", "Ada", 7, days=20)
    tampered["ada-impostor.json"] = "duplicate-learner"
    shutil.copy(folder / "barbara.json", folder / "copy-of-barbara.json")
    tampered["copy-of-barbara.json"] = "duplicate-bundle"
    future = load(folder / "linus.json")
    future["format_version"] = 3
    tampered[dump(future, folder / "linus-v3.json").name] = "wrong-format-version"
    (folder / "notes.json").write_text('{"todo": "collect the bundles"}\n')
    tampered["notes.json"] = "not-a-bundle"
    honest = [f"{name.lower()}.json" for name, *_ in learners] + ["margaret-march.json", "margaret-april.json"]
    from workbench.core.keys import Ledger, public_key_b64

    ledger = Ledger(base / "ledger.json")
    for name, seed in [*((name, seed) for name, seed, *_ in learners), ("Margaret", 4)]:
        ledger.add(public_key_b64(signing_key(seed)), f"00000000-0000-4000-8000-{seed:012d}", name, T0 - timedelta(days=30))
    ledger.save()
    return Scenario(folder, honest, tampered, ledger.path)


_SCENARIO: Scenario | None = None


def shared_team_scenario(factory: pytest.TempPathFactory) -> Scenario:
    """team_scenario, built once per test session (the tests only read it)."""
    global _SCENARIO
    if _SCENARIO is None:
        _SCENARIO = team_scenario(factory.mktemp("team"))
    return _SCENARIO


# -- export ---------------------------------------------------------------------------------------

def test_export_writes_a_signed_canonical_bundle_that_verifies(toy_data: Path, tmp_path: Path) -> None:
    from workbench.core.bundle import VerifiedBundle, installed_state, verify_file
    from workbench.core.bundle_format import BUNDLE_FORMAT, canonical_json
    from workbench.core.keys import load_or_create_key

    workspace = make_workspace(tmp_path / "ws", 1)
    record(workspace, "toy-python", [2.0, 0.0, 1.0], started_at="2026-02-01T10:00:00+00:00")
    record(workspace, "toy-python", [0.0, 1.0, 0.0], started_at="2026-02-02T10:00:00+00:00")
    workspace.progress.record_hint("toy-python", 1, "adds negative numbers")
    from workbench.core.bundle import export_bundle

    (tmp_path / "out").mkdir()
    outcome = export_bundle(workspace, tmp_path / "out", name="Ada Lovelace")
    assert outcome.key_created and outcome.path.parent == tmp_path / "out" and outcome.path.name.startswith("workbench-bundle-ada-lovelace-")
    raw = outcome.path.read_bytes()
    document = json.loads(raw)
    assert raw == canonical_json(document) + b"\n"
    assert document["format"] == BUNDLE_FORMAT and document["format_version"] == 2
    payload = document["payload"]
    assert payload["learner"] == {"id": "00000000-0000-4000-8000-000000000001", "name": "Ada Lovelace",
                                  "public_key": payload["learner"]["public_key"]}
    assert payload["curriculum"]["id"] == "ai-engineer-2026" and payload["curriculum"]["version"] == "test.1"
    assert payload["workbench_version"] and "backend_model" in payload
    [lab] = payload["labs"]
    assert lab["id"] == "toy-python" and lab["attempts"] == 2 and lab["passed"] is False
    assert lab["grader_sha256"] == installed_state().grader_sha256["toy-python"]
    # the best attempt counts whole: never checks stitched together from two attempts
    assert [(c["name"], c["points"], c["status"]) for c in lab["checks"]] == [
        ("adds small numbers", 2.0, "pass"), ("adds negative numbers", 0.0, "fail"), ("adds floats", 1.0, "pass")]
    assert lab["submission"] is None and lab["engine_version"] == "0.1.0"  # recorded without files: no work to carry
    assert any("carries no work" in w for w in outcome.warnings)
    assert all(c["recorded_at"] and "score" in c["metrics"] for c in lab["checks"])
    assert lab["hints_revealed"] == [1] and lab["solution_viewed"] is False
    programming = next(s for s in payload["skill_profile"] if s["id"] == "programming")
    assert programming["proficiency"] is not None and programming["level"] != "not assessed"
    assert isinstance(verify_file(outcome.path, installed_state()), VerifiedBundle)
    key_path = Path(os.environ["XDG_CONFIG_HOME"]) / "workbench" / "signing-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key, created = load_or_create_key()
    assert not created and base64.b64encode(key.public_key().public_bytes_raw()).decode() == payload["learner"]["public_key"]
    # a path without a suffix is a folder, made if missing; a NAME.json is the file itself
    into_new = export_bundle(workspace, tmp_path / "new" / "bundles", name="Ada Lovelace")
    assert into_new.path.parent == tmp_path / "new" / "bundles" and into_new.path.suffix == ".json"
    named = export_bundle(workspace, tmp_path / "mine.json", name="Ada Lovelace")
    assert named.path == tmp_path / "mine.json" and named.path.is_file()


def test_export_leaves_out_attempts_of_another_grader_and_says_so(toy_data: Path, tmp_path: Path) -> None:
    from workbench.core.bundle import export_bundle

    workspace = make_workspace(tmp_path / "ws", 1)
    record(workspace, "toy-python", FULL["toy-python"], grader_sha256="0" * 64)
    record(workspace, "toy-ml", [2.0, 0.0, 0.0])
    outcome = export_bundle(workspace, tmp_path / "b.json", name="Ada", private_key=signing_key(1))
    labs = {lab["id"]: lab for lab in load(outcome.path)["payload"]["labs"]}
    assert labs["toy-python"]["checks"] == [] and labs["toy-python"]["attempts"] == 0
    assert [c["points"] for c in labs["toy-ml"]["checks"]] == [2.0, 0.0, 0.0]
    assert outcome.warnings[0] == ("toy-python: 1 attempt(s) graded by another grader version are left out;"
                                   " run 'workbench check toy-python' again")
    assert (labs["toy-python"]["older_version_attempts"], labs["toy-python"]["version"]) == (1, 1)
    assert labs["toy-ml"]["older_version_attempts"] == 0

    from workbench.core.team import team_report

    report = team_report([outcome.path], generated_at="2026-04-01T00:00:00+00:00")
    mix = {lab.lab: (lab.version, lab.members_on_older_version) for lab in report.labs}
    assert mix == {"toy-python": (1, 1), "toy-ml": (1, 0), "toy-rag": (1, 0)}


def test_display_name_is_remembered_then_defaults_to_git_or_login(toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    from workbench.core.keys import resolve_display_name

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Git Name\n")
    assert resolve_display_name() == "Git Name"
    assert resolve_display_name("Ada \"Countess\" Lovelace") == 'Ada "Countess" Lovelace'
    assert resolve_display_name() == 'Ada "Countess" Lovelace'


# -- tamper cases ---------------------------------------------------------------------------------

def _honest_team(base: Path) -> Path:
    folder = base / "bundles"
    folder.mkdir()
    for number, (name, lab_id) in enumerate((("Ada", "toy-python"), ("Grace", "toy-ml"), ("Linus", "toy-rag")), start=1):
        workspace = make_workspace(base / name.lower(), number)
        record(workspace, lab_id, FULL[lab_id])
        record(workspace, "toy-python", [2.0, 0.0, 1.0])
        export(workspace, folder / f"{name.lower()}.json", name, number, days=number)
    return folder


def raise_a_score(document: dict) -> dict:
    """Give the first check short of full marks its full marks (or halve a full one)."""
    checks = [c for lab in document["payload"]["labs"] for c in lab["checks"]]
    check = next((c for c in checks if c["points"] < c["max_points"]), checks[0])
    check["points"] = check["max_points"] if check["points"] < check["max_points"] else check["max_points"] / 2
    return document


def _edit_score(folder: Path, tmp: Path, name: str = "grace.json") -> Path:
    return dump(raise_a_score(load(folder / name)), tmp / name.replace(".json", "-edited.json"))


def _swap_grader_hash(folder: Path, tmp: Path) -> Path:
    document = load(folder / "grace.json")
    document["payload"]["labs"][0]["grader_sha256"] = "a" * 64
    return dump(document, tmp / "grace-swapped.json")


def _swap_grader_hash_resigned(folder: Path, tmp: Path) -> Path:
    document = load(folder / "grace.json")
    document["payload"]["labs"][0]["grader_sha256"] = "a" * 64
    return dump(resign(document, 2), tmp / "grace-own-grader.json")


def _drop_check(folder: Path, tmp: Path) -> Path:
    document = load(folder / "linus.json")
    del document["payload"]["labs"][0]["checks"][2]
    return dump(document, tmp / "linus-dropped.json")


def _drop_check_resigned(folder: Path, tmp: Path) -> Path:
    document = load(folder / "linus.json")
    lab = document["payload"]["labs"][0]
    lab["checks"] = [c for c in lab["checks"] if c["status"] == "pass"][:1]
    return dump(resign(document, 3), tmp / "linus-dropped-resigned.json")


def _truncate(folder: Path, tmp: Path) -> Path:
    data = (folder / "ada.json").read_bytes()
    (tmp / "ada-truncated.json").write_bytes(data[: len(data) - 40])
    return tmp / "ada-truncated.json"


def _other_key(folder: Path, tmp: Path) -> Path:
    document = load(folder / "ada.json")
    document["signature"] = resign(load(folder / "ada.json"), 9)["signature"]
    return dump(document, tmp / "ada-other-key.json")


def _impersonate(folder: Path, tmp: Path) -> Path:
    document = load(folder / "ada.json")
    document["payload"]["exported_at"] = "2026-03-30T09:00:00Z"
    return dump(resign(document, 9, replace_key=True), tmp / "ada-impersonated.json")


def _same_bundle_twice(folder: Path, tmp: Path) -> Path:
    shutil.copy(folder / "grace.json", tmp / "zz-grace-again.json")
    return tmp / "zz-grace-again.json"


def _wrong_version(folder: Path, tmp: Path) -> Path:
    document = load(folder / "ada.json")
    document["format_version"] = 3
    return dump(document, tmp / "ada-v3.json")


def _not_a_bundle(folder: Path, tmp: Path) -> Path:
    (tmp / "report.json").write_text(json.dumps({"format_version": 1, "kind": "workbench-team-report"}))
    return tmp / "report.json"


def _passed_without_points(folder: Path, tmp: Path) -> Path:
    document = load(folder / "linus.json")
    lab = document["payload"]["labs"][0]
    lab["passed"] = True
    for check in lab["checks"]:
        check["points"] = 0.0
    return dump(resign(document, 3), tmp / "linus-inconsistent.json")


TAMPER_CASES = {
    "edit a score": (_edit_score, "edited-content"),
    "swap a grader hash": (_swap_grader_hash, "edited-content"),
    "swap a grader hash and sign again": (_swap_grader_hash_resigned, "unknown-grader-hash"),
    "drop a check": (_drop_check, "edited-content"),
    "drop checks, sign again, profile left as it was": (_drop_check_resigned, "incomplete-checks"),
    "truncate the file": (_truncate, "not-a-bundle"),
    "sign with another key": (_other_key, "bad-signature"),
    "another key claims the learner": (_impersonate, "duplicate-learner"),
    "the same bundle twice": (_same_bundle_twice, "duplicate-bundle"),
    "wrong format version": (_wrong_version, "wrong-format-version"),
    "not a bundle": (_not_a_bundle, "not-a-bundle"),
    "passed without the points": (_passed_without_points, "inconsistent"),
}


@pytest.mark.parametrize("case", list(TAMPER_CASES))
def test_tampered_bundle_is_rejected_with_its_reason_and_the_others_count(case: str, toy_data: Path, tmp_path: Path) -> None:
    from workbench.core.team import team_report

    folder = _honest_team(tmp_path)
    team_report([folder], generated_at="2026-04-01T00:00:00+00:00")  # the lead has seen the team's keys before
    make, reason = TAMPER_CASES[case]
    tampered = make(folder, folder)
    report = team_report([folder], generated_at="2026-04-01T00:00:00+00:00")
    assert [(r.source, r.reason) for r in report.rejected] == [(str(tampered), reason)]
    assert sorted(m.name for m in report.members) == ["Ada", "Grace", "Linus"]
    assert report.summary.members == 3 and report.summary.rejected == 1


def test_the_same_learner_later_counts_newest_and_keeps_older_for_trends(toy_data: Path, tmp_path: Path) -> None:
    from workbench.core.team import team_report

    folder = tmp_path / "bundles"
    folder.mkdir()
    workspace = make_workspace(tmp_path / "ws", 1)
    record(workspace, "toy-python", [2.0, 0.0, 0.0])
    export(workspace, folder / "a-first.json", "Ada", 1)
    record(workspace, "toy-python", FULL["toy-python"])
    export(workspace, folder / "b-second.json", "Ada", 1, days=7)
    report = team_report([folder])
    assert [m.source for m in report.members] == [str(folder / "b-second.json")]
    assert report.members[0].older_bundles == 1 and report.rejected == []
    [trend] = report.trends
    assert [p.labs_passed for p in trend.points] == [0, 1] and trend.change["programming"] > 0


def test_trusted_keys_limit_the_report_to_known_learners(toy_data: Path, tmp_path: Path) -> None:
    from workbench.core.errors import DataError
    from workbench.core.keys import public_key_b64
    from workbench.core.team import team_report

    folder = _honest_team(tmp_path)
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(f"# team keys\n{public_key_b64(signing_key(1))}  00000000-0000-4000-8000-000000000001  # Ada\n"
                       f"{public_key_b64(signing_key(2))}  00000000-0000-4000-8000-000000000009\n")
    report = team_report([folder], trusted_keys=trusted)
    assert [m.name for m in report.members] == ["Ada"]
    rejected = {Path(r.source).name: r for r in report.rejected}
    assert sorted(rejected) == ["grace.json", "linus.json"]
    assert (rejected["grace.json"].reason, rejected["linus.json"].reason) == ("foreign-id", "untrusted-key")
    assert rejected["grace.json"].detail.endswith(
        "is bound to learner 00000000-0000-4000-8000-000000000009, not 00000000-0000-4000-8000-000000000002")
    assert rejected["linus.json"].detail.endswith("is not in the trusted keys")
    trusted.write_text("not-a-key\n")
    with pytest.raises(DataError, match=r"trusted.txt:1: expected 'PUBLIC_KEY LEARNER_ID \[NAME\]'"):
        team_report([folder], trusted_keys=trusted)


# -- the CLI --------------------------------------------------------------------------------------

def test_cli_export_verify_and_report_on_a_really_graded_lab(toy_data: Path, tmp_path: Path) -> None:
    env = {"WORKBENCH_DATA_DIR": str(toy_data)}
    workspace = tmp_path / "ws"
    assert run_cli("init", str(workspace), env=env).returncode == 0
    assert run_cli("start", "toy-python", cwd=workspace, env=env).returncode == 0
    shutil.copy(toy_data / "labs" / "toy-python" / "solution" / "toy.py", workspace / "toy-python" / "toy.py")
    checked = run_cli("check", "toy-python", cwd=workspace, env=env, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = run_cli("export", "--name", "Ada", "--out", str(tmp_path / "ada.json"), "--json", cwd=workspace, env=env)
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["key_created"] is True and summary["labs"] == 1 and summary["checks"] == 3
    again = run_cli("export", "--out", str(tmp_path / "again.json"), cwd=workspace, env=env)
    assert "Created your signing key" not in again.stdout and "signed as Ada" in again.stdout
    verified = run_cli("bundle", "verify", str(tmp_path / "ada.json"), "--json", env=env)
    assert verified.returncode == 0 and json.loads(verified.stdout)[0]["ok"] is True
    _edit_score(tmp_path, tmp_path, "ada.json")
    bad = run_cli("bundle", "verify", str(tmp_path / "ada.json"), str(tmp_path / "ada-edited.json"), env=env)
    assert bad.returncode == 1
    assert "✗" in bad.stdout and "edited-content" in bad.stdout and "✓" in bad.stdout
    report = run_cli("report", str(tmp_path / "ada.json"), str(tmp_path / "ada-edited.json"), "--format", "md", env=env)
    assert report.returncode == 0, report.stderr
    assert "| Ada |" in report.stdout and "**edited content**" in report.stdout
    assert "1 member(s) counted, 1 bundle(s) rejected (1 edited-content)" in report.stderr
    missing = run_cli("report", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


def test_help_and_core_import_neither_jinja2_nor_cryptography() -> None:
    import subprocess
    import sys

    code = ("import sys; import workbench.core.bundle, workbench.core.team; import workbench.cli; "
            "heavy = [m for m in ('jinja2', 'cryptography') if m in sys.modules]; print(heavy)")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
