"""The grader's references: fairlearn for the group metrics, shap for the attributions, and
the proxy rule of the brief. The learner's code cannot import fairlearn while grading."""

from __future__ import annotations

import pickle
import warnings

import numpy as np

RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
               "equalized_odds_ratio")


def fairlearn_metrics(y_true, y_pred, sensitive, sample_weight=None) -> dict:
    """group_metrics as fairlearn computes it (the expected answer)."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    groups = np.asarray([str(s) for s in sensitive])
    functions = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                 "false_positive_rate": false_positive_rate, "accuracy": accuracy_score}
    kwargs = {}
    if sample_weight is not None:
        kwargs["sample_params"] = {name: {"sample_weight": np.asarray(sample_weight)} for name in functions}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=functions, y_true=np.asarray(y_true), y_pred=np.asarray(y_pred),
                            sensitive_features=groups, **kwargs)
        weights = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
        args = (np.asarray(y_true), np.asarray(y_pred))
        result = {
            "by_group": {str(g): {name: float(frame.by_group.loc[g, name]) for name in functions}
                         for g in frame.by_group.index},
            "demographic_parity_difference": float(demographic_parity_difference(*args, sensitive_features=groups, **weights)),
            "demographic_parity_ratio": float(demographic_parity_ratio(*args, sensitive_features=groups, **weights)),
            "equalized_odds_difference": float(equalized_odds_difference(*args, sensitive_features=groups, **weights)),
            "equalized_odds_ratio": float(equalized_odds_ratio(*args, sensitive_features=groups, **weights)),
        }
    return result


def metric_cases(seed: int, shown_only: bool = False) -> list[tuple[str, dict]]:
    """(family, arguments) for group_metrics; the brief shows only the first family."""
    rng = np.random.default_rng([seed, 21])
    cases = []

    def draw(n, groups, shares, rates, positives=None):
        member = rng.choice(len(groups), size=n, p=shares)
        y_true = (rng.random(n) < (positives if positives is not None else 0.5)).astype(int)
        score = rng.random(n) + 0.35 * y_true
        y_pred = (score > 1 - np.asarray(rates)[member]).astype(int)
        return y_true, y_pred, [groups[m] for m in member]

    y_true, y_pred, groups = draw(int(rng.integers(300, 900)), ["A", "B"], [0.65, 0.35], [0.55, 0.4])
    cases.append(("two groups", {"y_true": y_true, "y_pred": y_pred, "sensitive": groups}))
    if shown_only:
        return cases
    y_true, y_pred, groups = draw(int(rng.integers(600, 1500)), ["north", "south", "east", "west"],
                                  [0.4, 0.3, 0.2, 0.1], rng.uniform(0.25, 0.7, 4).tolist())
    cases.append(("four unequal groups", {"y_true": y_true, "y_pred": y_pred, "sensitive": groups}))
    y_true, y_pred, groups = draw(int(rng.integers(400, 900)), ["A", "B", "C"], [0.5, 0.3, 0.2], [0.6, 0.45, 0.3])
    weights = rng.uniform(0.2, 3.0, len(y_true))
    cases.append(("sample weights", {"y_true": y_true, "y_pred": y_pred, "sensitive": groups,
                                     "sample_weight": weights}))
    y_true, y_pred, groups = draw(int(rng.integers(300, 700)), [0, 1, 2], [0.5, 0.35, 0.15], [0.5, 0.4, 0.3])
    cases.append(("integer group codes", {"y_true": y_true, "y_pred": y_pred, "sensitive": np.asarray(groups)}))
    y_true, y_pred, groups = draw(int(rng.integers(300, 700)), ["A", "B", "C"], [0.5, 0.3, 0.2], [0.5, 0.45, 0.0])
    cases.append(("a group never selected", {"y_true": y_true, "y_pred": y_pred, "sensitive": groups}))
    return cases


def shap_reference(model_blob: bytes, background: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean |SHAP| per feature: interventional TreeSHAP on the log-odds against `background`."""
    import shap

    model = pickle.loads(model_blob)
    explainer = shap.TreeExplainer(model, data=background, feature_perturbation="interventional", model_output="raw")
    return np.abs(np.asarray(explainer.shap_values(rows))).mean(axis=0)


def proxies_reference(importance, X, sensitive, feature_names, top_k=3, min_correlation=0.3) -> list[str]:
    """The brief's rule: among the top_k features by importance (ties: lower column first), those
    whose |Pearson r| with the group indicator is >= min_correlation, most important first."""
    importance = np.asarray(importance, dtype=float)
    labels = np.asarray([str(s) for s in sensitive])
    indicator = (labels == sorted(set(labels.tolist()))[0]).astype(float)
    order = sorted(range(len(feature_names)), key=lambda j: (-importance[j], j))[:top_k]
    flagged = []
    for j in order:
        column = np.asarray(X, dtype=float)[:, j]
        if column.std() > 0 and abs(np.corrcoef(column, indicator)[0, 1]) >= min_correlation:
            flagged.append(feature_names[j])
    return flagged
