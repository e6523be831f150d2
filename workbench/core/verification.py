"""Verification by re-grading, for team reports: the work each current bundle carries is graded
again with the installed graders (workbench.core.regrade), the re-graded labs replace the
self-reported ones, every self-reported pass that does not hold is listed, and submissions are
compared with each other and the reference solution (workbench.core.similarity)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bundle import InstalledState, VerifiedBundle, derive_scores, profile_of
from .bundle_format import BundleCheck, BundleLab
from .report_model import CopyFlag, MemberLab, Mismatch, Verification


@dataclass(frozen=True)
class RegradeOptions:
    """How `team_report` re-grades: executor, workers, Ray address, and whether to run unsandboxed."""

    executor: str = "local"
    workers: int | None = None
    address: str | None = None
    allow_unsandboxed: bool = False
    copy_threshold: float = 0.8
    on_start: Callable[[int, int], None] | None = None  # (jobs, cached)
    on_result: Callable[[Any, dict[str, Any], bool], None] | None = None
    setup: Callable[[], Any] | None = None  # run in each worker first (the front end's model hook)


@dataclass
class Verified:
    """Re-grading's outcome for the current bundles."""

    bundles: list[VerifiedBundle]
    members: dict[str, list[MemberLab]]
    mismatches: list[Mismatch]
    copy_flags: list[CopyFlag]
    verification: Verification


def lab_score(lab: BundleLab) -> float | None:
    available = sum(c.max_points for c in lab.checks)
    return round(sum(c.points for c in lab.checks) / available, 4) if available else None


def _regraded_lab(lab: BundleLab, result: dict[str, Any]) -> BundleLab:
    checks = [BundleCheck(task_id=t["task_id"], name=t["name"], status=t["status"], points=t["points"],
                          max_points=t["max_points"], skill=t["skill"], metrics=t.get("metrics") or {},
                          recorded_at=lab.checks[0].recorded_at if lab.checks else result["started_at"])
              for t in result["tests"]]
    return lab.model_copy(update={"checks": checks, "passed": result["status"] == "pass",
                                  "sandbox": result.get("sandbox"), "engine_version": result.get("workbench_version")})


def _mismatches(bundle: VerifiedBundle, lab: BundleLab, result: dict[str, Any]) -> list[Mismatch]:
    rows = []
    regraded = {t["name"]: t for t in result["tests"]}
    tolerance = result.get("timing_tolerance", 1.0)
    for check in lab.checks:
        again = regraded.get(check.name)
        if check.status == "pass" and (again is None or again["status"] != "pass"):
            rows.append(Mismatch(member_id=bundle.learner_id, name=bundle.payload.learner.name, lab=lab.id, check=check.name,
                                 self_reported=check.status, self_reported_points=check.points,
                                 regraded=again["status"] if again else "not run", regraded_points=again["points"] if again else None,
                                 max_points=check.max_points,
                                 note=f"timing checks re-graded with x{tolerance:g} tolerance" if tolerance != 1.0 else ""))
    if lab.passed and result["status"] != "pass":
        rows.append(Mismatch(member_id=bundle.learner_id, name=bundle.payload.learner.name, lab=lab.id, check="(lab passed)",
                             self_reported="pass", self_reported_points=lab_score(lab), regraded=result["status"],
                             regraded_points=result.get("score"), max_points=1.0, note=result.get("message") or ""))
    return rows


def verify_by_regrading(current: list[VerifiedBundle], state: InstalledState, options: RegradeOptions) -> Verified:
    """Re-grade the work of every current bundle; return the bundles as re-graded, per member
    the evidence of each lab, the mismatches, the copy flags and a summary."""
    from .regrade import RegradeJob, regrade, require_sandbox

    sandbox_kind = require_sandbox(options.allow_unsandboxed)
    jobs: dict[tuple[str, str], RegradeJob] = {}
    for bundle in current:
        for lab in bundle.payload.labs:
            files = bundle.work(lab.id)
            if files is not None and lab.checks:
                jobs[(bundle.sha256, lab.id)] = RegradeJob(lab.id, files, lab.grader_sha256, label=f"{bundle.payload.learner.name}/{lab.id}",
                                                           curriculum=state.curriculum_id)
    run = regrade(jobs.values(), executor=options.executor, workers=options.workers, address=options.address,
                  on_result=options.on_result, setup=options.setup, on_start=options.on_start)
    bundles, members, mismatches = [], {}, []
    verified = self_reported = 0
    for bundle in current:
        labs, rows = [], []
        for lab in bundle.payload.labs:
            job = jobs.get((bundle.sha256, lab.id))
            result = run.results.get(job.key) if job is not None else None
            if result is None:
                why = ("no work attached (version 1 bundle)" if bundle.format_version < 2 else
                       "no graded attempt" if not lab.checks else
                       "no work attached (graded before snapshots)" if job is None else "re-grading was interrupted")
                labs.append(lab)
                if lab.checks:
                    self_reported += 1
                    rows.append(MemberLab(lab=lab.id, evidence="self-reported", why=why, passed=lab.passed, score=lab_score(lab),
                                          self_reported_score=lab_score(lab), self_reported_passed=lab.passed))
                continue
            verified += 1
            again = _regraded_lab(lab, result)
            labs.append(again)
            mismatches += _mismatches(bundle, lab, result)
            rows.append(MemberLab(lab=lab.id, evidence="verified", passed=again.passed, score=lab_score(again),
                                  self_reported_score=lab_score(lab), self_reported_passed=lab.passed))
        payload = bundle.payload.model_copy(update={"labs": labs})
        scores = derive_scores(labs, state)
        bundles.append(VerifiedBundle(bundle.source, bundle.sha256, payload, bundle.fingerprint, tuple(profile_of(scores)),
                                      tuple(scores), bundle.format_version))
        members[bundle.learner_id] = rows
    flags = _copy_flags(current, state, options.copy_threshold)
    verification = Verification(regraded=True, executor=options.executor, pairs=len(jobs), verified=verified,
                                self_reported=self_reported, from_cache=run.from_cache, mismatches=len(mismatches),
                                copy_flags=len(flags), sandbox=sandbox_kind)
    if run.interrupted:
        raise KeyboardInterrupt
    return Verified(bundles, members, mismatches, flags, verification)


def _copy_flags(current: list[VerifiedBundle], state: InstalledState, threshold: float) -> list[CopyFlag]:
    from .similarity import REFERENCE, similar_pairs
    from .snapshots import manifest_of

    names = {b.learner_id: b.payload.learner.name for b in current}
    flags = []
    for lab_id, lab in state.labs.items():
        submissions = {b.learner_id: work for b in current if (work := b.work(lab_id))}
        if not submissions:
            continue
        for pair in similar_pairs(lab_id, submissions, manifest_of(lab.solution_dir), manifest_of(lab.starter_dir), threshold):
            flags.append(CopyFlag(lab=lab_id, member_id=pair.a, name=names[pair.a], other_id=pair.b,
                                  other_name="the reference solution" if pair.b == REFERENCE else names[pair.b],
                                  similarity=max(pair.share_a, pair.share_b), similarity_other=min(pair.share_a, pair.share_b)))
    flags.sort(key=lambda f: (-f.similarity, f.lab, f.name))
    return flags


__all__ = ["RegradeOptions", "Verified", "lab_score", "verify_by_regrading"]
