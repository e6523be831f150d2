"""Signed result bundles: a learner's graded evidence, exported from their own machine and
verified by whoever reads it (`workbench export`, `workbench bundle verify`, `workbench report`).

A bundle file is canonical JSON (sorted keys, no spaces, UTF-8):

    {"format": "workbench-result-bundle", "format_version": 1, "payload": {...},
     "sha256": "<hex SHA-256 of the signed bytes>",
     "signature": {"algorithm": "ed25519", "value": "<base64 signature of the signed bytes>"}}

The signed bytes are the canonical JSON of {"format", "format_version", "payload"}; the payload
holds the learner (id, display name, public key), curriculum, workbench version, backend model,
per lab the best result of every check with the grader's SHA-256, hints and solutions, and the
derived skill profile. The key pair is created on first export in the user config dir.

What a signature proves: the file was not changed after the holder of the key exported it, and
(with trusted keys or a first-seen key per learner) who that is. It cannot prove the learner
did not tamper with their own machine; grader hashes show the installed graders did the grading.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from workbench import __version__

from .curriculum import DEFAULT_CURRICULUM, load_curriculum
from .errors import DataError
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

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .checks import Inventory
    from .workspace import Workspace

BUNDLE_FORMAT = "workbench-result-bundle"
BUNDLE_FORMAT_VERSION = 1
KEY_FILE = "signing-key.pem"
IDENTITY_FILE = "identity.toml"
REASONS: dict[str, str] = {
    "not-a-bundle": "not a bundle",
    "wrong-format-version": "wrong format version",
    "bad-schema": "does not match the bundle schema",
    "edited-content": "edited content",
    "bad-signature": "bad signature",
    "untrusted-key": "untrusted key",
    "unknown-curriculum": "other curriculum",
    "unknown-grader-hash": "unknown grader hash",
    "inconsistent": "inconsistent results",
    "duplicate-bundle": "duplicate bundle",
    "duplicate-learner": "duplicate learner",
}
_HEX64 = r"^[0-9a-f]{64}$"


# -- the payload schema -------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleCheck(_Strict):
    """The best result of one check over the learner's trusted attempts."""

    task_id: int
    name: str = Field(min_length=1)
    status: Literal["pass", "fail", "error"]
    points: float = Field(ge=0)
    max_points: float = Field(ge=0)
    skill: str
    metrics: dict[str, Any]
    recorded_at: str


class BundleLab(_Strict):
    """One lab's evidence: best checks under one grader, and the help the learner used."""

    id: str
    grader_sha256: str = Field(pattern=_HEX64)
    attempts: int = Field(ge=0)
    passed: bool
    started_at: str | None
    last_attempt_at: str | None
    models: list[str]
    checks: list[BundleCheck]
    hints_revealed: list[int]
    solution_viewed: bool
    gave_up: bool
    sandbox: str | None = None  # "bwrap" when every attempt counted here ran sandboxed, else "none"
    version: int | None = None  # the lab version the counted attempts were graded under
    older_version_attempts: int = Field(default=0, ge=0)  # trusted attempts by another grader, left out


class BundleLearner(_Strict):
    """Who exported the bundle; `public_key` is the raw Ed25519 key, base64."""

    id: str = Field(min_length=1)
    name: str
    public_key: str


class BundleCurriculum(_Strict):
    """The curriculum and skills matrix the evidence was scored against."""

    id: str
    version: str
    skills: str
    skills_version: str


class BundleSkill(_Strict):
    """One category of the derived skill profile."""

    id: str
    tier: str
    proficiency: float | None
    level: str


class BundlePayload(_Strict):
    """Everything the signature covers."""

    exported_at: AwareDatetime
    learner: BundleLearner
    curriculum: BundleCurriculum
    workbench_version: str
    backend_model: str | None
    environment: dict[str, str]
    labs: list[BundleLab]
    skill_profile: list[BundleSkill]
    scoring_version: int = 1  # the formula skill_profile was derived with (workbench.core.skills)


# -- canonical JSON and signing -----------------------------------------------------------------

def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the same bytes on every machine."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def signed_bytes(document: dict[str, Any]) -> bytes:
    """The bytes a bundle's signature and SHA-256 cover."""
    return canonical_json({key: document.get(key) for key in ("format", "format_version", "payload")})


