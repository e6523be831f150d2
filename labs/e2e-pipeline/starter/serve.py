"""The prediction API: loads the registry's champion once, at start-up, and answers over HTTP.

Run:  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 MODEL_NAME=events-ctr python -m uvicorn serve:app

GET /healthz -> {"status": "ok", "model_name": ..., "model_version": "<champion's version>"}
POST /predict {"rows": [{"device", "country", "price", "dwell_ms", "hour"}, ...]}
  -> {"model_version": ..., "predictions": [0 or 1 per row]}; invalid rows -> 422."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from contract import CHAMPION, COUNTRIES, DEFAULT_MODEL_NAME, DEVICES, FEATURES, MAX_DWELL_MS, MAX_PRICE  # noqa: F401

_served: dict = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    raise NotImplementedError("lifespan: resolve models:/MODEL_NAME@champion and load it once")
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok", "model_name": _served.get("name"), "model_version": _served.get("version")}
