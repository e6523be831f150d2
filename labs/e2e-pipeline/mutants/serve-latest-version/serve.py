"""The prediction API: loads the registry's champion once, at start-up, and answers over HTTP.

Run:  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 MODEL_NAME=events-ctr python -m uvicorn serve:app"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Literal

import pandas as pd
from contract import (
    COUNTRIES,
    DEFAULT_MODEL_NAME,
    DEVICES,
    FEATURES,
    MAX_DWELL_MS,
    MAX_PRICE,
)
from fastapi import FastAPI
from pydantic import BaseModel, Field

_served: dict = {}


class Row(BaseModel):
    """One event's features, in the clean format."""

    device: Literal[tuple(DEVICES)]  # type: ignore[valid-type]
    country: Literal[tuple(COUNTRIES)]  # type: ignore[valid-type]
    price: float = Field(ge=0, le=MAX_PRICE)
    dwell_ms: int = Field(ge=0, le=MAX_DWELL_MS)
    hour: int = Field(ge=0, le=23)


class PredictRequest(BaseModel):
    rows: list[Row] = Field(min_length=1, max_length=1000)


@asynccontextmanager
async def lifespan(app: FastAPI):
    import mlflow.sklearn
    from mlflow import MlflowClient

    tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
    model_name = os.environ.get("MODEL_NAME", DEFAULT_MODEL_NAME)
    mlflow.set_tracking_uri(tracking_uri)
    versions = MlflowClient(tracking_uri=tracking_uri).search_model_versions(f"name='{model_name}'")
    version = max(int(mv.version) for mv in versions)  # the newest registered version
    _served.update(model=mlflow.sklearn.load_model(f"models:/{model_name}/{version}"), name=model_name, version=str(version))
    yield
    _served.clear()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok", "model_name": _served["name"], "model_version": _served["version"]}


@app.post("/predict")
def predict(request: PredictRequest) -> dict:
    frame = pd.DataFrame([row.model_dump() for row in request.rows], columns=FEATURES)
    predictions = _served["model"].predict(frame)
    return {"model_version": _served["version"], "predictions": [int(p) for p in predictions]}
