"""Grader for distributed-training-cloud, part A: which rows each rank trains on, and DDP's
gradient against one process's full batch. The learner's `train.py` runs as torchrun would
start it, one sandboxed process per rank; data, initial weights and the sharding seed are
fresh every run."""

from __future__ import annotations

import random

import numpy as np
import pytest
from _dist import (
    PARAMS,
    JobFolder,
    launch,
    make_data,
    make_init,
    max_abs_diff,
    read_npz,
    reference_batches,
    reference_gradient,
)

from workbench.grader_plugin import call_learner

GRAD_TOLERANCE = 1e-6  # the bound; the reference's DDP gradients differ by about 1e-17 (float64)


def _shard_cases(rng: random.Random) -> list[tuple[int, int, int, int]]:
    """(n, batch_size, world_size, epoch): the brief's world size 2 and held-out ones (3-5),
    sizes that do not divide evenly, later epochs, and fewer rows than ranks in a batch."""
    cases = [(rng.randint(40, 90) * 2 + 1, rng.choice([8, 10, 16]), 2, rng.randint(0, 3))]
    for world_size in (3, 4, 5):
        batch = rng.randint(world_size + 1, 4 * world_size + 3)
        while batch % world_size == 0:
            batch += 1
        n = rng.randint(3, 9) * batch + rng.randint(1, world_size - 1)  # the last global batch is smaller than world_size
        cases.append((n, batch, world_size, rng.randint(1, 5)))
    cases.append((rng.randint(2, 4), 7, 5, 0))  # fewer rows than ranks: some ranks get empty shares
    return cases


@pytest.mark.check(skill="cloud", points=2, hint=1, required=True, competency="Distributed training")
def test_rank_shards_are_disjoint_and_complete(learner_module, seed):
    """Each step's rank shares are disjoint and together are exactly the global batch"""
    train = learner_module("train")
    rng = random.Random(seed)
    for n, batch_size, world_size, epoch in _shard_cases(rng):
        run_seed = rng.randint(0, 2**31 - 1)
        expected = reference_batches(n, batch_size, epoch, run_seed)
        shares = []
        for rank in range(world_size):
            got = call_learner("rank_batches", train.rank_batches, n, batch_size, world_size, rank, epoch, run_seed)
            shares.append([[int(i) for i in step] for step in got])
        case = f"n={n}, batch_size={batch_size}, world_size={world_size}, epoch={epoch}, seed={run_seed}"
        counts = [len(s) for s in shares]
        assert len(set(counts)) == 1 and counts[0] == len(expected), (
            f"{case}: the ranks have {counts} steps, every rank needs {len(expected)} (ceil(n / batch_size)) so that "
            "every collective has all ranks; give a rank an empty share rather than fewer steps")
        every_row: list[int] = []
        for step, batch in enumerate(expected):
            rows = [i for share in shares for i in share[step]]
            every_row.extend(rows)
            duplicated = sorted({i for i in rows if rows.count(i) > 1})
            assert not duplicated, (f"{case}, step {step}: rows {duplicated[:5]} are in more than one rank's share "
                                    "(padding or overlapping shards: the shards must be disjoint)")
            missing = sorted(set(batch) - set(rows))
            extra = sorted(set(rows) - set(batch))
            assert not missing and not extra, (
                f"{case}, step {step}: the ranks' shares miss rows {missing[:5]} and add rows {extra[:5]} of the global "
                f"batch (the permutation seeded with seed + epoch, cut into batches of {batch_size})")
            for rank, share in enumerate(shares):
                assert share[step] == batch[rank::world_size], (
                    f"{case}, step {step}: rank {rank} has rows {share[step][:6]}..., the contract gives it "
                    f"global_batch[rank::world_size] = {batch[rank::world_size][:6]}...")
        assert sorted(every_row) == list(range(n)), f"{case}: over the epoch the ranks do not see every row exactly once"


