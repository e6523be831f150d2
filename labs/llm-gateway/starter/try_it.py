"""Watch your gateway under failures: python try_it.py [requests] [failure_rate]

Starts a flaky fake replica on 127.0.0.1 (500s, hangs and slow answers, like the grader's),
the embedded model server if it is not running (it stays up; 'workbench backend down' stops
it), and your gateway; sends requests (a third of them repeats) with two API keys and prints
what came back: status, which deployment answered, cache hit or miss, latency. Then the spend.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn
from gateway import GatewayConfig, create_app


def start_flaky_replica(failure_rate: float, seed: int = 0) -> str:
    rng, lock = random.Random(seed), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            with lock:
                roll = rng.random()
            if roll < failure_rate / 2:
                return self._send(500, {"error": {"message": "injected failure"}})
            if roll < failure_rate:
                time.sleep(10)  # a hang: far past any sensible timeout
            elif roll < failure_rate + 0.15:
                time.sleep(0.3)  # slow but fine
            text = "Replica answer about " + " ".join(str(body["messages"][-1]["content"]).split()[-4:])
            usage = {"prompt_tokens": 12, "completion_tokens": len(text.split()), "total_tokens": 12 + len(text.split())}
            try:
                self._send(200, {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": "smollm2",
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": "stop"}], "usage": usage})
            except OSError:
                pass  # the gateway timed out and hung up

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def embedded_base() -> str:
    from workbench.llm.server import ensure_running

    return ensure_running().base_url


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    failure_rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    config = GatewayConfig(replica_base=start_flaky_replica(failure_rate), fallback_base=embedded_base(),
                           keys={"sk-alice": 1000, "sk-bob": 2}, rate_window_s=60)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    print(f"gateway on {base}; replica fails {failure_rate:.0%} of attempts\n")
    questions = [f"Name one use of item number {i}." for i in range(count)]
    for i in range(count):
        key = "sk-bob" if i % 4 == 3 else "sk-alice"
        question = questions[i - 2] if i % 3 == 2 else questions[i]  # every third request repeats an earlier one
        body = {"model": "smollm2", "messages": [{"role": "user", "content": question}], "max_tokens": 8}
        started = time.perf_counter()
        reply = httpx.post(f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=90)
        seconds = time.perf_counter() - started
        if reply.status_code == 200:
            detail = repr(reply.json()["choices"][0]["message"]["content"])[:50]
        else:
            detail = f"retry-after={reply.headers.get('retry-after')} " + reply.text[:60]
        print(f"{i:3d} {key:8s} {reply.status_code} {reply.headers.get('x-gateway-deployment', '-'):8s} "
              f"{reply.headers.get('x-gateway-cache', '-'):4s} {seconds:6.2f} s  {detail}")
    for key in config.keys:
        spend = httpx.get(f"{base}/v1/spend", headers={"Authorization": f"Bearer {key}"}).json()
        print(f"spend {key}: {spend}")
    server.should_exit = True


if __name__ == "__main__":
    main()
