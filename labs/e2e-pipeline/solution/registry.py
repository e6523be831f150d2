"""Registry discipline: the alias `champion` moves to a new version only when that version
beats the current champion on the validation rows, both scored now, on the same rows."""

from __future__ import annotations

import pandas as pd
from contract import CHAMPION, FEATURES, LABEL


def accuracy(model, validation: pd.DataFrame) -> float:
    """Share of validation rows whose `clicked` the model predicts."""
    return float((model.predict(validation[FEATURES]) == validation[LABEL].to_numpy()).mean())


def promote(tracking_uri: str, model_name: str, version: str, validation_path: str) -> dict:
    """Score version `version` of `model_name` and the current champion on `validation_path`;
    point `champion` at the candidate if there is no champion or it is strictly more accurate.
    Returns {"promoted", "candidate_accuracy", "champion_version", "champion_accuracy"}, where the
    champion fields describe the champion before the decision (None when there was none)."""
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    validation = pd.read_csv(validation_path)
    candidate = accuracy(mlflow.sklearn.load_model(f"models:/{model_name}/{version}"), validation)
    try:
        current = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        current = None
    champion_accuracy = None
    if current is not None:
        champion_accuracy = accuracy(mlflow.sklearn.load_model(f"models:/{model_name}/{current.version}"), validation)
    promoted = current is None or candidate > champion_accuracy
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
    return {"promoted": promoted, "candidate_accuracy": candidate,
            "champion_version": None if current is None else str(current.version), "champion_accuracy": champion_accuracy}
