"""An embedding service: POST /embed behind a dynamic batcher, with health, metrics, load
shedding and graceful shutdown.

Run it:  BATCH_MAX_SIZE=8 BATCH_MAX_WAIT_MS=5 BATCH_MAX_QUEUE=256 \
         python -m uvicorn server:app --host 127.0.0.1 --port 8000
Load it: python loadtest.py --port 8000
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import numpy as np
from batcher import DynamicBatcher
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from metrics import Metrics
from pydantic import BaseModel

MAX_TEXT_CHARS = 2000
RETRY_AFTER_S = 1


class EmbedRequest(BaseModel):
    text: str  # TODO: 1..MAX_TEXT_CHARS characters, not only whitespace (pydantic Field + a validator)


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
        await batcher.stop()

    app = FastAPI(title="MiniLM embedding service", lifespan=lifespan)

    # TODO: count every POST /embed (requests, errors by status code, latency of 200s); an
    # @app.middleware("http") sees the 422s that FastAPI answers before your endpoint runs.

    @app.post("/embed")
    async def embed(body: EmbedRequest) -> Response:
        # TODO: QueueFull -> 429 with a Retry-After header; ShuttingDown -> 503.
        vector = await batcher.submit(body.text)
        metrics.requests.inc()
        return JSONResponse({"embedding": [float(x) for x in vector], "dim": int(vector.shape[0])})

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(metrics.render())

    return app


app = create_app(**settings_from_env())
