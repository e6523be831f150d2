"""A two-layer neural network (MLP) with backpropagation, by hand, in NumPy.

Shapes (N samples, D inputs, H hidden units, K classes):

    params = {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}
    z1 = X @ W1 + b1          (N, H)
    h  = relu(z1)             (N, H)
    logits = h @ W2 + b2      (N, K)
    probs = softmax(logits)   (N, K)
    loss = mean over rows of -log(probs[i, y[i]])
"""

from __future__ import annotations

import numpy as np

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def init_params(sizes: tuple[int, int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for a (D, H, K) network: He-scaled W1, W2; zero biases.

    Returns {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} as float64 arrays.
    The same seed gives the same parameters.
    """
    n_in, n_hidden, n_out = sizes
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, np.sqrt(2.0 / n_hidden), size=(n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (N, K) array, stable for very large or very small logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def forward(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward pass: ReLU hidden layer, softmax output.

    Returns (probs, cache): probs is (N, K) with rows summing to 1; cache holds what
    `backward` needs (here the input, the hidden pre-activation and activation, and probs).
    """
    z1 = X @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0.0)
    logits = h @ params["W2"] + params["b2"]
    probs = softmax(logits)
    return probs, {"X": X, "z1": z1, "h": h, "probs": probs}


def loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of integer labels y (N,) under probs (N, K); finite even if a prob is 0."""
    picked = probs[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, None))))


def backward(params: dict[str, np.ndarray], cache: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of the mean cross-entropy loss with respect to every parameter.

    Returns {"W1", "b1", "W2", "b2"}, each with the shape of its parameter.
    """
    X, z1, h, probs = cache["X"], cache["z1"], cache["h"], cache["probs"]
    n = X.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n                                   # dL/dlogits = (probs - onehot) / N
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dh = dlogits @ params["W2"].T
    dz1 = dh * (z1 > 0)                            # ReLU passes gradient only where it was active
    dW1 = X.T @ dz1
    db1 = dz1.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def train(
    X: np.ndarray,
    y: np.ndarray,
    hidden: int = 64,
    epochs: int = 30,
    lr: float = 0.1,
    momentum: float = 0.9,
    batch_size: int = 32,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Mini-batch SGD with momentum. Returns (params, history).

    history[e] is the mean training loss over the mini-batches of epoch e (len == epochs).
    The number of classes is y.max() + 1.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((hidden,), solver="sgd", learning_rate_init=lr, momentum=momentum, batch_size=batch_size,
                        max_iter=epochs, random_state=seed, nesterovs_momentum=False).fit(X, y)
    params = {"W1": clf.coefs_[0], "b1": clf.intercepts_[0], "W2": clf.coefs_[1], "b2": clf.intercepts_[1]}
    return params, list(clf.loss_curve_)


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted class (N,) integers: the most probable class of each row."""
    probs, _ = forward(params, np.asarray(X, dtype=np.float64))
    return probs.argmax(axis=1)
