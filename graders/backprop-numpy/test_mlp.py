"""Grader for backprop-numpy: a two-layer MLP with hand-written backpropagation.

Every check uses the grader's own seeds and data split; the reference forward pass and loss
below are used to compute numeric gradients and to re-score trained parameters, so a check
isolates the one function it is about.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

SEED = 20260317
PARAM_NAMES = ("W1", "b1", "W2", "b2")
SHAPES = {"W1": ("D", "H"), "b1": ("H",), "W2": ("H", "K"), "b2": ("K",)}


# -- reference pieces (never shown to the learner) ----------------------------------------------

def _ref_probs(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    h = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    logits = h @ params["W2"] + params["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _ref_loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    probs = _ref_probs(params, X)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-300, None))))


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64) / 16.0, y.astype(np.int64)


def _as_params(value, what: str) -> dict[str, np.ndarray]:
    assert isinstance(value, dict), f"{what} must return a dict of arrays, got {type(value).__name__}"
    missing = [name for name in PARAM_NAMES if name not in value]
    assert not missing, f"{what} is missing {', '.join(missing)} (needs keys W1, b1, W2, b2)"
    return {name: np.asarray(value[name], dtype=np.float64) for name in PARAM_NAMES}


def _check_shapes(params: dict[str, np.ndarray], dims: dict[str, int], what: str) -> None:
    for name, axes in SHAPES.items():
        expected = tuple(dims[a] for a in axes)
        assert params[name].shape == expected, (
            f"{what}[{name!r}] has shape {params[name].shape}, expected {expected} "
            f"(W1: (D, H), b1: (H,), W2: (H, K), b2: (K,))"
        )


def _forward(learner, params, X):
    out = learner.forward(params, X)
    assert isinstance(out, tuple) and len(out) == 2, "forward(params, X) must return a (probs, cache) tuple"
    return np.asarray(out[0], dtype=np.float64), out[1]


def _train(learner, X, y, **kwargs):
    out = learner.train(X, y, **kwargs)
    assert isinstance(out, tuple) and len(out) == 2, "train(X, y, ...) must return a (params, history) tuple"
    params = _as_params(out[0], "train")
    history = np.asarray(out[1], dtype=np.float64).ravel()
    return params, history


# -- checks ---------------------------------------------------------------------------------------

@pytest.mark.check(skill="deep-learning", points=1, hint=1)
def test_init_is_sensible(learner, record_metric):
    """init_params gives small random, non-symmetric weights"""
    dims = {"D": 64, "H": 96, "K": 10}
    params = _as_params(learner.init_params((64, 96, 10), seed=SEED), "init_params")
    _check_shapes(params, dims, "init_params")
    for name in PARAM_NAMES:
        assert np.all(np.isfinite(params[name])), f"init_params[{name!r}] contains nan or inf"
    for name, fan_in in (("W1", 64), ("W2", 96)):
        W = params[name]
        std = float(W.std())
        scale = std * math.sqrt(fan_in)          # 1.0 = LeCun, ~1.41 = He, ~0.8-1.4 = Xavier here
        record_metric(f"{name}_std", round(std, 5))
        record_metric(f"{name}_std_x_sqrt_fan_in", round(scale, 4))
        assert std > 0 and np.unique(W).size > W.size // 2, (
            f"{name} is (nearly) constant: every hidden unit starts identical, gets identical "
            "gradients and stays identical (symmetry is never broken); draw random weights"
        )
        assert 0.5 <= scale <= 2.0, (
            f"{name} has std {std:.4f} = {scale:.2f}/sqrt(fan_in); needs between 0.5/sqrt(fan_in) and "
            f"2/sqrt(fan_in) (He: sqrt(2/fan_in), Xavier: sqrt(2/(fan_in+fan_out)))"
        )
        assert abs(float(W.mean())) < 0.2 * std, f"{name} has mean {W.mean():.4f}; weights should be centred on 0"
        columns = W.T
        assert np.unique(columns, axis=0).shape[0] == columns.shape[0], \
            f"two units of {name} have identical incoming weights: they will never learn different features"
    again = _as_params(learner.init_params((64, 96, 10), seed=SEED), "init_params")
    other = _as_params(learner.init_params((64, 96, 10), seed=SEED + 1), "init_params")
    assert all(np.array_equal(params[n], again[n]) for n in PARAM_NAMES), \
        "init_params is not reproducible: the same seed gave different parameters"
    assert not np.array_equal(params["W1"], other["W1"]), \
        "init_params ignores its seed: two different seeds gave the same W1"


@pytest.mark.check(skill="deep-learning", points=3, required=True, hint=1)
def test_softmax_and_forward_are_stable(learner, record_metric):
    """softmax and forward are numerically stable for huge logits"""
    logits = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0], [-800.0, -801.0, -799.0], [0.0, 0.0, 0.0]])
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        got = np.asarray(learner.softmax(logits), dtype=np.float64)
    assert got.shape == logits.shape, f"softmax returned shape {got.shape} for logits of shape {logits.shape}"
    finite = bool(np.all(np.isfinite(got)))
    record_metric("softmax_finite", finite)
    assert finite, "softmax([[1000, 1001, 1002], ...]) gave nan/inf: exp overflows; subtract each row's max first"
    softmax_error = float(np.max(np.abs(got - expected)))
    record_metric("softmax_max_abs_error", softmax_error)
    assert softmax_error < 1e-9, f"softmax differs from the exact result by {softmax_error:.2e}, needs < 1e-9"

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(16, 8))
    params = {"W1": rng.normal(size=(8, 12)), "b1": rng.normal(size=12),
              "W2": rng.normal(size=(12, 5)) * 300.0, "b2": rng.normal(size=5) * 300.0}
    with np.errstate(all="ignore"):
        probs, _ = _forward(learner, params, X)
    assert probs.shape == (16, 5), f"forward returned probs of shape {probs.shape}, expected (16, 5)"
    finite = bool(np.all(np.isfinite(probs)))
    assert finite, "forward gave nan/inf probabilities for logits in the thousands; use a stable softmax"
    row_error = float(np.max(np.abs(probs.sum(axis=1) - 1.0)))
    record_metric("forward_row_sum_error", row_error)
    assert row_error < 1e-9, f"forward's probability rows sum to 1 +- {row_error:.2e}, needs < 1e-9"
    forward_error = float(np.max(np.abs(probs - _ref_probs(params, X))))
    record_metric("forward_max_abs_error", forward_error)
    assert forward_error < 1e-9, (
        f"forward's probabilities differ from relu(X @ W1 + b1) @ W2 + b2 -> softmax by {forward_error:.2e}"
    )


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=1)
def test_loss_is_mean_cross_entropy(learner, record_metric):
    """loss is the mean cross-entropy and stays finite"""
    rng = np.random.default_rng(SEED + 2)
    probs = rng.dirichlet(np.ones(6), size=20)
    y = rng.integers(0, 6, size=20)
    expected = float(-np.mean(np.log(probs[np.arange(20), y])))
    got = float(learner.loss(probs, y))
    record_metric("loss_error", abs(got - expected))
    assert abs(got - expected) < 1e-9 * max(1.0, abs(expected)), (
        f"loss returned {got:.6f}, expected the mean of -log(probs[i, y[i]]) = {expected:.6f}"
    )
    hard = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with np.errstate(all="ignore"):
        value = float(learner.loss(hard, np.array([0, 1, 1])))
    record_metric("loss_with_zero_prob", value if math.isfinite(value) else str(value))
    assert math.isfinite(value) and value > 5.0, (
        f"loss with a true-class probability of exactly 0 returned {value}; clip it "
        "(e.g. to 1e-12) so the loss is large but finite"
    )


@pytest.mark.check(skill="deep-learning", points=3, required=True, hint=2)
def test_backward_matches_numeric_gradients(learner, record_metric):
    """backward's gradients match central-difference numeric gradients"""
    rng = np.random.default_rng(SEED + 3)
    n, d, hdim, k = 7, 5, 6, 4
    while True:
        X = rng.normal(size=(n, d))
        params = {"W1": rng.normal(size=(d, hdim)), "b1": rng.normal(size=hdim) * 0.5,
                  "W2": rng.normal(size=(hdim, k)), "b2": rng.normal(size=k) * 0.5}
        z1 = X @ params["W1"] + params["b1"]
        if np.min(np.abs(z1)) > 1e-3 and 0.2 < np.mean(z1 > 0) < 0.8:   # away from ReLU kinks
            break
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)
    given = {name: value.copy() for name, value in params.items()}
    _, cache = _forward(learner, given, X)
    grads = learner.backward(given, cache, y)
    grads = _as_params(grads, "backward")
    _check_shapes(grads, {"D": d, "H": hdim, "K": k}, "backward")

    eps = 1e-6
    worst_name, worst = "", 0.0
    errors = {}
    for name in PARAM_NAMES:
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            original = params[name][index]
            params[name][index] = original + eps
            plus = _ref_loss(params, X, y)
            params[name][index] = original - eps
            minus = _ref_loss(params, X, y)
            params[name][index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        analytic = grads[name]
        if not np.all(np.isfinite(analytic)):
            error = math.inf
        else:
            denom = max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), 1e-12)
            error = float(np.linalg.norm(analytic - numeric)) / denom
        errors[name] = error
        record_metric(f"rel_error_{name}", error)
        if error > worst or not worst_name:
            worst_name, worst = name, error
    record_metric("max_rel_error", worst)
    bad = ", ".join(f"{name} {err:.1e}" for name, err in errors.items() if not err < 1e-5)
    assert worst < 1e-5, (
        f"backward's gradients differ from numeric ones (relative error {bad}); every one needs < 1e-5. "
        "Gradients are of the MEAN loss over the batch."
    )


