"""Logistic regression from scratch in NumPy.

Fill in the TODOs. Keep these names and signatures: the grader calls them.

    sigmoid(z) -> ndarray                        numerically stable 1 / (1 + exp(-z))
    loss_and_grad(w, b, X, y, l2=0.0)            -> (loss: float, grad_w: ndarray (d,), grad_b: float)
    fit_standardizer(X) -> (mean, std)           per-column statistics of the training data
    standardize(X, mean, std) -> ndarray         (X - mean) / std
    fit(X, y, l2=1e-2, lr=0.5, epochs=1000)      -> Model, trained on RAW features
    predict_proba(model, X) -> ndarray (n,)      P(y = 1 | x) for RAW features
    predict(model, X, threshold=0.5) -> ndarray  0/1 labels

The loss is the mean binary cross-entropy plus an L2 penalty on the weights (not the bias):

    L(w, b) = mean_i[ -y_i log p_i - (1 - y_i) log(1 - p_i) ] + (l2 / 2) * ||w||^2
    p = sigmoid(z),  z = X @ w + b

Only NumPy for the model: no scikit-learn estimators (sklearn.datasets, sklearn.model_selection
and sklearn.metrics are fine for loading, splitting and scoring). Run `python logreg.py` to try it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Model:
    """A trained logistic-regression model: weights on standardized features plus the scaler."""

    w: np.ndarray  # (d,) weights for standardized features
    b: float  # bias
    mean: np.ndarray  # (d,) training-column means
    std: np.ndarray  # (d,) training-column standard deviations (zeros replaced by 1)


def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow warnings or nan for any finite z (|z| up to 1000 and more)."""
    z = np.asarray(z, dtype=float)
    # TODO: np.exp(-z) overflows for z < -709. Make this numerically stable.
    return 1.0 / (1.0 + np.exp(-z))


def loss_and_grad(w, b, X, y, l2=0.0):
    """Mean binary cross-entropy + (l2/2)*||w||^2, and its gradient.

    Returns (loss, grad_w, grad_b): a float, an array shaped like w, and a float.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    z = X @ w + b
    p = sigmoid(z)
    # TODO: the L2 penalty (l2/2)*||w||^2 is missing (and log(1 - p) breaks down when p rounds to 1).
    loss = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))
    # TODO: these are not the gradient of the loss above (check them against a numeric gradient).
    grad_w = X.T @ (y - p)
    grad_b = np.sum(y - p)
    return float(loss), grad_w, float(grad_b)


def fit_standardizer(X):
    """Column means and (population) standard deviations of X; a zero std becomes 1."""
    X = np.asarray(X, dtype=float)
    # TODO: compute the real statistics.
    return np.zeros(X.shape[1]), np.ones(X.shape[1])


def standardize(X, mean, std):
    """Scale every column to zero mean and unit variance using training statistics."""
    return (np.asarray(X, dtype=float) - mean) / std


def fit(X, y, l2=1e-2, lr=0.5, epochs=1000):
    """Train on raw features with gradient descent; returns a Model.

    Standardize with X's own statistics (kept in the model), start from w = 0, b = 0, then take
    `epochs` full-batch steps w -= lr * grad_w, b -= lr * grad_b with loss_and_grad(..., l2).
    """
    y = np.asarray(y, dtype=float)
    mean, std = fit_standardizer(X)
    w = np.zeros(np.asarray(X).shape[1])
    b = 0.0
    # TODO: standardize X, then run `epochs` steps of gradient descent on loss_and_grad.
    return Model(w=w, b=b, mean=mean, std=std)


def predict_proba(model, X):
    """P(y = 1 | x) for each row of raw features X."""
    return sigmoid(standardize(X, model.mean, model.std) @ model.w + model.b)


def predict(model, X, threshold=0.5):
    """Hard 0/1 labels."""
    return (predict_proba(model, X) >= threshold).astype(int)


if __name__ == "__main__":
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = fit(X_train, y_train)
    loss, _, _ = loss_and_grad(model.w, model.b, standardize(X_train, model.mean, model.std), y_train, 1e-2)
    print(f"training loss {loss:.4f}")
    print(f"held-out accuracy {np.mean(predict(model, X_test) == y_test):.3f}")
