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
    raise NotImplementedError("epoch_batches: the epoch's global batches")


def rank_batches(n: int, batch_size: int, world_size: int, rank: int, epoch: int, seed: int) -> list[list[int]]:
    """This rank's rows for every step of the epoch: its strided share of each global batch.
    Every rank gets the same number of steps (a share may be empty); no row is padded or dropped."""
    raise NotImplementedError("rank_batches: this rank's share of each global batch")


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
    raise NotImplementedError("shard_loss: this rank's part of the global batch's loss")


# -- checkpoints on S3 -------------------------------------------------------------------------------


def s3_client(spec: dict):
    import boto3

    return boto3.client("s3", endpoint_url=spec["s3"]["endpoint_url"], region_name="us-east-1")


def checkpoint_key(prefix: str, step: int) -> str:
    return f"{prefix}/step-{step}.pt"


def latest_checkpoint(client, bucket: str, prefix: str) -> tuple[int, str] | None:
    """(step, key) of the newest checkpoint under prefix/ (by step number, not by key order)."""
    raise NotImplementedError("latest_checkpoint: the newest checkpoint under prefix/")


def save_checkpoint(client, bucket: str, key: str, state: dict) -> None:
    raise NotImplementedError("save_checkpoint: upload a checkpoint to S3")


def load_checkpoint(client, bucket: str, key: str) -> dict:
    raise NotImplementedError("load_checkpoint: download a checkpoint from S3")


# -- the two modes -----------------------------------------------------------------------------------


def run_gradient(spec: dict, rank: int, world_size: int) -> None:
    """One forward/backward over the whole data set as one global batch; write the gradients."""
    raise NotImplementedError("run_gradient: gradient mode")


def run_training(spec: dict, rank: int, world_size: int) -> None:
    """SGD with momentum over spec["epochs"] epochs; rank 0 checkpoints to S3 every
    spec["s3"]["every"] steps; every rank resumes from the newest checkpoint it finds."""
    raise NotImplementedError("run_training: train mode with S3 checkpoints")


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
