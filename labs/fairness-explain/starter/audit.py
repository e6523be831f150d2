"""Fairness audit of a credit model: group metrics, SHAP attributions, a proxy finder, a mitigated
model and a model card whose numbers can be recomputed.

Read README.md for the contract. `python try_it.py` runs everything on a sample population."""

from __future__ import annotations

import pickle  # noqa: F401  (models arrive as pickle bytes)

import numpy as np

BACKGROUND_ROWS = 100     # model card: SHAP background = the first 100 training rows
EXPLAINED_ROWS = 500      # model card: SHAP is averaged over the first 500 test rows


def group_metrics(y_true, y_pred, sensitive, sample_weight=None) -> dict:
    """Per-group rates and the between-group disparities, as fairlearn defines them:
    {"by_group": {group: {"selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"}},
     "demographic_parity_difference", "demographic_parity_ratio",
     "equalized_odds_difference", "equalized_odds_ratio"}."""
    raise NotImplementedError("group_metrics")


def shap_importance(model_blob: bytes, background, rows) -> np.ndarray:
    """Mean |SHAP| per feature (log-odds), interventional with respect to `background`."""
    raise NotImplementedError("shap_importance")


def find_proxies(importance, X, sensitive, feature_names, top_k=3, min_correlation=0.3) -> list[str]:
    """Features among the top_k by importance whose |Pearson r| with the sensitive attribute is
    at least min_correlation, most important first."""
    raise NotImplementedError("find_proxies")


class FairModel:
    """A credit model whose decisions meet demographic parity (difference <= 0.05) at a small
    accuracy cost."""

    def fit(self, X, y, sensitive) -> FairModel:
        raise NotImplementedError("FairModel.fit")

    def predict(self, X, sensitive) -> np.ndarray:
        raise NotImplementedError("FairModel.predict")


def model_card(train: dict, test: dict, feature_names: list[str], baseline_blob: bytes) -> dict:
    """A model card for the baseline and the mitigated model, measured on the test split
    (the schema is in README.md, 'Model card')."""
    raise NotImplementedError("model_card")
