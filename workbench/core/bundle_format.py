"""The result bundle's file format: the signed payload's schema, canonical JSON and signing.

A bundle file is canonical JSON (sorted keys, no spaces, UTF-8):

    {"format": "workbench-result-bundle", "format_version": 2, "payload": {...},
     "sha256": "<hex SHA-256 of the signed bytes>",
     "signature": {"algorithm": "ed25519", "value": "<base64 signature of the signed bytes>"}}

The signed bytes are the canonical JSON of {"format", "format_version", "payload"}; the payload
holds the learner (id, display name, public key), curriculum, workbench version, backend model,
per lab the checks of the best attempt with the grader's SHA-256, the engine version and sandbox
that graded it, hints and solutions, the derived skill profile and (version 2) the *work*: the
submitted files of that attempt (`labs[].submission.files`: path -> SHA-256) with their bytes
once each in `blobs` (SHA-256 -> base64). Version 1 bundles (no work) still read; what they
claim can only be counted as self-reported.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BUNDLE_FORMAT = "workbench-result-bundle"
BUNDLE_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
REASONS: dict[str, str] = {
    "not-a-bundle": "not a bundle",
    "wrong-format-version": "wrong format version",
    "bad-schema": "does not match the bundle schema",
    "edited-content": "edited content",
    "bad-signature": "bad signature",
    "untrusted-key": "untrusted key",
    "unbound-key": "key bound to no learner",
    "foreign-id": "id of another learner",
    "contested-learner": "two new keys claim one learner",
    "future-dated": "dated in the future",
    "unknown-curriculum": "other curriculum",
    "unknown-grader-hash": "unknown grader hash",
    "incomplete-checks": "check list differs from the grader",
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


class BundleSubmission(_Strict):
    """The work behind a lab's checks: submitted files (path -> SHA-256 of a blob) and their size."""

    files: dict[str, str]
    bytes: int = Field(ge=0)


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
    sandbox: str | None = None  # the sandbox the counted attempt ran in: "bwrap" or "none"
    version: int | None = None  # the lab version the counted attempts were graded under
    older_version_attempts: int = Field(default=0, ge=0)  # trusted attempts by another grader, left out
    engine_version: str | None = None  # the workbench version that graded the counted attempt (v2)
    submission: BundleSubmission | None = None  # the files of the counted attempt (v2; None: no work carried)


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
    blobs: dict[str, str] = {}  # SHA-256 -> base64 bytes of every submitted file (v2)


# -- canonical JSON and signing -----------------------------------------------------------------

def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the same bytes on every machine."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def signed_bytes(document: dict[str, Any]) -> bytes:
    """The bytes a bundle's signature and SHA-256 cover."""
    return canonical_json({key: document.get(key) for key in ("format", "format_version", "payload")})


def sign_payload(payload: dict[str, Any], private_key: Ed25519PrivateKey,
                 format_version: int = BUNDLE_FORMAT_VERSION) -> dict[str, Any]:
    """Wrap a payload into a signed bundle document."""
    document: dict[str, Any] = {"format": BUNDLE_FORMAT, "format_version": format_version, "payload": payload}
    content = signed_bytes(document)
    document["sha256"] = hashlib.sha256(content).hexdigest()
    document["signature"] = {"algorithm": "ed25519", "value": base64.b64encode(private_key.sign(content)).decode()}
    return document


__all__ = ["BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "READABLE_VERSIONS", "REASONS", "BundleCheck", "BundleCurriculum",
           "BundleLab", "BundleLearner", "BundlePayload", "BundleSkill", "BundleSubmission", "canonical_json",
           "sign_payload", "signed_bytes"]