@pytest.mark.check(skill="deep-learning", points=1, hint=2)
def test_training_loss_decreases(learner, record_metric):
    """training loss goes down epoch after epoch"""
    X, y = _digits()
    rng = np.random.default_rng(SEED + 4)
    subset = rng.choice(len(X), size=600, replace=False)
    X, y = X[subset], y[subset]
    epochs = 6
    params, history = _train(learner, X, y, epochs=epochs, seed=SEED)
    assert history.size == epochs, f"train(..., epochs={epochs}) returned a history of {history.size} values, expected one per epoch"
    assert np.all(np.isfinite(history)), f"the training loss became nan/inf: {history.round(4).tolist()}"
    record_metric("first_epoch_loss", float(history[0]))
    record_metric("last_epoch_loss", float(history[-1]))
    rises = int(np.sum(np.diff(history) > 0))
    record_metric("epochs_with_rising_loss", rises)
    assert history[-1] < 0.5 * history[0], (
        f"loss went from {history[0]:.4f} to {history[-1]:.4f} over {epochs} epochs; needs to at least halve "
        f"(curve: {history.round(4).tolist()})"
    )
    assert rises <= epochs // 3, f"loss rose in {rises} of {epochs - 1} epoch steps (curve: {history.round(4).tolist()}); lower the learning rate?"
    final = _ref_loss(params, X, y)
    record_metric("trained_params_loss", final)
    assert final < 0.5, (
        f"the parameters train returned have a training loss of {final:.4f} (needs < 0.5); "
        "return the trained parameters (not the initial ones), and check that training converges"
    )


@pytest.mark.check(skill="deep-learning", points=3, required=True, hint=3)
def test_heldout_accuracy(learner, record_metric):
    """held-out accuracy on digits is at least 0.95"""
    from sklearn.model_selection import train_test_split

    X, y = _digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=SEED % 2**31)
    started = time.perf_counter()
    params, _ = _train(learner, X_train, y_train, seed=SEED)
    record_metric("train_seconds", round(time.perf_counter() - started, 3))
    predicted = np.asarray(learner.predict(params, X_test)).ravel()
    assert predicted.shape == y_test.shape, f"predict returned {predicted.shape[0]} labels for {y_test.shape[0]} rows"
    accuracy = float(np.mean(predicted == y_test))
    record_metric("accuracy", round(accuracy, 4))
    assert accuracy >= 0.95, (
        f"held-out accuracy is {accuracy:.4f} on {len(y_test)} digits, needs >= 0.95 "
        "(train with its default arguments: hidden size, epochs, learning rate)"
    )
