"""Grader for distributed-training-cloud, part B: DDP training checkpointed to S3 (moto's S3
server on 127.0.0.1, reached with boto3), one job run straight through and one whose ranks are
killed mid-training and relaunched. Data, hyper-parameters, bucket, prefix and the moment of
the kill are fresh every run; the bucket also holds other jobs' objects."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pytest
from _dist import (
    PARAMS,
    JobFolder,
    Launch,
    S3Server,
    launch,
    make_data,
    make_init,
    max_abs_diff,
    read_npz,
    reference_training,
)

WEIGHT_TOLERANCE = 1e-9  # DDP's final weights against one process's training (reference: about 1e-16, float64)
HOLD_WAIT_S = 90.0


@dataclass
class Training:
    bucket: str
    clean_prefix: str
    crashed_prefix: str
    every: int
    total_steps: int
    kill_step: int
    clean: Launch
    crashed: Launch
    resumed: Launch | None
    killed_in_time: bool
    clean_outputs: list
    resumed_outputs: list
    reference: dict
    server: S3Server
    decoys: list[str]
    clean_uploads: list[str]  # keys the uninterrupted job uploaded (deleting old ones later is allowed)

    def checkpoint_step(self, prefix: str, key: str) -> int | None:
        match = re.fullmatch(re.escape(prefix) + r"/step-(\d+)\.pt", key)
        return int(match.group(1)) if match else None


@pytest.fixture(scope="module")
def training(learner_process, lab_dir, seed):
    rng = np.random.default_rng(seed + 7)
    world_size = 2
    features, hidden, classes = int(rng.integers(4, 8)), int(rng.integers(6, 12)), int(rng.integers(3, 5))
    n = int(rng.integers(50, 70)) * 2 + 1
    batch_size = int(rng.choice([14, 15, 16, 17]))
    epochs, every = 3, int(rng.choice([2, 3]))
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    kill_choices = [k for k in range(every, total_steps + 1, every) if k - every >= 10 and k <= total_steps - every]
    kill_step = int(rng.choice(kill_choices))
    lr, momentum = float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.8, 0.95))
    shard_seed = int(rng.integers(0, 2**31 - 1))
    tag = f"{seed % 100000:05d}"
    bucket = f"training-{tag}"
    clean_prefix, crashed_prefix = f"jobs/run-{tag}a", f"jobs/run-{tag}"

    X, y = make_data(rng, n, features, classes)
    init = make_init(rng, features, hidden, classes)
    server = S3Server()
    client = server.client()
    client.create_bucket(Bucket=bucket)
    # other objects in the same bucket: a neighbour job whose prefix starts with this one's, an
    # old run's newer-looking checkpoint, and a non-checkpoint file inside the job's own prefix
    decoys = [f"{crashed_prefix}0/step-{total_steps + 40}.pt", f"{crashed_prefix}-old/step-{total_steps + 7}.pt",
              f"{crashed_prefix}/job.json", f"{clean_prefix}/job.json"]
    for key in decoys:
        client.put_object(Bucket=bucket, Key=key, Body=b"not a checkpoint of this job")

    folders: dict[str, JobFolder] = {}

    def job(prefix: str, name: str) -> list[str]:
        folder = folders[name] = JobFolder(lab_dir, name)
        data_path = folder.write_npz("data.npz", {"X": X, "y": y})
        init_path = folder.write_npz("init.npz", init)
        return [folder.write_spec(rank, {
            "mode": "train", "data": data_path, "init": init_path, "seed": shard_seed, "batch_size": batch_size,
            "epochs": epochs, "lr": lr, "momentum": momentum, "output": folder.output(rank), "timeout_s": 60,
            "s3": {"endpoint_url": server.endpoint_url, "bucket": bucket, "prefix": prefix, "every": every},
        }) for rank in range(world_size)]

    clean_specs, crashed_specs = job(clean_prefix, "clean"), job(crashed_prefix, "crashed")
    server.hold(bucket, f"{crashed_prefix}/step-{kill_step}.pt")
    server.phase = "first"
    clean = launch(learner_process, clean_specs)
    crashed = launch(learner_process, crashed_specs)
    killed_in_time = False
    deadline = HOLD_WAIT_S
    while deadline > 0 and not server.held.is_set() and any(p.poll() is None for p in crashed.procs):
        server.held.wait(0.2)
        deadline -= 0.2
    if server.held.is_set():
        # the instance is reclaimed while rank 0 uploads checkpoint `kill_step`: rank 1 dies first,
        # then the launcher tears the group down, as torchrun's agent does
        crashed.kill()
        killed_in_time = True
    server.release()
    crashed.wait()
    clean.wait()
    resumed = None
    if killed_in_time:
        # a fresh job would start from new initial weights (as a newly seeded init would): a job that
        # restarts from scratch instead of from its checkpoint cannot end where the first one did
        folders["crashed"].write_npz("init.npz", make_init(rng, features, hidden, classes))
        server.phase = "resume"
        resumed = launch(learner_process, crashed_specs)
        resumed.wait()
    clean_outputs = [read_npz(clean_specs_output) for clean_specs_output in _outputs(clean_specs)]
    resumed_outputs = [read_npz(path) for path in _outputs(crashed_specs)]
    reference = reference_training(X, y, init, batch_size=batch_size, epochs=epochs, lr=lr, momentum=momentum,
                                   seed=shard_seed)
    result = Training(bucket, clean_prefix, crashed_prefix, every, total_steps, kill_step, clean, crashed, resumed,
                      killed_in_time, clean_outputs, resumed_outputs, reference, server, decoys,
                      sorted({r.key for r in server.log(method="PUT", bucket=bucket) if r.key.startswith(clean_prefix + "/")}))
    yield result
    server.stop()


def _outputs(spec_paths: list[str]) -> list[str]:
    import json

    return [json.loads(open(path, encoding="utf-8").read())["output"] for path in spec_paths]


def _require_clean(t: Training) -> None:
    problem = t.clean.failure()
    assert problem is None, f"the uninterrupted training job failed: {problem}"
    for rank, output in enumerate(t.clean_outputs):
        assert output is not None, f"the uninterrupted job's rank {rank} exited 0 but wrote no final weights (spec['output'])"


def _require_resumed(t: Training) -> None:
    assert t.killed_in_time, (
        f"the job never uploaded {t.crashed_prefix}/step-{t.kill_step}.pt to s3://{t.bucket} (rank 0 must upload a "
        f"checkpoint every {t.every} steps), so it could not be interrupted there: "
        f"{t.crashed.failure() or 'it ran to the end'}")
    assert t.resumed is not None
    problem = t.resumed.failure()
    assert problem is None, f"after the kill, the relaunched job failed: {problem}"
    for rank, output in enumerate(t.resumed_outputs):
        assert output is not None, f"the relaunched job's rank {rank} exited 0 but wrote no final weights"


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_ddp_training_matches_one_process(training, record_metric):
    """Two-rank DDP training ends at one process's SGD-with-momentum weights, checkpointing to S3"""
    t = training
    _require_clean(t)
    for rank, output in enumerate(t.clean_outputs):
        diff, where = max_abs_diff(output, t.reference)
        record_metric(f"rank{rank}_weight_diff", diff)
        assert diff <= WEIGHT_TOLERANCE, (
            f"rank {rank}'s final weights differ from single-process training on the same global batches by {diff:.3g} "
            f"at {where} (needs <= {WEIGHT_TOLERANCE:g}); check the epoch's permutation (seed + epoch), the loss "
            "weighting, lr and momentum")
    expected = {f"{t.clean_prefix}/step-{step}.pt" for step in range(t.every, t.total_steps + 1, t.every)}
    missing = sorted(expected - set(t.clean_uploads), key=len)
    assert not missing, (f"the uninterrupted job never uploaded {missing[:3]} to s3://{t.bucket}: rank 0 uploads "
                         f"{t.clean_prefix}/step-<step>.pt after every {t.every} steps")
    record_metric("checkpoints", len(expected))