def _gradient_job(learner_process, lab_dir, seed: int, world_size: int, per_rank_data: bool):
    """Run the learner's gradient mode; returns (launch, outputs, expected gradient, expected shards)."""
    rng = np.random.default_rng(seed)
    features, hidden, classes = int(rng.integers(4, 9)), int(rng.integers(5, 12)), int(rng.integers(3, 6))
    n = int(rng.integers(60, 140)) * world_size + int(rng.integers(1, world_size))  # uneven shards
    shard_seed = int(rng.integers(0, 2**31 - 1))
    folder = JobFolder(lab_dir, f"gradient-w{world_size}")
    init = make_init(rng, features, hidden, classes)
    init_path = folder.write_npz("init.npz", init)
    X, y = make_data(rng, n, features, classes)
    order = reference_batches(n, n, 0, shard_seed)[0]
    shards = [order[rank::world_size] for rank in range(world_size)]
    datasets = [(X, y)] * world_size
    X_mix, y_mix = X.copy(), y.copy()
    if per_rank_data:
        # every rank's file holds its own version of the rows it owns (and noise elsewhere):
        # only ranks that really exchange gradients can produce the mixed full-batch gradient
        datasets = []
        for rank in range(world_size):
            X_r, y_r = make_data(rng, n, features, classes)
            X_mix[shards[rank]], y_mix[shards[rank]] = X_r[shards[rank]], y_r[shards[rank]]
            datasets.append((X_r, y_r))
    specs = []
    for rank, (X_r, y_r) in enumerate(datasets):
        data_path = folder.write_npz(f"data-rank{rank}.npz", {"X": X_r, "y": y_r})
        specs.append(folder.write_spec(rank, {"mode": "gradient", "data": data_path, "init": init_path,
                                              "seed": shard_seed, "batch_size": n, "output": folder.output(rank),
                                              "timeout_s": 60}))
    job = launch(learner_process, specs)
    job.wait()
    outputs = [read_npz(folder.output(rank)) for rank in range(world_size)]
    return job, outputs, reference_gradient(X_mix, y_mix, init), shards


def _check_gradients(job, outputs, expected, shards, record_metric, what: str) -> None:
    problem = job.failure()
    assert problem is None, f"{what}: {problem}"
    worst = 0.0
    for rank, output in enumerate(outputs):
        assert output is not None, f"{what}: rank {rank} exited 0 but wrote no output file (spec['output'])"
        indices = [int(i) for i in output.get("indices", np.array([], dtype=np.int64)).tolist()]
        assert sorted(indices) == sorted(shards[rank]), (
            f"{what}: rank {rank} wrote indices {indices[:6]}... ({len(indices)} rows); its share of the full batch is "
            f"{shards[rank][:6]}... ({len(shards[rank])} rows)")
        diff, where = max_abs_diff(output, expected, prefix="grad.")
        worst = max(worst, diff)
        assert diff <= GRAD_TOLERANCE, (
            f"{what}: rank {rank}'s gradient differs from one process's full-batch gradient by {diff:.3g} at {where} "
            f"(needs <= {GRAD_TOLERANCE:g}). With uneven shards, each rank's mean loss averaged over ranks is not the "
            "global mean: weight each rank's loss by its share of the global batch")
    record_metric("max_grad_diff", worst)


@pytest.mark.check(skill="deep-learning", points=3, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_ddp_gradient_equals_full_batch(learner_process, lab_dir, seed, record_metric):
    """Two gloo ranks: the all-reduced gradient equals one process's full batch within 1e-6"""
    job, outputs, expected, shards = _gradient_job(learner_process, lab_dir, seed, 2, per_rank_data=False)
    _check_gradients(job, outputs, expected, shards, record_metric, "2 ranks, uneven shards")


@pytest.mark.check(skill="systems-design", points=2, hint=2, required=True, competency="Distributed systems")
def test_ranks_exchange_gradients(learner_process, lab_dir, seed, record_metric):
    """Three ranks that each read a different file: only a real all-reduce gives the mixed gradient"""
    job, outputs, expected, shards = _gradient_job(learner_process, lab_dir, seed + 1, 3, per_rank_data=True)
    _check_gradients(job, outputs, expected, shards, record_metric,
                     "3 ranks, each reading its own data file (rows it owns differ between files)")
    first = outputs[0]
    for rank, output in enumerate(outputs[1:], start=1):
        for name in PARAMS:
            assert np.array_equal(output[f"grad.{name}"], first[f"grad.{name}"]), (
                f"rank {rank}'s gradient of {name} is not bit-identical to rank 0's after the all-reduce")
