"""Registry discipline: the alias `champion` moves to a new version only when that version
beats the current champion on the validation rows, both scored now, on the same rows."""

from __future__ import annotations

from contract import CHAMPION, FEATURES, LABEL  # noqa: F401


def promote(tracking_uri: str, model_name: str, version: str, validation_path: str) -> dict:
    """Score version `version` of `model_name` and the current champion on `validation_path`;
    point `champion` at the candidate if there is no champion or it is strictly more accurate.
    Returns {"promoted", "candidate_accuracy", "champion_version", "champion_accuracy"}, where the
    champion fields describe the champion before the decision (None when there was none)."""
    raise NotImplementedError("promote: score both versions on the validation file, move the alias if better")
