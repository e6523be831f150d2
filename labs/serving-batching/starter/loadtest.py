"""Compare your server batched and at batch size 1, the way the grader does:

    python loadtest.py                      # starts both servers itself, on free ports
    python loadtest.py --requests 400 --concurrency 32

Starts `python -m uvicorn server:app` twice (BATCH_MAX_SIZE=8 and =1), sends the same kind
of short queries from 32 concurrent keep-alive connections in interleaved rounds and prints
requests per second, requests per CPU-second of each server, p50/p95 latency and the
speed-ups. The grader needs >= 1.5x per CPU-second (and batched not slower per second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORDS = ("model server request batch queue latency vector search query answer document index cache "
         "token memory thread core network client response error metric time person year way day "
         "thing world life hand part child place work week case point company number group problem "
         "fact good new first last long great little own other old right big high small large").split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc, else `ps`)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    out = subprocess.run(["ps", "-o", "time=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    seconds = 0.0
    for part in out.rpartition("-")[2].split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def start(max_batch_size: int, max_wait_ms: float, max_queue: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, BATCH_MAX_SIZE=str(max_batch_size), BATCH_MAX_WAIT_MS=str(max_wait_ms),
               BATCH_MAX_QUEUE=str(max_queue))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"], cwd=HERE, env=env)
    return proc, port


async def post(reader, writer, port: int, text: str) -> tuple[int, bytes]:
    body = json.dumps({"text": text}).encode()
    writer.write(f"POST /embed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def run(port: int, texts: list[str], concurrency: int) -> tuple[float, list[float], int]:
    queue = iter(texts)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for text in queue:
            started = time.perf_counter()
            status, _ = await asyncio.wait_for(post(reader, writer, port, text), 10)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


async def wait_ready(port: int, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if b" 200 " in (await reader.read()).split(b"\r\n", 1)[0]:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not become ready in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=320, help="requests per server (split in 4 rounds)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    servers = {"batched": start(args.max_batch_size, args.max_wait_ms, 256), "batch 1": start(1, args.max_wait_ms, 256)}
    try:
        for proc, port in servers.values():
            asyncio.run(wait_ready(port, proc))
        stats = {name: [0.0, [], 0, 0.0] for name in servers}  # wall s, latencies, errors, cpu s
        per_round = max(1, args.requests // 4)
        for name in ["batched", "batch 1", "batch 1", "batched"] * 2:
            texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(per_round)]
            proc, port = servers[name]
            cpu_before = cpu_seconds(proc.pid)
            wall, latencies, errors = asyncio.run(run(port, texts, args.concurrency))
            stats[name][0] += wall
            stats[name][1] += latencies
            stats[name][2] += errors
            stats[name][3] += cpu_seconds(proc.pid) - cpu_before
        for name, (wall, latencies, errors, cpu) in stats.items():
            latencies.sort()
            p50 = latencies[len(latencies) // 2] * 1000
            p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
            print(f"{name:>8}: {len(latencies) / wall:6.1f} requests/s  {len(latencies) / max(cpu, 1e-3):6.1f} per "
                  f"CPU-second  p50 {p50:5.0f} ms  p95 {p95:5.0f} ms  non-200: {errors}")
        wall = {name: len(s[1]) / s[0] for name, s in stats.items()}
        per_cpu = {name: len(s[1]) / max(s[3], 1e-3) for name, s in stats.items()}
        print(f"speed-up: {per_cpu['batched'] / per_cpu['batch 1']:.2f}x per CPU-second (the grader needs >= 1.5x), "
              f"{wall['batched'] / wall['batch 1']:.2f}x per second (needs >= 1.0x)")
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
