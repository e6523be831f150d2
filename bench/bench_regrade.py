"""Re-grading throughput: (bundle, lab) pairs of the non-model labs graded sequentially, by the
local executor (a process pool, 2 workers) and by the Ray executor (a local Ray instance), in one
run on this machine. Each pair is a reference solution with a per-pair comment, so no two pairs
share a cache key; each executor starts with an empty cache.

Targets (issue "Trusted team evidence"): local >= 1.7x sequential; Ray >= 0.85x local.
Pairs: BENCH_REGRADE_PAIRS (default 200, the issue's figure).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

LABS = ("logreg-numpy", "backprop-numpy", "python-async")  # non-model labs, fastest to grade


def _jobs(pairs: int, offset: int):
    from workbench.core.labs import get_lab
    from workbench.core.regrade import RegradeJob
    from workbench.core.snapshots import manifest_of

    jobs = []
    for index in range(pairs):
        lab = get_lab(LABS[index % len(LABS)])
        files = manifest_of(lab.solution_dir)
        main = f"{lab.spec.module}.py" if f"{lab.spec.module}.py" in files else sorted(files)[0]
        files[main] = files[main] + f"\n# pair {offset + index}\n".encode()
        jobs.append(RegradeJob(lab.id, files, lab.grader_sha256(), label=f"pair-{index}"))
    return jobs


def _timed_run(jobs, **options) -> tuple[float, int]:
    from workbench.core.regrade import RegradeCache, regrade

    with tempfile.TemporaryDirectory(prefix="bench-regrade-cache-") as cache:
        started = time.perf_counter()
        run = regrade(jobs, cache=RegradeCache(Path(cache)), **options)
        elapsed = time.perf_counter() - started
    passed = sum(1 for result in run.results.values() if result["status"] == "pass")
    assert len(run.results) == len(jobs), "every pair must come back"
    return elapsed, passed


def run() -> dict:
    from workbench.core.sandbox import sandbox_kind

    pairs = int(os.environ.get("BENCH_REGRADE_PAIRS", "200"))
    figures: dict = {"pairs": pairs, "labs": list(LABS), "sandbox": sandbox_kind(), "cpus": os.cpu_count()}
    sequential_s, ok_seq = _timed_run(_jobs(pairs, 0), executor="local", workers=1)
    local_s, ok_local = _timed_run(_jobs(pairs, pairs), executor="local", workers=2)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a one-machine Ray on 127.0.0.1
    ray_s, ok_ray = _timed_run(_jobs(pairs, 2 * pairs), executor="ray")
    figures.update({
        "sequential_s": round(sequential_s, 1), "local_2_workers_s": round(local_s, 1), "ray_s": round(ray_s, 1),
        "passed": {"sequential": ok_seq, "local": ok_local, "ray": ok_ray},
        "throughput_pairs_per_min": {name: round(pairs / seconds * 60, 2)
                                     for name, seconds in (("sequential", sequential_s), ("local", local_s), ("ray", ray_s))},
        "local_vs_sequential": round(sequential_s / local_s, 3),
        "ray_vs_local": round(local_s / ray_s, 3),
    })
    figures["targets"] = {
        "local executor (2 workers) >= 1.7x sequential throughput": figures["local_vs_sequential"] >= 1.7,
        "ray executor >= 0.85x the local executor's throughput": figures["ray_vs_local"] >= 0.85,
        "every pair re-grades to a pass": ok_seq == ok_local == ok_ray == pairs,
    }
    return figures
