"""A two-layer neural network (MLP) with backpropagation, by hand, in NumPy.

Edit this file. Every function below runs, but several are subtly wrong (look for TODO).
Run `workbench check backprop-numpy` to see which checks fail.

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
    """Initial weights for a (D, H, K) network.

    Returns {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} as float64 arrays.
    The same seed must give the same parameters; different seeds, different weights.
    """
    n_in, n_hidden, n_out = sizes
    rng = np.random.default_rng(seed)  # noqa: F841 - you will need it
    # TODO: all-zero weights make every hidden unit identical forever (symmetry).
    #       Draw random weights scaled by the layer's fan-in (He or Xavier); biases may stay 0.
    return {
        "W1": np.zeros((n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": np.zeros((n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (N, K) array. Must stay finite for logits like 1000 or -1000."""
    # TODO: np.exp(1000) overflows to inf. Make this numerically stable.
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def forward(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward pass: ReLU hidden layer, softmax output.

    Returns (probs, cache): probs is (N, K) with rows summing to 1; cache is whatever
    `backward` needs (any dict you like).
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
    """Gradients of the MEAN cross-entropy loss with respect to every parameter.

    Returns {"W1", "b1", "W2", "b2"}, each with the shape of its parameter.
    """
    X, h, probs = cache["X"], cache["h"], cache["probs"]
    n = X.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n                                   # dL/dlogits = (probs - onehot) / N
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dh = dlogits @ params["W2"].T
    # TODO: the gradient does not flow through ReLU like this. What is d relu(z) / dz?
    dz1 = dh
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

    Start from exactly init_params((D, hidden, y.max() + 1), seed), every velocity at 0.
    history[e] is the mean training loss over the mini-batches of epoch e (len == epochs), each
    batch's loss taken in its forward pass, before its step. The defaults are what the accuracy
    check uses.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n_classes = int(y.max()) + 1
    params = init_params((X.shape[1], hidden, n_classes), seed)
    history: list[float] = []
    for _ in range(epochs):
        # TODO: one gradient step per epoch on the whole data set learns far too slowly.
        #       Each epoch: shuffle (with a generator seeded from `seed`), walk mini-batches of
        #       `batch_size` rows, and step with momentum:
        #           velocity = momentum * velocity - lr * grad;  param += velocity
        #       history gets the mean of that epoch's mini-batch losses.
        probs, cache = forward(params, X)
        history.append(loss(probs, y))
        grads = backward(params, cache, y)
        for name in PARAM_NAMES:
            params[name] -= lr * grads[name]
    return params, history


def predict(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted class (N,) integers: the most probable class of each row."""
    probs, _ = forward(params, np.asarray(X, dtype=np.float64))
    return probs.argmax(axis=1)
