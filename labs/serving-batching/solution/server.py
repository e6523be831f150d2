"""An embedding service: POST /embed behind a dynamic batcher, with health, metrics, load
shedding and graceful shutdown.

Run it:  BATCH_MAX_SIZE=8 BATCH_MAX_WAIT_MS=5 BATCH_MAX_QUEUE=256 \
         python -m uvicorn server:app --host 127.0.0.1 --port 8000
Load it: python loadtest.py
"""

from __future__ import annotations

import json
import os
import time
from contextlib import asynccontextmanager

import numpy as np
from batcher import DynamicBatcher, QueueFull, ShuttingDown
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from metrics import Metrics
from pydantic import BaseModel, Field, field_validator

MAX_TEXT_CHARS = 2000
RETRY_AFTER_S = 1


class EmbedRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the text to embed")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must contain at least one non-whitespace character")
        return value


def settings_from_env() -> dict:
    """Batching settings from BATCH_MAX_SIZE, BATCH_MAX_WAIT_MS and BATCH_MAX_QUEUE."""
    return {
        "max_batch_size": int(os.environ.get("BATCH_MAX_SIZE", "32")),
        "max_wait_ms": float(os.environ.get("BATCH_MAX_WAIT_MS", "5")),
        "max_queue": int(os.environ.get("BATCH_MAX_QUEUE", "256")),
    }


def embed_batch(texts: list[str]) -> np.ndarray:
    """One model call for the whole batch (padding to the longest text in it)."""
    from workbench.llm.embeddings import embedder

    return embedder().encode(texts, batch_size=max(1, len(texts)))


class CountEmbedRequests:
    """Pure ASGI middleware (cheaper per request than @app.middleware("http")): counts every
    POST /embed answer by status and times the 200s. It sits outside FastAPI's routing, so it
    also sees the 422s that validation answers before the endpoint runs."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/embed":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.requests.inc()
            if status == 200:
                self.metrics.latency.observe(time.perf_counter() - started)
            else:
                self.metrics.errors.inc(label_value=str(status))


def create_app(max_batch_size: int = 32, max_wait_ms: float = 5.0, max_queue: int = 256) -> FastAPI:
    batcher: DynamicBatcher | None = None
    metrics = Metrics(queue_depth=lambda: batcher.depth if batcher else 0)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal batcher
        embed_batch(["warm up"])  # load the model before the port opens
        batcher = DynamicBatcher(embed_batch, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                                 max_queue=max_queue, on_batch=metrics.batch_size.observe)
        await batcher.start()
        yield
        # uvicorn has stopped accepting and waited for open requests; drain whatever is left.
        await batcher.stop()

    app = FastAPI(title="MiniLM embedding service", lifespan=lifespan)
    app.add_middleware(CountEmbedRequests, metrics=metrics)

    @app.post("/embed")
    async def embed(body: EmbedRequest) -> Response:
        try:
            vector = await batcher.submit(body.text)
        except QueueFull as exc:
            return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})
        except ShuttingDown as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
        # json.dumps of a plain list is much cheaper than FastAPI's encoder walking a numpy array
        return Response(json.dumps({"embedding": vector.tolist(), "dim": len(vector)}), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        if batcher is None or batcher.closing:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        return JSONResponse({"status": "ok", "queue_depth": batcher.depth})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


app = create_app(**settings_from_env())
