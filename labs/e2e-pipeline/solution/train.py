"""Train stage: clean table -> model file + metrics, a tracked MLflow run, a registered model
version, and a champion decision.

Run as a pipeline stage:  python train.py  (paths from contract.py; MLFLOW_TRACKING_URI and
MODEL_NAME from the environment)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import pandas as pd
from contract import (
    CLEAN_PATH,
    DEFAULT_MODEL_NAME,
    EXPERIMENT,
    FEATURES,
    LABEL,
    METRICS_PATH,
    MODEL_PATH,
    VALIDATION_PATH,
)
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PARAMS = {"C": 1.0, "max_iter": 2000}


def build_model() -> Pipeline:
    """One-hot device / country / hour, scaled price and dwell, logistic regression (deterministic)."""
    features = ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["device", "country", "hour"]),
        ("numbers", StandardScaler(), ["price", "dwell_ms"]),
    ])
    return Pipeline([("features", features), ("classifier", LogisticRegression(**PARAMS))])


def file_md5(path: str) -> str:
    """The md5 of a file's bytes (what DVC records for it)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def train(clean_path: str = CLEAN_PATH, validation_path: str = VALIDATION_PATH, model_path: str = MODEL_PATH,
          metrics_path: str = METRICS_PATH) -> dict:
    """Fit on the clean rows, score on the validation rows, write the model and the metrics."""
    clean = pd.read_csv(clean_path)
    validation = pd.read_csv(validation_path)
    model = build_model().fit(clean[FEATURES], clean[LABEL])
    val_accuracy = float((model.predict(validation[FEATURES]) == validation[LABEL]).mean())
    Path(model_path).parent.mkdir(parents=True, exist_ok=True)
    Path(model_path).write_bytes(pickle.dumps(model))
    metrics = {"val_accuracy": val_accuracy, "train_rows": len(clean)}
    Path(metrics_path).write_text(json.dumps(metrics, indent=2) + "\n")
    return {"model": model, **metrics}


def track(model, metrics: dict, tracking_uri: str, model_name: str, clean_path: str = CLEAN_PATH) -> tuple[str, str]:
    """Log the run (params, metrics, data hash, model) and register a new version; (run id, version)."""
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_params(PARAMS)
        mlflow.log_metrics({"val_accuracy": metrics["val_accuracy"], "train_rows": metrics["train_rows"]})
        mlflow.set_tag("data_md5", file_md5(clean_path))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name,
                                        serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    return run.info.run_id, str(info.registered_model_version)


def main() -> None:
    result = train()
    print(f"train: val_accuracy={result['val_accuracy']:.4f} on {result['train_rows']} rows", file=sys.stderr)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri:
        print("train: MLFLOW_TRACKING_URI is not set; nothing tracked or registered", file=sys.stderr)
        return
    model_name = os.environ.get("MODEL_NAME", DEFAULT_MODEL_NAME)
    run_id, version = track(result["model"], result, tracking_uri, model_name)
    from registry import promote

    decision = promote(tracking_uri, model_name, version, VALIDATION_PATH)
    print(f"train: run {run_id}, {model_name} v{version}, champion: {decision}", file=sys.stderr)


if __name__ == "__main__":
    main()
