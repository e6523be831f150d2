"""Data-parallel training of a small MLP with PyTorch DDP (gloo), checkpointed to S3.

Run once per rank, as torchrun would: `python train.py` with RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT and JOB_SPEC (the path of this rank's job spec, a JSON file) in the environment.
See the brief for the spec's fields and what each mode writes.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import re

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

# -- which rows each rank trains on ---------------------------------------------------------------


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    """The global batches of one epoch: a permutation seeded with seed + epoch, cut in order."""
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def rank_batches(n: int, batch_size: int, world_size: int, rank: int, epoch: int, seed: int) -> list[list[int]]:
    """This rank's rows for every step of the epoch: its strided share of each global batch.
    Every rank gets the same number of steps (a share may be empty); no row is padded or dropped."""
    return [batch[rank::world_size] for batch in epoch_batches(n, batch_size, epoch, seed)]


# -- model, data, loss ---------------------------------------------------------------------------------


def build_model(spec: dict) -> nn.Module:
    """Linear(features, hidden) -> tanh -> Linear(hidden, classes), float64, weights from spec["init"]."""
    init = np.load(spec["init"])
    features, hidden = init["0.weight"].shape[1], init["0.weight"].shape[0]
    classes = init["2.weight"].shape[0]
    model = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes)).double()
    model.load_state_dict({name: torch.from_numpy(init[name].astype(np.float64)) for name in init.files})
    return model


def load_data(spec: dict) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(spec["data"])
    return torch.from_numpy(data["X"].astype(np.float64)), torch.from_numpy(data["y"].astype(np.int64))


def shard_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, rows: list[int], global_rows: int,
               world_size: int) -> torch.Tensor:
    """This rank's part of the global batch's mean loss, scaled so that DDP's average over
    ranks (it divides the summed gradients by world_size) is the full batch's gradient."""
    index = torch.tensor(rows, dtype=torch.long)
    logits = model(X[index])
    return F.cross_entropy(logits, y[index], reduction="sum") * (world_size / global_rows)


# -- checkpoints on S3 -------------------------------------------------------------------------------


def s3_client(spec: dict):
    import boto3

    return boto3.client("s3", endpoint_url=spec["s3"]["endpoint_url"], region_name="us-east-1")


def checkpoint_key(prefix: str, step: int) -> str:
    return f"{prefix}/step-{step}.pt"


def latest_checkpoint(client, bucket: str, prefix: str) -> tuple[int, str] | None:
    """(step, key) of the newest checkpoint under prefix/ (by step number, not by key order)."""
    pattern = re.compile(re.escape(prefix) + r"/step-(\d+)\.pt")
    best: tuple[int, str] | None = None
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            match = pattern.fullmatch(item["Key"])
            if match and (best is None or int(match.group(1)) > best[0]):
                best = (int(match.group(1)), item["Key"])
    return best


def save_checkpoint(client, bucket: str, key: str, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def load_checkpoint(client, bucket: str, key: str) -> dict:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return torch.load(io.BytesIO(body), weights_only=True)


# -- the two modes -----------------------------------------------------------------------------------


def run_gradient(spec: dict, rank: int, world_size: int) -> None:
    """One forward/backward over the whole data set as one global batch; write the gradients."""
    X, y = load_data(spec)
    model = build_model(spec)
    ddp = DistributedDataParallel(model)
    rows = rank_batches(len(y), len(y), world_size, rank, 0, spec["seed"])[0]
    shard_loss(ddp, X, y, rows, len(y), world_size).backward()
    grads = {f"grad.{name}": p.grad.numpy() for name, p in model.named_parameters()}
    np.savez(spec["output"], indices=np.asarray(rows, dtype=np.int64), **grads)


def run_training(spec: dict, rank: int, world_size: int) -> None:
    """SGD with momentum over spec["epochs"] epochs; rank 0 checkpoints to S3 every
    spec["s3"]["every"] steps; every rank resumes from the newest checkpoint it finds."""
    X, y = load_data(spec)
    n, batch_size, seed = len(y), spec["batch_size"], spec["seed"]
    s3, client = spec["s3"], s3_client(spec)
    model = build_model(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    step = 0
    found = latest_checkpoint(client, s3["bucket"], s3["prefix"])
    if found is not None:
        state = load_checkpoint(client, s3["bucket"], found[1])
        model.load_state_dict(state["model"])
        step = int(state["step"])
    ddp = DistributedDataParallel(model)
    steps_per_epoch = math.ceil(n / batch_size)
    total = spec["epochs"] * steps_per_epoch
    cached: dict[int, tuple[list[list[int]], list[list[int]]]] = {}
    while step < total:
        epoch, index = divmod(step, steps_per_epoch)
        if epoch not in cached:
            cached = {epoch: (epoch_batches(n, batch_size, epoch, seed),
                              rank_batches(n, batch_size, world_size, rank, epoch, seed))}
        global_batches, mine = cached[epoch]
        optimizer.zero_grad()
        shard_loss(ddp, X, y, mine[index], len(global_batches[index]), world_size).backward()
        optimizer.step()
        step += 1
        if rank == 0 and step % s3["every"] == 0:
            save_checkpoint(client, s3["bucket"], checkpoint_key(s3["prefix"], step),
                            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step})
    np.savez(spec["output"], **{name: p.detach().numpy() for name, p in model.named_parameters()})


def main() -> None:
    with open(os.environ["JOB_SPEC"], encoding="utf-8") as file:
        spec = json.load(file)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=spec.get("timeout_s", 60)))
    try:
        if spec["mode"] == "gradient":
            run_gradient(spec, rank, world_size)
        else:
            run_training(spec, rank, world_size)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