def sign_payload(payload: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Wrap a payload into a signed bundle document."""
    document: dict[str, Any] = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "payload": payload}
    content = signed_bytes(document)
    document["sha256"] = hashlib.sha256(content).hexdigest()
    document["signature"] = {"algorithm": "ed25519", "value": base64.b64encode(private_key.sign(content)).decode()}
    return document


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """The raw public key of a private key, base64."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def fingerprint(public_key: str) -> str:
    """Short, stable name of a public key: 'ed25519:' + 16 hex digits of its SHA-256."""
    try:
        raw = base64.b64decode(public_key, validate=True)
    except ValueError:
        raw = public_key.encode()
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


# -- the learner's key and name (user config dir) -------------------------------------------------

def config_dir() -> Path:
    """The user config dir: WORKBENCH_CONFIG_DIR, else the platform's (XDG on Linux)."""
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "workbench"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "workbench"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "workbench"


def load_or_create_key(directory: Path | None = None) -> tuple[Ed25519PrivateKey, bool]:
    """The learner's Ed25519 key (created, mode 0600, on first use); (key, created now?)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    path = (directory or config_dir()) / KEY_FILE
    if path.is_file():
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise DataError(path, f"cannot read the signing key ({exc})",
                            hint="move it away; the next export creates a new key (your lead must trust the new one)") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise DataError(path, "is not an Ed25519 private key", hint="move it away; the next export creates a new key")
        return key, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another export created it first: use that one
        return load_or_create_key(directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key, True


def resolve_display_name(name: str | None = None) -> str:
    """--name (remembered for next time), else the remembered name, else `git config user.name`,
    else the login name."""
    path = config_dir() / IDENTITY_FILE
    if name is not None and name.strip():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(f"# Remembered by 'workbench export --name'\ndisplay_name = {json.dumps(name.strip(), ensure_ascii=False)}\n",
                        encoding="utf-8")
        return name.strip()
    if path.is_file():
        from .tomlfile import read_toml

        remembered = read_toml(path)[0].get("display_name")
        if isinstance(remembered, str) and remembered.strip():
            return remembered.strip()
    try:
        git = subprocess.run(["git", "config", "--get", "user.name"], capture_output=True, text=True, timeout=2)
        if git.returncode == 0 and git.stdout.strip():
            return git.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "anonymous"


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


def _profile_of(scores: list[SkillScore]) -> list[BundleSkill]:
    return [BundleSkill.model_construct(id=s.category.id, tier=s.category.tier, proficiency=s.proficiency, level=s.level)
            for s in scores]


def derive_profile(labs: list[BundleLab], state: InstalledState, recency: RecencyPolicy | None = None) -> list[BundleSkill]:
    """The skill profile that a bundle's checks earn, scored by the installed curriculum."""
    return _profile_of(derive_scores(labs, state, recency))


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


def _lab_records(workspace: Workspace, state: InstalledState, warnings: list[str]) -> list[BundleLab]:
    """Per lab: the best result of every check over the trusted attempts graded by the installed
    grader (ProgressStore.best_checks' rule, kept to one grader so the bundle verifies against it)."""
    store = workspace.progress
    hints = {lab_id: store.hints_revealed(lab_id) for lab_id in store.all_hints()}
    solutions = store.solutions_viewed()
    started = store.started_labs()
    attempts = store.attempts()
    check_rows = store.trusted_check_rows()
    records = []
    for lab_id in sorted(started.keys() | hints.keys() | solutions.keys() | {a["lab_id"] for a in attempts},
                         key=lambda i: list(state.labs).index(i) if i in state.labs else len(state.labs)):
        installed = state.grader_sha256.get(lab_id)
        if installed is None:
            warnings.append(f"{lab_id}: not a lab of the installed curriculum; left out")
            continue
        used = [a for a in attempts if a["lab_id"] == lab_id and a["trusted"] and a["grader_sha256"] == installed]
        other = sum(1 for a in attempts if a["lab_id"] == lab_id and a["trusted"] and a["grader_sha256"] != installed)
        if other:
            warnings.append(f"{lab_id}: {other} attempt(s) graded by another grader version are left out;"
                            f" run 'workbench check {lab_id}' again")
        used_ids = {a["id"] for a in used}
        best: dict[str, sqlite3.Row] = {}
        for row in check_rows:
            if row["attempt_id"] in used_ids and (row["name"] not in best or row["points"] > best[row["name"]]["points"]):
                best[row["name"]] = row
        checks = [BundleCheck(task_id=r["task_id"], name=r["name"], status=r["status"], points=r["points"],
                              max_points=r["max_points"], skill=r["skill"], metrics=json.loads(r["metrics_json"]),
                              recorded_at=r["recorded_at"]) for r in sorted(best.values(), key=lambda r: r["task_id"])]
        records.append(BundleLab(
            id=lab_id, grader_sha256=installed, attempts=len(used), passed=any(a["status"] == "pass" for a in used),
            started_at=started.get(lab_id), last_attempt_at=max((a["started_at"] for a in used), default=None),
            models=sorted({a["model"] for a in used if a["model"]}), checks=checks,
            hints_revealed=hints.get(lab_id, []), solution_viewed=lab_id in solutions, gave_up=solutions.get(lab_id, False),
            sandbox=("none" if any(a["sandbox"] == "none" for a in used) else used[0]["sandbox"]) if used else None,
            version=state.labs[lab_id].spec.version, older_version_attempts=other,
        ))
    return records


def build_payload(workspace: Workspace, name: str, public_key: str, *, exported_at: datetime | None = None,
                  warnings: list[str] | None = None) -> dict[str, Any]:
    """The bundle payload of a workspace (JSON-ready)."""
    from .backend_name import active_model_name

    state = installed_state(workspace.settings.curriculum)
    labs = _lab_records(workspace, state, warnings if warnings is not None else [])
    curriculum = load_curriculum(state.curriculum_id)
    payload = BundlePayload(
        exported_at=exported_at or datetime.now(timezone.utc).replace(microsecond=0),
        learner=BundleLearner(id=workspace.settings.learner_id, name=name, public_key=public_key),
        curriculum=BundleCurriculum(id=curriculum.id, version=curriculum.version, skills=state.matrix.id,
                                    skills_version=state.matrix.version),
        workbench_version=__version__, backend_model=active_model_name(),
        environment={"python": platform.python_version(), "platform": platform.platform(terse=True),
                     "machine": platform.machine()},
        labs=labs, skill_profile=derive_profile(labs, state), scoring_version=SCORING_VERSION,
    )
    return payload.model_dump(mode="json")


def default_bundle_name(name: str, exported_at: datetime) -> str:
    """workbench-bundle-<name>-<UTC time>.json"""
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "learner"
    return f"workbench-bundle-{slug[:40]}-{exported_at.strftime('%Y%m%dT%H%M%SZ')}.json"


def export_bundle(workspace: Workspace, out: Path | None = None, *, name: str | None = None,
                  private_key: Ed25519PrivateKey | None = None, exported_at: datetime | None = None) -> ExportOutcome:
    """Sign the workspace's evidence with the learner's key and write the bundle (atomically)."""
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
    if path.is_dir():
        path = path / default_bundle_name(display_name, exported_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(canonical_json(document) + b"\n")
    os.replace(tmp, path)
    return ExportOutcome(path=path, learner_id=payload["learner"]["id"], name=display_name,
                         fingerprint=fingerprint(public_key), public_key=public_key, key_created=key_created, labs=len(payload["labs"]),
                         checks=sum(len(lab["checks"]) for lab in payload["labs"]), warnings=warnings)


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

    @property
    def learner_id(self) -> str:
        """The learner id the bundle claims (its workspace's id)."""
        return self.payload.learner.id


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


TrustedKeys = dict[str, str | None]


def load_trusted_keys(path: Path) -> TrustedKeys:
    """Parse a trusted-keys file: one `PUBLIC_KEY [LEARNER_ID]` per line, '#' starts a comment.
    PUBLIC_KEY is the base64 key `workbench export` prints; a LEARNER_ID binds it to one learner."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(path, f"cannot read the trusted-keys file ({exc.strerror})") from exc
    keys: TrustedKeys = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            valid = len(base64.b64decode(fields[0], validate=True)) == 32
        except ValueError:
            valid = False
        if not valid or len(fields) > 2:
            raise DataError(path, f"expected 'PUBLIC_KEY [LEARNER_ID]', got {line.strip()!r}", line=number,
                            hint="PUBLIC_KEY is the base64 Ed25519 key 'workbench export' prints")
        keys[fields[0]] = fields[1] if len(fields) == 2 else None
    return keys


def verify_bundle(data: bytes, source: str, state: InstalledState, trusted: TrustedKeys | None = None) -> VerifiedBundle | Rejection:
    """Check one bundle: format, integrity (SHA-256), Ed25519 signature, schema, trusted key,
    curriculum, grader hashes against the installed graders, and internal consistency."""
    def reject(reason: str, detail: str, learner_id: str | None = None) -> Rejection:
        return Rejection(source, reason, detail, learner_id)

    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return reject("not-a-bundle", f"not valid JSON ({str(exc).split(':')[0]}); the file may be truncated")
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        return reject("not-a-bundle", f"no \"format\": \"{BUNDLE_FORMAT}\" marker")
    if document.get("format_version") != BUNDLE_FORMAT_VERSION:
        return reject("wrong-format-version", f"format_version {document.get('format_version')!r};"
                      f" this workbench reads version {BUNDLE_FORMAT_VERSION}")
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
    try:
        model = BundlePayload.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return reject("bad-schema", f"{where}: {first['msg']}", learner_id)
    if trusted is not None:
        if model.learner.public_key not in trusted:
            return reject("untrusted-key", f"key {fingerprint(model.learner.public_key)} is not in the trusted keys", learner_id)
        bound = trusted[model.learner.public_key]
        if bound is not None and bound != model.learner.id:
            return reject("untrusted-key", f"key {fingerprint(model.learner.public_key)} is trusted for learner {bound},"
                          f" not {model.learner.id}", learner_id)
    if model.curriculum.id != state.curriculum_id:
        return reject("unknown-curriculum", f"curriculum '{model.curriculum.id}', the report is for '{state.curriculum_id}'", learner_id)
    for lab in model.labs:
        installed = state.grader_sha256.get(lab.id)
        if installed is None:
            return reject("unknown-grader-hash", f"{lab.id}: no such lab is installed", learner_id)
        if lab.grader_sha256 != installed:
            return reject("unknown-grader-hash", f"{lab.id}: grader {lab.grader_sha256[:12]}… is not the installed"
                          f" grader {installed[:12]}…", learner_id)
    problem = _inconsistency(model, state)
    if problem:
        return reject("inconsistent", problem, learner_id)
    scores = derive_scores(model.labs, state)
    profile = _profile_of(scores)
    if (model.curriculum.version == state.curriculum_version and model.curriculum.skills_version == state.matrix.version
            and model.scoring_version == SCORING_VERSION
            and [(s.id, s.proficiency) for s in profile] != [(s.id, s.proficiency) for s in model.skill_profile]):
        return reject("inconsistent", "the skill profile does not follow from the checks", learner_id)
    return VerifiedBundle(source, digest, model, fingerprint(model.learner.public_key), tuple(profile), tuple(scores))


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


def verify_file(path: Path, state: InstalledState, trusted: TrustedKeys | None = None, source: str | None = None) -> VerifiedBundle | Rejection:
    """Read and verify one bundle file."""
    shown = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Rejection(shown, "not-a-bundle", f"cannot read the file ({exc.strerror})")
    return verify_bundle(data, shown, state, trusted)


__all__ = [
    "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "REASONS", "BundleCheck", "BundleLab", "BundleLearner", "BundlePayload",
    "BundleSkill", "ExportOutcome", "InstalledState", "Rejection", "TrustedKeys", "VerifiedBundle", "build_payload", "bundle_evidence", "derive_scores",
    "canonical_json", "config_dir", "derive_profile", "export_bundle", "fingerprint", "installed_state",
    "load_or_create_key", "load_trusted_keys", "public_key_b64", "resolve_display_name", "sign_payload",
    "signed_bytes", "verify_bundle", "verify_file",
]
