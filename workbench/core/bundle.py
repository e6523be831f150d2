"""Signed result bundles: a learner's graded evidence *and the work behind it*, exported from
their own machine (`workbench export`) and checked by whoever reads it (`workbench bundle
verify`, `workbench report`). The file format is in workbench.core.bundle_format, keys and
identity in workbench.core.keys, re-grading the carried work in workbench.core.regrade.

What a signature proves: the file was not changed after the holder of the key exported it, and
(with trusted keys or the lead's ledger) who that is. It cannot prove the learner did not tamper
with their own machine: the checks in a bundle are *self-reported*. Version 2 bundles carry the
files of the attempt behind each lab's checks, so the lead can re-grade them in the sandbox with
the installed graders; only that makes a score *verified*.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from workbench import __version__

from .bundle_format import (
    BUNDLE_FORMAT,
    READABLE_VERSIONS,
    REASONS,
    BundleCheck,
    BundleCurriculum,
    BundleLab,
    BundleLearner,
    BundlePayload,
    BundleSkill,
    BundleSubmission,
    canonical_json,
    sign_payload,
    signed_bytes,
)
from .curriculum import DEFAULT_CURRICULUM, load_curriculum
from .keys import (
    TrustedKeys,
    fingerprint,
    load_or_create_key,
    public_key_b64,
    resolve_display_name,
)
from .labs import Lab, load_labs
from .skills import (
    SCORING_VERSION,
    LabEvidence,
    RecencyPolicy,
    SkillMatrix,
    SkillScore,
    load_skill_matrix,
    offers_for,
    skill_profile,
)
from .snapshots import MAX_SUBMISSION_BYTES, manifest_of, safe_relative, sha256_bytes, submission

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .checks import Inventory
    from .workspace import Workspace

# how far in the future (on the reader's clock) an export date may lie before it is rejected
CLOCK_SKEW = timedelta(minutes=10)


# -- what this installation knows (precomputed once per process) --------------------------------

@dataclass(frozen=True)
class InstalledState:
    """The installed curriculum, skills matrix, labs and the SHA-256 of each installed grader."""

    curriculum_id: str
    curriculum_version: str
    matrix: SkillMatrix
    labs: dict[str, Lab]
    grader_sha256: dict[str, str]
    offers: dict[str, Inventory] = field(default_factory=dict)

    def expected_checks(self, lab_id: str) -> dict[str, float] | None:
        """The installed grader's checks and their points (None when they cannot be read statically)."""
        inventory = self.offers.get(lab_id)
        if inventory is None or inventory.problems or not inventory.checks:
            return None
        return {check.name: check.points for check in inventory.checks}


@cache
def installed_state(curriculum_id: str = DEFAULT_CURRICULUM) -> InstalledState:
    """Load the curriculum, hash every installed grader and read its checks, once."""
    curriculum = load_curriculum(curriculum_id)
    labs = load_labs(curriculum_id)
    return InstalledState(curriculum.id, curriculum.version, load_skill_matrix(curriculum.skills), labs,
                          {lab_id: lab.grader_sha256() for lab_id, lab in labs.items()}, offers_for(labs))


def bundle_evidence(labs: list[BundleLab]) -> dict[str, LabEvidence]:
    """A bundle's labs as scoring evidence."""
    return {
        lab.id: LabEvidence(
            checks={c.name: c for c in lab.checks},  # BundleCheck has CheckEvidence's fields
            hints_revealed=len(lab.hints_revealed), gave_up=lab.gave_up, passed=lab.passed,
        )
        for lab in labs
    }


def derive_scores(labs: list[BundleLab], state: InstalledState, recency: RecencyPolicy | None = None) -> list[SkillScore]:
    """The full skill scores (evidence volume, recency, competencies) a bundle's checks earn."""
    return skill_profile(state.matrix, state.labs, bundle_evidence(labs), state.offers, recency)


def profile_of(scores: list[SkillScore]) -> list[BundleSkill]:
    return [BundleSkill.model_construct(id=s.category.id, tier=s.category.tier, proficiency=s.proficiency, level=s.level)
            for s in scores]


