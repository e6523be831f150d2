"""MiniLM embedding service on Ray Serve (the lab's starter: it runs, one text per model call,
one fixed replica, no batching, no backpressure; see README.md for the contract)."""

from __future__ import annotations

import json

from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import Response

DIM = 384
MAX_TEXT_CHARS = 2000


@serve.deployment
class EmbeddingService:
    """One replica: the MiniLM int8 model."""

    def __init__(self, version: str, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        from workbench.llm.embeddings import Embedder

        self.version = version
        self.model = Embedder(threads=1)
        # TODO: configure the batched method with max_batch_size and batch_wait_timeout_s

    # TODO: an async method decorated with @serve.batch that embeds a list of texts in ONE model call
    #       and returns one vector per text, in order.

    async def __call__(self, request: Request) -> Response:
        body = json.loads(await request.body())  # TODO: 422 with {"detail": ...} for invalid bodies
        vector = self.model.encode([body["text"]], batch_size=1)[0]  # TODO: await the batched method instead
        return Response(json.dumps({"embedding": vector.tolist(), "dim": DIM, "version": self.version}),
                        media_type="application/json")


def build_app(args: dict) -> Application:
    """The application for one set of grader settings (see README.md for every key)."""
    # TODO: max_ongoing_requests, max_queued_requests, autoscaling between min_replicas and max_replicas,
    #       graceful shutdown, and CPUs per replica (the grader's Ray has 2).
    return EmbeddingService.options(ray_actor_options={"num_cpus": 0.5}).bind(
        args["version"], args["max_batch_size"], args["batch_wait_timeout_s"])
