"""The embedding service as it runs on a laptop. It works there; in a pod it will not.

Run it:  python app.py     then:  curl -s localhost:8080/embed -H 'content-type: application/json' \
                                       -d '{"texts": ["hello"]}'

TODO (the runtime contract in README.md): listen on 0.0.0.0:$PORT; load the model in the
background so the server answers probes meanwhile; GET /readyz 503 until the model is loaded,
then 200; GET /livez 200 while the process can serve; POST /embed 503 + Retry-After while
loading, 422 for bad batches (1-64 texts of 1-2000 characters); keep the event loop free while
a batch is embedded; on SIGTERM answer what is in flight, then exit 0; write nothing to disk.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

import embedder

model = embedder.load()  # TODO: the server answers nothing until this returns

app = FastAPI(title="embedder")


class EmbedRequest(BaseModel):
    texts: list[str]  # TODO: 1 to 64 texts of 1 to 2000 characters


@app.get("/livez")
async def livez():
    return {"status": "alive"}


@app.get("/readyz")
async def readyz():
    return {"status": "ready"}  # TODO: 503 until the model is loaded


@app.post("/embed")
async def embed(request: EmbedRequest):  # TODO: this blocks the event loop while the model runs
    return {"embeddings": model.encode(request.texts).tolist(), "dim": embedder.DIM}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8080)  # TODO: $PORT, all interfaces