def derive_profile(labs: list[BundleLab], state: InstalledState, recency: RecencyPolicy | None = None) -> list[BundleSkill]:
    """The skill profile that a bundle's checks earn, scored by the installed curriculum."""
    return profile_of(derive_scores(labs, state, recency))


# -- export ---------------------------------------------------------------------------------------

@dataclass
class ExportOutcome:
    """What `export` wrote, for the front ends."""

    path: Path
    learner_id: str
    name: str
    fingerprint: str
    public_key: str
    key_created: bool
    labs: int
    checks: int
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def _starter_manifest(lab: Lab) -> dict[str, str]:
    return {path: sha256_bytes(data) for path, data in manifest_of(lab.starter_dir).items()}


def _lab_records(workspace: Workspace, state: InstalledState, warnings: list[str]) -> tuple[list[BundleLab], dict[str, str]]:
    """Per lab: the learner's evidence as local skills count it (ProgressStore.evidence: the best
    attempt graded by the installed grader), with that attempt's submitted files; and the blobs."""
    store = workspace.progress
    installed = {lab_id: (lab.spec.version, state.grader_sha256[lab_id]) for lab_id, lab in state.labs.items()}
    evidence = store.evidence(installed)
    hints = {lab_id: store.hints_revealed(lab_id) for lab_id in store.all_hints()}
    solutions = store.solutions_viewed()
    started = store.started_labs()
    attempts = store.attempts()
    blobs: dict[str, str] = {}
    records = []
    order = list(state.labs)
    for lab_id in sorted(started.keys() | hints.keys() | solutions.keys() | evidence.keys(),
                         key=lambda i: order.index(i) if i in order else len(order)):
        if lab_id not in state.labs:
            warnings.append(f"{lab_id}: not a lab of the installed curriculum; left out")
            continue
        lab = state.labs[lab_id]
        found = evidence.get(lab_id, LabEvidence())
        other = sum(1 for a in attempts if a["lab_id"] == lab_id and a["trusted"] and a["grader_sha256"] != state.grader_sha256[lab_id])
        if other:
            warnings.append(f"{lab_id}: {other} attempt(s) graded by another grader version are left out;"
                            f" run 'workbench check {lab_id}' again")
        result = None
        if found.attempt_id is not None and not found.older_version:
            result = store.attempt_result(found.attempt_id)
        checks: list[BundleCheck] = []
        work = None
        if result is not None:
            recorded = {name: check.recorded_at for name, check in found.checks.items()}
            checks = [BundleCheck(task_id=t.task_id, name=t.name, status=t.status, points=t.points, max_points=t.max_points,
                                  skill=t.skill, metrics=t.metrics, recorded_at=recorded.get(t.name, result.started_at))
                      for t in sorted(result.tests, key=lambda t: t.task_id)]
            if result.files:
                files = submission(result.files, _starter_manifest(lab), workspace.objects, lab_id)
                digests = {path: sha256_bytes(data) for path, data in files.items()}
                for path, data in files.items():
                    blobs[digests[path]] = base64.b64encode(data).decode()
                work = BundleSubmission(files=digests, bytes=sum(len(d) for d in files.values()))
            else:
                warnings.append(f"{lab_id}: the graded attempt predates file snapshots, so the bundle carries no work"
                                f" for it (self-reported only); run 'workbench check {lab_id}' again, then export")
        records.append(BundleLab(
            id=lab_id, grader_sha256=state.grader_sha256[lab_id], attempts=found.attempts if result is not None else 0,
            passed=result is not None and found.passed, started_at=started.get(lab_id),
            last_attempt_at=result.started_at if result is not None else None,
            models=[result.model] if result is not None and result.model else [], checks=checks,
            hints_revealed=hints.get(lab_id, []), solution_viewed=lab_id in solutions, gave_up=solutions.get(lab_id, False),
            sandbox=result.sandbox if result is not None else None, version=lab.spec.version, older_version_attempts=other,
            engine_version=result.workbench_version if result is not None else None, submission=work,
        ))
    return records, blobs


