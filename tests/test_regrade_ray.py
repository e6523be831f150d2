"""Re-grading on a real Ray cluster: two nodes on 127.0.0.1 started by the fixture, jobs spread
over both, and a worker killed mid-task whose job Ray retries to completion."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from test_bundle import toy_data  # noqa: F401 - fixture

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

SLOW_SOLUTION = "import time\ntime.sleep({delay})\n\ndef add(a, b):\n    return a + b\n"


@pytest.fixture
def cluster(toy_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """A head node and a second node, 1 CPU each, on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    # every node on 127.0.0.1: Ray's own switch for single-machine clusters (else it advertises the
    # machine's outward address, which tests must never use)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # for the node processes
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)  # for this one (ray is imported)
    monkeypatch.setenv("WORKBENCH_REGRADE_CACHE", str(tmp_path / "cache"))
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}, shutdown_at_exit=True)
    started.add_node(num_cpus=1)
    started.wait_for_nodes()
    assert started.address.startswith("127.0.0.1:")
    ray.init(address=started.address, log_to_driver=False)
    try:
        yield started
    finally:
        ray.shutdown()
        started.shutdown()


def _jobs(count: int, delay: float):
    from workbench.core.labs import get_lab
    from workbench.core.regrade import RegradeJob

    lab = get_lab("toy-python")
    return [RegradeJob("toy-python", {"toy.py": SLOW_SOLUTION.format(delay=delay).encode() + b"# %d\n" % i}, lab.grader_sha256(),
                       label=f"learner-{i}") for i in range(count)]


def test_regrading_spreads_over_both_nodes(cluster) -> None:
    from workbench.core.regrade import regrade

    landed = []
    run = regrade(_jobs(4, 1.0), executor="ray", on_result=lambda job, result, cached: landed.append(job.label))
    assert len(run.results) == 4 and len(landed) == 4
    assert {result["status"] for result in run.results.values()} == {"pass"}
    assert len({result["ray_node_id"] for result in run.results.values()}) == 2, "both nodes should have graded"


def test_a_worker_killed_mid_task_is_retried_and_the_grade_completes(cluster) -> None:
    import psutil

    from workbench.core.regrade import regrade

    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if "ray::_ray_task" in " ".join(proc.info["cmdline"] or []):
                    time.sleep(1.0)  # mid-task: it is grading now
                    os.kill(proc.info["pid"], 9)
                    killed.append(proc.info["pid"])
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    run = regrade(_jobs(2, 4.0), executor="ray")
    killer.join(timeout=5)
    assert killed, "no Ray worker was found to kill"
    assert len(run.results) == 2 and {result["status"] for result in run.results.values()} == {"pass"}
