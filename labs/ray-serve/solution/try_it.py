"""Try your service the way the grader does, on your own machine: start a private local Ray
instance on 127.0.0.1 (2 CPUs), Serve's HTTP proxy on 127.0.0.1:8000, deploy
`build_app(EXAMPLE_ARGS)`, send one request and a burst of concurrent ones, print what came
back, and shut everything down. Run it from this folder: `python try_it.py`."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

# Before Ray is imported: advertise 127.0.0.1 (not the machine's outward address), no token auth,
# no usage report. The grader sets the same.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

PORT = int(os.environ.get("TRY_IT_PORT", "8000"))
EXAMPLE_ARGS = {
    "max_batch_size": 8,
    "batch_wait_timeout_s": 0.02,
    "max_ongoing_requests": 16,
    "max_queued_requests": 64,
    "min_replicas": 1,
    "max_replicas": 2,
    "version": "v1",
}


def post(text: str) -> tuple[int, dict | str]:
    data = json.dumps({"text": text}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/embed", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def main() -> None:
    import embed_service
    import ray
    from ray import serve

    started = time.monotonic()
    # address="local": always a fresh private instance, never a cluster some other process left running
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    print(f"Ray and Serve up in {time.monotonic() - started:.1f} s")
    try:
        started = time.monotonic()
        serve.run(embed_service.build_app(EXAMPLE_ARGS), name="embed", route_prefix="/embed",
                  logging_config={"enable_access_log": False})
        print(f"deployed in {time.monotonic() - started:.1f} s")
        status, body = post("how do I batch requests?")
        shown = {k: (f"[{len(v)} numbers]" if k == "embedding" else v) for k, v in body.items()} \
            if isinstance(body, dict) else body
        print("one request:", status, shown)
        texts = [f"query number {i} about serving models" for i in range(64)]
        with ThreadPoolExecutor(32) as pool:
            statuses = Counter(status for status, _ in pool.map(post, texts))
        print("64 requests from 32 threads:", dict(statuses))
        print(serve.status().applications["embed"].deployments)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
