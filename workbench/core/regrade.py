"""Re-grading the work that bundles carry, on the lead's machine (or a Ray cluster), with the
installed graders in the v2 sandbox: what makes a score *verified*.

One job per (bundle, lab): the lab's installed starter with the submitted files laid over it,
graded by `core.grading.grade` in a fresh temp folder. Results are cached under the lead's cache
dir, keyed by (the files' hashes, the grader's hash, the engine version), one file per job written
atomically: an interrupted run keeps what finished, and the next run resumes from there.

Executors:
- `local` (default): a process pool, one worker per core.
- `ray`: one Ray task per job, declared resources (1 CPU, the lab's memory), retried when a worker
  dies, results streamed back as they finish. Labs that need the model start each node's own
  embedded server on demand (or use the configured backend). Ray is the optional `[ray]` extra.

Timing-sensitive checks get the lab's declared `limits.timing_tolerance` (the grader reads it
through `grading_kit.timing_limit`), so a slower machine does not silently fail a learner; the
tolerance used is recorded with every re-graded result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .errors import WorkbenchError

TIMING_ENV = "WORKBENCH_TIMING_TOLERANCE"
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class RegradeJob:
    """One (bundle, lab) pair to re-grade."""

    lab_id: str
    files: dict[str, bytes]
    grader_sha256: str
    label: str = ""  # who / which bundle, for progress lines
    curriculum: str = "ai-engineer-2026"

    @property
    def key(self) -> str:
        """Cache key: the files' hashes, the grader's hash and the engine version."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).hexdigest().encode() + b"\n")
        digest.update(f"{self.lab_id}\n{self.grader_sha256}\n{__version__}".encode())
        return digest.hexdigest()


def cache_dir() -> Path:
    """Where re-grades are cached (WORKBENCH_REGRADE_CACHE, else the user cache dir)."""
    override = os.environ.get("WORKBENCH_REGRADE_CACHE")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("workbench")) / "regrade"


class RegradeCache:
    """One JSON file per finished job, written atomically."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()

    def get(self, key: str) -> dict[str, Any] | None:
        """A cached result, or None."""
        try:
            return json.loads((self.root / f"{key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Store one finished result."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(result), encoding="utf-8")
        os.replace(tmp, self.root / f"{key}.json")


def run_job(lab_id: str, files: dict[str, bytes], curriculum: str = "ai-engineer-2026",
            setup: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Re-grade one submission with the installed grader (in this process's sandbox); returns
    the GradeResult as a dict. Runs in executor workers and Ray tasks; `setup` (from the front
    end, e.g. workbench.llm.grading.install) installs the model hook in that process, so a lab
    that needs the model uses this node's embedded server (started on demand) or the configured
    backend."""
    from .grading import grade
    from .labs import get_lab
    from .snapshots import materialize

    lab = get_lab(lab_id, curriculum)
    if setup is not None:
        setup()
    tolerance = lab.spec.limits.timing_tolerance
    with tempfile.TemporaryDirectory(prefix="workbench-regrade-") as tmp:
        folder = Path(tmp) / lab_id
        materialize(lab.starter_dir, files, folder)
        result = grade(lab, folder, workspace_root=Path(tmp), env={TIMING_ENV: repr(tolerance)})
    data = result.to_dict()
    data["timing_tolerance"] = tolerance
    data["regraded_on"] = os.uname().nodename
    return data


def _ray_task(lab_id: str, files: dict[str, bytes], curriculum: str, setup: Callable[[], Any] | None) -> dict[str, Any]:
    import ray

    result = run_job(lab_id, files, curriculum, setup)
    result["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return result


Progress = Callable[[RegradeJob, dict[str, Any], bool], None]  # (job, result, from cache)


@dataclass
class RegradeRun:
    """What a run did."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # job key -> result
    from_cache: int = 0
    interrupted: bool = False
    executor: str = "local"


def require_sandbox(allow_unsandboxed: bool) -> str:
    """Re-grading runs other people's code: only in the sandbox, unless the lead says otherwise."""
    from .sandbox import sandbox_kind, why_no_sandbox

    kind = sandbox_kind()
    if kind == "none" and not allow_unsandboxed:
        raise WorkbenchError(f"re-grading runs learners' code, and this machine has no sandbox: {why_no_sandbox()}",
                             hint="install bubblewrap (apt-get install bubblewrap), or pass --allow-unsandboxed"
                                  " on a throwaway machine")
    return kind


def regrade(jobs: Iterable[RegradeJob], *, executor: str = "local", workers: int | None = None,
            address: str | None = None, cache: RegradeCache | None = None, on_result: Progress | None = None,
            setup: Callable[[], Any] | None = None, on_start: Callable[[int, int], None] | None = None) -> RegradeRun:
    """Re-grade every job not already cached; stream each result to `on_result` as it lands.
    Ctrl-C stops the run and keeps every finished result (cached)."""
    if executor not in EXECUTORS:
        raise WorkbenchError(f"unknown executor '{executor}'", hint="use --executor local or --executor ray")
    cache = cache or RegradeCache()
    run = RegradeRun(executor=executor)
    pending: dict[str, RegradeJob] = {}
    for job in jobs:
        cached = cache.get(job.key)
        if cached is not None:
            run.results[job.key] = cached
            run.from_cache += 1
            if on_result is not None:
                on_result(job, cached, True)
        elif job.key not in run.results:
            pending.setdefault(job.key, job)

    if on_start is not None:  # (jobs in all, already cached)
        on_start(len(pending) + run.from_cache, run.from_cache)

    def done(job: RegradeJob, result: dict[str, Any]) -> None:
        cache.put(job.key, result)
        run.results[job.key] = result
        if on_result is not None:
            on_result(job, result, False)

    if not pending:
        return run
    try:
        if executor == "ray":
            _run_ray(list(pending.values()), address, done, setup)
        else:
            _run_local(list(pending.values()), workers or os.cpu_count() or 1, done, setup)
    except KeyboardInterrupt:
        run.interrupted = True
    return run


def _run_local(jobs: list[RegradeJob], workers: int, done: Callable[[RegradeJob, dict[str, Any]], None],
               setup: Callable[[], Any] | None) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if workers <= 1:
        for job in jobs:
            done(job, run_job(job.lab_id, job.files, job.curriculum, setup))
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(run_job, job.lab_id, job.files, job.curriculum, setup): job for job in jobs}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in finished:
                done(futures[future], future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_ray(jobs: list[RegradeJob], address: str | None, done: Callable[[RegradeJob, dict[str, Any]], None],
             setup: Callable[[], Any] | None) -> None:
    try:
        import ray
    except ImportError as exc:
        raise WorkbenchError("the Ray executor needs Ray", hint="pip install 'ai-engineer-workbench[ray]'") from exc
    from .labs import get_lab

    started_here = not ray.is_initialized()
    if started_here:
        # no address: a Ray instance of our own on this machine, never a cluster some file points at
        ray.init(address=address or "local", log_to_driver=False, include_dashboard=False, configure_logging=False)
    try:
        task = ray.remote(_ray_task)
        refs = {}
        for job in jobs:
            memory_mb = get_lab(job.lab_id, job.curriculum).spec.limits.memory_mb
            options = {"num_cpus": 1, "max_retries": 3, "memory": memory_mb * 1024 * 1024}
            refs[task.options(**options).remote(job.lab_id, job.files, job.curriculum, setup)] = job
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                done(refs.pop(ref), ray.get(ref))
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["EXECUTORS", "TIMING_ENV", "RegradeCache", "RegradeJob", "RegradeRun", "cache_dir", "regrade", "require_sandbox",
           "run_job"]