def build_payload(workspace: Workspace, name: str, public_key: str, *, exported_at: datetime | None = None,
                  warnings: list[str] | None = None) -> dict[str, Any]:
    """The bundle payload of a workspace (JSON-ready)."""
    from .backend_name import active_model_name

    state = installed_state(workspace.settings.curriculum)
    labs, blobs = _lab_records(workspace, state, warnings if warnings is not None else [])
    curriculum = load_curriculum(state.curriculum_id)
    payload = BundlePayload(
        exported_at=exported_at or datetime.now(timezone.utc).replace(microsecond=0),
        learner=BundleLearner(id=workspace.settings.learner_id, name=name, public_key=public_key),
        curriculum=BundleCurriculum(id=curriculum.id, version=curriculum.version, skills=state.matrix.id,
                                    skills_version=state.matrix.version),
        workbench_version=__version__, backend_model=active_model_name(),
        environment={"python": platform.python_version(), "platform": platform.platform(terse=True),
                     "machine": platform.machine()},
        labs=labs, skill_profile=derive_profile(labs, state), scoring_version=SCORING_VERSION, blobs=blobs,
    )
    return payload.model_dump(mode="json")


def default_bundle_name(name: str, exported_at: datetime) -> str:
    """workbench-bundle-<name>-<UTC time>.json"""
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "learner"
    return f"workbench-bundle-{slug[:40]}-{exported_at.strftime('%Y%m%dT%H%M%SZ')}.json"


