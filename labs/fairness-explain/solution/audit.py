"""Fairness audit of a credit model: group metrics, SHAP attributions, a proxy finder, a mitigated
model and a model card whose numbers can be recomputed (reference solution)."""

from __future__ import annotations

import pickle

import numpy as np

BACKGROUND_ROWS = 100     # model card: SHAP background = the first 100 training rows
EXPLAINED_ROWS = 500      # model card: SHAP is averaged over the first 500 test rows


# -- group metrics ----------------------------------------------------------------------------

def _rate(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0


def group_metrics(y_true, y_pred, sensitive, sample_weight=None) -> dict:
    """Per-group rates and the between-group disparities, as fairlearn defines them."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    groups = np.asarray([str(g) for g in sensitive])
    weight = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    by_group = {}
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        t, p, w = y_true[mask], y_pred[mask], weight[mask]
        by_group[group] = {
            "selection_rate": _rate(w[p == 1].sum(), w.sum()),
            "true_positive_rate": _rate(w[(t == 1) & (p == 1)].sum(), w[t == 1].sum()),
            "false_positive_rate": _rate(w[(t == 0) & (p == 1)].sum(), w[t == 0].sum()),
            "accuracy": _rate(w[t == p].sum(), w.sum()),
        }

    def spread(metric: str) -> tuple[float, float]:
        values = [rates[metric] for rates in by_group.values()]
        return max(values) - min(values), (min(values) / max(values) if max(values) > 0 else 0.0)

    dp_diff, dp_ratio = spread("selection_rate")
    tpr_diff, tpr_ratio = spread("true_positive_rate")
    fpr_diff, fpr_ratio = spread("false_positive_rate")
    return {
        "by_group": by_group,
        "demographic_parity_difference": float(dp_diff),
        "demographic_parity_ratio": float(dp_ratio),
        "equalized_odds_difference": float(max(tpr_diff, fpr_diff)),
        "equalized_odds_ratio": float(min(tpr_ratio, fpr_ratio)),
    }


# -- attributions -----------------------------------------------------------------------------

def shap_importance(model_blob: bytes, background, rows) -> np.ndarray:
    """Mean |SHAP| per feature (log-odds), interventional with respect to `background`."""
    import shap

    model = pickle.loads(model_blob)
    explainer = shap.TreeExplainer(model, data=np.asarray(background, dtype=float),
                                   feature_perturbation="interventional", model_output="raw")
    values = np.asarray(explainer.shap_values(np.asarray(rows, dtype=float)))
    return np.abs(values).mean(axis=0)


def find_proxies(importance, X, sensitive, feature_names, top_k=3, min_correlation=0.3) -> list[str]:
    """Features among the top_k by importance whose |Pearson r| with the sensitive attribute is
    at least min_correlation, most important first."""
    importance = np.asarray(importance, dtype=float)
    X = np.asarray(X, dtype=float)
    labels = [str(s) for s in sensitive]
    indicator = (np.asarray(labels) == sorted(set(labels))[0]).astype(float)
    order = sorted(range(len(feature_names)), key=lambda j: (-importance[j], j))[:top_k]
    proxies = []
    for j in order:
        column = X[:, j]
        if column.std() == 0 or indicator.std() == 0:
            continue
        r = float(np.corrcoef(column, indicator)[0, 1])
        if abs(r) >= min_correlation:
            proxies.append(feature_names[j])
    return proxies


# -- mitigation -------------------------------------------------------------------------------

def _booster():
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)


class FairModel:
    """Gradient boosting plus per-group decision thresholds that equalise selection rates
    (demographic parity), chosen on the training data to keep as much accuracy as possible."""

    def __init__(self) -> None:
        self.model = None
        self.thresholds: dict[str, float] = {}

    def fit(self, X, y, sensitive) -> FairModel:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y).astype(int)
        groups = np.asarray([str(s) for s in sensitive])
        self.model = _booster().fit(X, y)
        scores = self.model.predict_proba(X)[:, 1]
        best = None
        for rate in np.linspace(0.05, 0.95, 181):
            thresholds = {g: float(np.quantile(scores[groups == g], 1 - rate)) for g in sorted(set(groups.tolist()))}
            predicted = self._apply(scores, groups, thresholds)
            accuracy = float((predicted == y).mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, thresholds)
        self.thresholds = best[1]
        return self

    @staticmethod
    def _apply(scores: np.ndarray, groups: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
        cut = np.array([thresholds.get(g, 0.5) for g in groups])
        return (scores >= cut).astype(int)

    def predict(self, X, sensitive) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the model first")
        scores = self.model.predict_proba(np.asarray(X, dtype=float))[:, 1]
        return self._apply(scores, np.asarray([str(s) for s in sensitive]), self.thresholds)


# -- the model card ---------------------------------------------------------------------------

def _fairness_section(y_true, y_pred, sensitive) -> dict:
    metrics = group_metrics(y_true, y_pred, sensitive)
    return {
        "demographic_parity_difference": metrics["demographic_parity_difference"],
        "equalized_odds_difference": metrics["equalized_odds_difference"],
        "selection_rate": {g: rates["selection_rate"] for g, rates in metrics["by_group"].items()},
    }


def model_card(train: dict, test: dict, feature_names: list[str], baseline_blob: bytes) -> dict:
    """A model card for the baseline and the mitigated model, measured on the test split."""
    X_train, y_train, a_train = np.asarray(train["X"], dtype=float), np.asarray(train["y"]), train["group"]
    X_test, y_test, a_test = np.asarray(test["X"], dtype=float), np.asarray(test["y"]).astype(int), test["group"]
    baseline = pickle.loads(baseline_blob)
    baseline_pred = baseline.predict(X_test).astype(int)
    mitigated_pred = FairModel().fit(X_train, y_train, a_train).predict(X_test, a_test)
    baseline_accuracy = float((baseline_pred == y_test).mean())
    mitigated_accuracy = float((mitigated_pred == y_test).mean())
    importance = shap_importance(baseline_blob, X_train[:BACKGROUND_ROWS], X_test[:EXPLAINED_ROWS])
    order = sorted(range(len(feature_names)), key=lambda j: (-importance[j], j))[:3]
    groups = [str(g) for g in a_test]
    return {
        "model": {"type": type(baseline).__name__, "features": list(feature_names),
                  "excluded_attributes": ["group"], "mitigation": "per-group thresholds for demographic parity"},
        "data": {"train_rows": len(X_train), "test_rows": len(X_test),
                 "test_positive_rate": float(y_test.mean()),
                 "test_group_share": {g: groups.count(g) / len(groups) for g in sorted(set(groups))}},
        "performance": {"baseline_accuracy": baseline_accuracy, "mitigated_accuracy": mitigated_accuracy,
                        "accuracy_loss_points": 100 * (baseline_accuracy - mitigated_accuracy)},
        "fairness": {"baseline": _fairness_section(y_test, baseline_pred, a_test),
                     "mitigated": _fairness_section(y_test, mitigated_pred, a_test)},
        "explainability": {"top_features": [{"feature": feature_names[j], "mean_abs_shap": float(importance[j])}
                                            for j in order],
                           "proxies": find_proxies(importance, X_test[:EXPLAINED_ROWS], list(a_test)[:EXPLAINED_ROWS],
                                                   feature_names)},
        "limitations": [
            "Labels are historical decisions and carry their bias; accuracy is measured against them.",
            "Group thresholds use the protected attribute at decision time; check that this is lawful where deployed.",
        ],
    }
