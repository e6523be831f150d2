"""The embedding service, packaged for Kubernetes.

Run it the way the container does:  PORT=8080 MODEL_LOAD_DELAY_S=3 python app.py
Then:  curl -s localhost:8080/readyz   (503 while the model loads, then 200)
       curl -s localhost:8080/embed -H 'content-type: application/json' -d '{"texts": ["hello"]}'

The runtime contract (the kubelet's view of the pod):
- listens on 0.0.0.0:$PORT (default 8080): probes and the Service reach the pod's IP, not localhost;
- GET /livez: 200 while the process can serve, even while the model loads (a liveness probe
  that fails during a slow load makes the kubelet restart the pod forever);
- GET /readyz: 503 until the model is loaded, then 200 (the pod gets traffic only when ready);
- POST /embed {"texts": [...]}: 503 with Retry-After while loading, else the vectors;
- SIGTERM: stop accepting, answer every request already in flight, exit 0;
- runs as any non-root uid with a read-only root filesystem: writes nothing but stdout/stderr.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from contextlib import asynccontextmanager
from typing import Annotated

import embedder
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StringConstraints

MAX_TEXTS = 64  # per request: bounds the memory one request can take
MAX_TEXT_CHARS = 2000
GRACEFUL_SHUTDOWN_S = 25  # < terminationGracePeriodSeconds (40) minus the preStop sleep (5)

log = logging.getLogger("embedder")

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]


class EmbedRequest(BaseModel):
    """POST /embed body: 1 to 64 texts of 1 to 2000 characters."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS)


class ModelSlot:
    """The model, loaded in a background thread so the server answers probes meanwhile."""

    def __init__(self) -> None:
        self.model: embedder.Embedder | None = None
        self.error: str | None = None

    def load_in_background(self) -> None:
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            model = embedder.load()
        except Exception as exc:  # noqa: BLE001 - reported by /livez so the kubelet restarts the pod
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", self.error)
            return
        self.model = model  # published last: /readyz turns 200 only once encode() can run
        log.info("model loaded")


def create_app() -> FastAPI:
    """The FastAPI app; the model starts loading when the server starts."""
    slot = ModelSlot()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        slot.load_in_background()
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # stop at once: rollouts go faster
        yield

    app = FastAPI(title="embedder", lifespan=lifespan)

    @app.get("/livez")
    async def livez():
        if slot.error is not None:
            return JSONResponse({"status": "failed", "detail": slot.error}, status_code=500)
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        if slot.model is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready", "model": embedder.MODEL_NAME}

    @app.post("/embed")
    def embed(request: EmbedRequest):  # a plain def: FastAPI runs it in a thread, the event loop stays free
        model = slot.model
        if model is None:
            return JSONResponse({"detail": "the model is still loading"}, status_code=503, headers={"Retry-After": "1"})
        vectors = model.encode(request.texts)
        body = {"embeddings": vectors.tolist(), "dim": embedder.DIM, "model": embedder.MODEL_NAME}
        return Response(json.dumps(body), media_type="application/json")

    return app


def main() -> None:
    """Serve on $HOST:$PORT (0.0.0.0:8080); uvicorn drains open requests on SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(), host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "8080")),
                log_level="info", access_log=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)


if __name__ == "__main__":
    main()