def export_bundle(workspace: Workspace, out: Path | None = None, *, name: str | None = None,
                  private_key: Ed25519PrivateKey | None = None, exported_at: datetime | None = None) -> ExportOutcome:
    """Sign the workspace's evidence and work with the learner's key and write the bundle (atomically)."""
    key_created = False
    if private_key is None:
        private_key, key_created = load_or_create_key()
    display_name = resolve_display_name(name)
    exported_at = exported_at or datetime.now(timezone.utc).replace(microsecond=0)
    warnings: list[str] = []
    public_key = public_key_b64(private_key)
    payload = build_payload(workspace, display_name, public_key, exported_at=exported_at, warnings=warnings)
    document = sign_payload(payload, private_key)
    path = out if out is not None else Path.cwd() / default_bundle_name(display_name, exported_at)
    if path.is_dir() or (out is not None and not path.suffix):  # a folder, existing or to be made
        path = path / default_bundle_name(display_name, exported_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(canonical_json(document) + b"\n")
    os.replace(tmp, path)
    carried = [lab["submission"] for lab in payload["labs"] if lab.get("submission")]
    return ExportOutcome(path=path, learner_id=payload["learner"]["id"], name=display_name,
                         fingerprint=fingerprint(public_key), public_key=public_key, key_created=key_created, labs=len(payload["labs"]),
                         checks=sum(len(lab["checks"]) for lab in payload["labs"]), warnings=warnings,
                         files=sum(len(s["files"]) for s in carried), bytes=sum(s["bytes"] for s in carried))


# -- verify ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, schema and grader hashes check out."""

    source: str
    sha256: str
    payload: BundlePayload
    fingerprint: str
    profile: tuple[BundleSkill, ...]
    scores: tuple[SkillScore, ...] = ()
    format_version: int = 2

    @property
    def learner_id(self) -> str:
        """The learner id the bundle claims (its workspace's id)."""
        return self.payload.learner.id

    def work(self, lab_id: str) -> dict[str, bytes] | None:
        """The submitted files of one lab (None: the bundle carries no work for it)."""
        lab = next((lab for lab in self.payload.labs if lab.id == lab_id), None)
        if lab is None or lab.submission is None:
            return None
        return {path: base64.b64decode(self.payload.blobs[digest]) for path, digest in lab.submission.files.items()}


@dataclass(frozen=True)
class Rejection:
    """A file that is not counted, and why (`reason` is a key of REASONS)."""

    source: str
    reason: str
    detail: str
    learner_id: str | None = None

    @property
    def label(self) -> str:
        """The reason in words."""
        return REASONS.get(self.reason, self.reason)


def verify_bundle(data: bytes, source: str, state: InstalledState, trusted: TrustedKeys | None = None,
                  now: datetime | None = None) -> VerifiedBundle | Rejection:
    """Check one bundle: format, integrity (SHA-256), Ed25519 signature, schema, the key's binding
    (with trusted keys), the date against the reader's clock, curriculum, grader hashes and check
    lists against the installed graders, the carried work, and internal consistency."""
    def reject(reason: str, detail: str, learner_id: str | None = None) -> Rejection:
        return Rejection(source, reason, detail, learner_id)

    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return reject("not-a-bundle", f"not valid JSON ({str(exc).split(':')[0]}); the file may be truncated")
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        return reject("not-a-bundle", f"no \"format\": \"{BUNDLE_FORMAT}\" marker")
    version = document.get("format_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        return reject("wrong-format-version", f"format_version {version!r};"
                      f" this workbench reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    payload, digest, signature = document.get("payload"), document.get("sha256"), document.get("signature")
    if not (isinstance(payload, dict) and isinstance(digest, str) and isinstance(signature, dict)
            and isinstance(signature.get("value"), str) and signature.get("algorithm") == "ed25519"):
        return reject("bad-schema", "payload, sha256 or an ed25519 signature is missing")
    try:
        content = signed_bytes(document)
    except ValueError:
        return reject("bad-schema", "the payload holds a number JSON cannot represent (NaN or infinity)")
    if hashlib.sha256(content).hexdigest() != digest:
        return reject("edited-content", "the content does not match the SHA-256 it was signed with")
    learner = payload.get("learner")
    public_key = learner.get("public_key") if isinstance(learner, dict) else None
    learner_id = learner.get("id") if isinstance(learner, dict) and isinstance(learner.get("id"), str) else None
    if not _signature_ok(public_key, signature["value"], content):
        return reject("bad-signature", "the signature was not made with the key in the bundle", learner_id)
    if version == 1 and ("blobs" in payload or any(isinstance(lab, dict) and "submission" in lab for lab in payload.get("labs") or [])):
        return reject("bad-schema", "a version 1 bundle cannot carry work", learner_id)
    try:  # validated from the canonical bytes just hashed (pydantic's JSON path is the fast one)
        prefix = canonical_json({"format": BUNDLE_FORMAT, "format_version": version})[:-1] + b',"payload":'
        model = BundlePayload.model_validate_json(content[len(prefix):-1])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return reject("bad-schema", f"{where}: {first['msg']}", learner_id)
    if trusted is not None:
        binding = trusted.get(model.learner.public_key)
        if binding is None:
            return reject("untrusted-key", f"key {fingerprint(model.learner.public_key)} is not in the trusted keys", learner_id)
        if binding.learner_id is None:
            return reject("unbound-key", f"key {fingerprint(model.learner.public_key)} is trusted but bound to no learner id;"
                          " add the id after the key in the trusted-keys file", learner_id)
        if binding.learner_id != model.learner.id:
            return reject("foreign-id", f"key {fingerprint(model.learner.public_key)} is bound to learner {binding.learner_id},"
                          f" not {model.learner.id}", learner_id)
    reader_now = now or datetime.now(timezone.utc)
    if model.exported_at > reader_now + CLOCK_SKEW:
        return reject("future-dated", f"exported_at {model.exported_at.isoformat()} is later than now"
                      f" ({reader_now.isoformat(timespec='seconds')}) on this machine's clock", learner_id)
    if model.curriculum.id != state.curriculum_id:
        return reject("unknown-curriculum", f"curriculum '{model.curriculum.id}', the report is for '{state.curriculum_id}'", learner_id)
    for lab in model.labs:
        installed = state.grader_sha256.get(lab.id)
        if installed is None:
            return reject("unknown-grader-hash", f"{lab.id}: no such lab is installed", learner_id)
        if lab.grader_sha256 != installed:
            return reject("unknown-grader-hash", f"{lab.id}: grader {lab.grader_sha256[:12]}… is not the installed"
                          f" grader {installed[:12]}…", learner_id)
        expected = state.expected_checks(lab.id)
        if lab.checks and expected is not None:
            found = {c.name: c.max_points for c in lab.checks}
            missing = sorted(expected.keys() - found.keys())
            extra = sorted(found.keys() - expected.keys())
            changed = sorted(n for n in expected.keys() & found.keys() if abs(expected[n] - found[n]) > 1e-9)
            if missing or extra or changed:
                parts = [f"{len(missing)} of the grader's {len(expected)} checks missing" if missing else "",
                         f"unknown checks {extra[:3]}" if extra else "", f"other max points for {changed[:3]}" if changed else ""]
                return reject("incomplete-checks", f"{lab.id}: " + "; ".join(p for p in parts if p), learner_id)
    problem = _inconsistency(model, state) or _work_problem(model)
    if problem:
        return reject("inconsistent", problem, learner_id)
    scores = derive_scores(model.labs, state)
    profile = profile_of(scores)
    if (model.curriculum.version == state.curriculum_version and model.curriculum.skills_version == state.matrix.version
            and model.scoring_version == SCORING_VERSION
            and [(s.id, s.proficiency) for s in profile] != [(s.id, s.proficiency) for s in model.skill_profile]):
        return reject("inconsistent", "the skill profile does not follow from the checks", learner_id)
    return VerifiedBundle(source, digest, model, fingerprint(model.learner.public_key), tuple(profile), tuple(scores),
                          int(version))


def _signature_ok(public_key: Any, signature_b64: str, content: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(public_key), validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), content)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _inconsistency(model: BundlePayload, state: InstalledState) -> str | None:
    seen_labs: set[str] = set()
    for lab in model.labs:
        if lab.id in seen_labs:
            return f"lab {lab.id} appears twice"
        seen_labs.add(lab.id)
        names = [c.name for c in lab.checks]
        if len(set(names)) != len(names):
            return f"{lab.id}: a check appears twice"
        for check in lab.checks:
            if check.points > check.max_points + 1e-9:
                return f"{lab.id}: '{check.name}' has {check.points:g} of {check.max_points:g} points"
        earned, available = sum(c.points for c in lab.checks), sum(c.max_points for c in lab.checks)
        if lab.passed and (not available or earned < state.labs[lab.id].spec.pass_mark * available - 1e-9):
            return f"{lab.id}: marked passed with {earned:g} of {available:g} points"
        if lab.checks and lab.attempts < 1:
            return f"{lab.id}: checks without any attempt"
    return None


def _work_problem(model: BundlePayload) -> str | None:
    """The carried work must be whole: safe paths, every blob present and matching its hash,
    no blob left over, each lab within the size cap."""
    used: set[str] = set()
    for lab in model.labs:
        if lab.submission is None:
            continue
        total = 0
        for path, digest in lab.submission.files.items():
            if safe_relative(path) is None:
                return f"{lab.id}: unsafe file path {path!r}"
            encoded = model.blobs.get(digest)
            if encoded is None:
                return f"{lab.id}/{path}: its bytes are missing"
            try:
                data = base64.b64decode(encoded, validate=True)
            except ValueError:
                return f"{lab.id}/{path}: its bytes are not base64"
            if sha256_bytes(data) != digest:
                return f"{lab.id}/{path}: its bytes do not match their SHA-256"
            total += len(data)
            used.add(digest)
        if total != lab.submission.bytes or total > MAX_SUBMISSION_BYTES:
            return f"{lab.id}: the submission holds {total} bytes (declared {lab.submission.bytes}, at most {MAX_SUBMISSION_BYTES})"
    if set(model.blobs) - used:
        return "the bundle holds bytes no lab submitted"
    return None


def verify_file(path: Path, state: InstalledState, trusted: TrustedKeys | None = None, source: str | None = None,
                now: datetime | None = None) -> VerifiedBundle | Rejection:
    """Read and verify one bundle file."""
    shown = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Rejection(shown, "not-a-bundle", f"cannot read the file ({exc.strerror})")
    return verify_bundle(data, shown, state, trusted, now)


__all__ = [
    "REASONS", "ExportOutcome", "InstalledState", "Rejection", "VerifiedBundle", "build_payload", "bundle_evidence",
    "derive_profile", "derive_scores", "profile_of", "export_bundle", "installed_state", "verify_bundle", "verify_file",
]