@pytest.mark.check(skill="cloud", points=3, hint=3, required=True, competency="AWS/GCP/Azure ML services")
def test_killed_job_resumes_bit_exact(training, record_metric):
    """Killed mid-training and relaunched, the job ends with bit-identical weights"""
    t = training
    _require_clean(t)
    _require_resumed(t)
    for rank, output in enumerate(t.resumed_outputs):
        for name in PARAMS:
            got, expected = output.get(name), t.clean_outputs[rank].get(name)
            assert got is not None and expected is not None and got.dtype == expected.dtype and \
                np.array_equal(got, expected), (
                f"rank {rank}'s {name} after kill + resume differs from the uninterrupted run (max |diff| "
                f"{max_abs_diff(output, {name: expected})[0]:.3g}; needs bit-exact): restore everything a step depends "
                "on from the checkpoint: the weights, the optimizer's momentum buffers and the step within the epoch (the "
                "relaunch's init file holds new weights: a job that starts over from step 0 cannot end in the same place)")
    record_metric("kill_step", t.kill_step)


@pytest.mark.check(skill="systems-design", points=2, hint=3, required=True, competency="Distributed systems")
def test_resumes_from_the_latest_checkpoint(training, record_metric):
    """The relaunched job reads the newest checkpoint and does not redo finished steps"""
    t = training
    _require_resumed(t)
    latest = t.kill_step - t.every
    latest_key = f"{t.crashed_prefix}/step-{latest}.pt"
    resumed_requests = [r for r in t.server.log(phase="resume", bucket=t.bucket)]
    read = {r.key for r in resumed_requests if r.method == "GET" and r.key}  # key "": a listing of the bucket
    decoys_read = sorted(read & set(t.decoys))
    assert not decoys_read, (f"the relaunched job read {decoys_read}, which is not one of its checkpoints (list with "
                             f"Prefix='{t.crashed_prefix}/' and keep only keys of the form step-<n>.pt)")
    assert latest_key in read, (
        f"the relaunched job never read the newest checkpoint {latest_key} (it read {sorted(read)[:4]}); the latest is "
        "the highest step number, not the last key in listing order (step-8 sorts after step-10)")
    written = [t.checkpoint_step(t.crashed_prefix, r.key) for r in resumed_requests if r.method == "PUT"]
    written = [step for step in written if step is not None]
    redone = sorted({step for step in written if step <= latest})
    assert not redone, (f"after resuming from step {latest}, the job uploaded checkpoints for steps {redone} again: "
                        "it restarted from an earlier point instead of the newest checkpoint")
    assert written and written[0] == t.kill_step, (
        f"the first checkpoint the relaunched job uploaded is for step {written[0] if written else None}; resuming "
        f"from step {latest} it must be step {t.kill_step}")
    record_metric("resumed_from_step", latest)
