"""Project 1: ridge regression in closed form, scored by R^2 on a held-out split.

Keep these names and signatures: the grader calls them.

    fit_ridge(X, y, alpha) -> RidgeModel          closed form, intercept not penalized
    predict(model, X) -> ndarray (n,)             X @ coef + intercept
    r2_score(y_true, y_pred) -> float             1 - SS_res / SS_tot
    holdout_r2(X, y, train_idx, test_idx, alpha)  fit on the training rows only, R^2 on the test rows

Only NumPy: scikit-learn is not importable while grading. Run `python ridge.py` to try it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RidgeModel:
    """A fitted ridge regression: y ~ X @ coef + intercept."""

    coef: np.ndarray  # (d,) weights of the raw features
    intercept: float  # not penalized


def fit_ridge(X, y, alpha=1.0):
    """Minimise ||y - X w - b||^2 + alpha * ||w||^2 in closed form (b is not penalized)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    # TODO: the closed form. This naive model ignores X and always predicts the mean of y.
    return RidgeModel(coef=np.zeros(X.shape[1]), intercept=float(y.mean()))


def predict(model, X):
    """Predictions for the rows of X."""
    return np.asarray(X, dtype=float) @ np.asarray(model.coef, dtype=float) + float(model.intercept)


def r2_score(y_true, y_pred):
    """Coefficient of determination: 1 - sum((y - y_hat)^2) / sum((y - mean(y))^2)."""
    # TODO: 1 - SS_res / SS_tot (it is negative when the predictions are worse than the mean)
    raise NotImplementedError("r2_score")


def holdout_r2(X, y, train_idx, test_idx, alpha=1.0):
    """Fit on the training rows only and return R^2 on the held-out rows."""
    # TODO: fit on the rows in train_idx only, then score the rows in test_idx
    raise NotImplementedError("holdout_r2")


if __name__ == "__main__":
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    print(f"held-out R^2 (alpha=0.1): {holdout_r2(X, y, order[:cut], order[cut:], alpha=0.1):.3f}")
