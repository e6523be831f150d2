"""Try your train.py the way the grader runs it: an S3 API server (moto) on 127.0.0.1, a toy
data set, and one `python train.py` process per rank with torchrun's environment variables.

    python try_it.py gradient      # two ranks, one full-batch gradient each
    python try_it.py train         # two ranks, SGD with checkpoints on S3; run it twice to see a resume

The grader does more (other world sizes, a different file per rank, a kill mid-training and a
relaunch): this only shows that the pieces fit together."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(mode: str) -> None:
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # moto accepts any credentials
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    folder = Path(tempfile.mkdtemp(prefix="ddp-try-"))
    rng = np.random.default_rng(0)
    n, features, hidden, classes = 101, 5, 8, 3
    y = rng.integers(0, classes, size=n)
    X = rng.normal(0, 1.5, size=(classes, features))[y] + rng.normal(0, 1, size=(n, features))
    np.savez(folder / "data.npz", X=X, y=y)
    np.savez(folder / "init.npz", **{"0.weight": rng.normal(0, 0.5, (hidden, features)), "0.bias": np.zeros(hidden),
                                     "2.weight": rng.normal(0, 0.5, (classes, hidden)), "2.bias": np.zeros(classes)})
    s3_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    import boto3

    endpoint = f"http://127.0.0.1:{s3_port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="training")
    port, world_size = free_port(), 2
    procs = []
    for rank in range(world_size):
        spec = {"mode": mode, "data": str(folder / "data.npz"), "init": str(folder / "init.npz"), "seed": 42,
                "batch_size": n if mode == "gradient" else 16, "epochs": 3, "lr": 0.1, "momentum": 0.9,
                "output": str(folder / f"out-rank{rank}.npz"), "timeout_s": 60,
                "s3": {"endpoint_url": endpoint, "bucket": "training", "prefix": "jobs/try", "every": 3}}
        (folder / f"spec-rank{rank}.json").write_text(json.dumps(spec))
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "JOB_SPEC": str(folder / f"spec-rank{rank}.json"),
               "GLOO_SOCKET_IFNAME": "lo"}
        procs.append(subprocess.Popen([sys.executable, "train.py"], env=env))
    codes = [proc.wait(timeout=120) for proc in procs]
    print("exit codes:", codes)
    for rank in range(world_size):
        path = folder / f"out-rank{rank}.npz"
        if path.exists():
            with np.load(path) as out:
                print(f"rank {rank}:", {name: out[name].shape for name in out.files})
    keys = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(Bucket="training")
    print("S3 objects:", [item["Key"] for item in keys.get("Contents", [])])
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gradient")
