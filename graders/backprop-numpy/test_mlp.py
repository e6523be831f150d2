"""Grader for backprop-numpy: a two-layer MLP with hand-written backpropagation.

Every check draws its networks, data subsets, splits and training seeds from the `seed` fixture
(fresh each run); the reference forward pass, loss and gradients below compute numeric
gradients, replay the brief's momentum SGD and re-score trained parameters, so a check isolates
the one function it is about. Model libraries (scikit-learn's estimators, torch, jax, ...) are
hidden from the learner's code by lab.toml's `hide_modules`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

PARAM_NAMES = ("W1", "b1", "W2", "b2")
ACCURACY_NEEDED = 0.95
ACCURACY_RUNS = 3
# libraries that would do the learning for the learner (hidden by lab.toml; named here for messages)
LIBRARIES = ("torch", "tensorflow", "keras", "jax", "autograd", "mlx", "tinygrad", "sklearn.neural_network",
             "sklearn.linear_model", "sklearn.svm", "sklearn.ensemble", "sklearn.neighbors", "sklearn.tree")
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


def _ref_grads(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    z1 = X @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0.0)
    dlogits = _ref_probs(params, X)
    dlogits[np.arange(len(y)), y] -= 1.0
    dlogits /= len(y)
    dz1 = (dlogits @ params["W2"].T) * (z1 > 0)
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}


def _ref_momentum_full_batch(params, X, y, epochs: int, lr: float, momentum: float):
    """The brief's update with one batch per epoch: v = momentum * v - lr * grad; param += v.
    Returns (params, history)."""
    params = {k: v.copy() for k, v in params.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    history = []
    for _ in range(epochs):
        history.append(_ref_loss(params, X, y))
        grads = _ref_grads(params, X, y)
        for name in PARAM_NAMES:
            velocity[name] = momentum * velocity[name] - lr * grads[name]
            params[name] = params[name] + velocity[name]
    return params, np.array(history)


def _rel_error(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.linalg.norm(a[n] - b[n]) / max(np.linalg.norm(b[n]), 1e-12)) for n in PARAM_NAMES)


def _no_library(learner_module) -> None:
    loaded = sorted(m for m in learner_module("sys").modules if m.startswith(LIBRARIES))
    assert not loaded, (f"a model library was loaded while training: {', '.join(loaded[:3])}; "
                        "write forward, backward and the SGD loop yourself with NumPy")


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


def _check_init(learner, record_metric, size: str, D: int, H: int, K: int, init_seed: int) -> dict[str, np.ndarray]:
    dims = {"D": D, "H": H, "K": K}
    raw = learner.init_params((D, H, K), seed=init_seed)
    params = _as_params(raw, "init_params")
    _check_shapes(params, dims, "init_params")
    for name in PARAM_NAMES:
        assert np.asarray(raw[name]).dtype == np.float64, f"init_params[{name!r}] has dtype {np.asarray(raw[name]).dtype}, needs float64"
        assert np.all(np.isfinite(params[name])), f"init_params[{name!r}] contains nan or inf"
    for name, fan_in in (("W1", D), ("W2", H)):
        W = params[name]
        std = float(W.std())
        scale = std * math.sqrt(fan_in)          # 1.0 = LeCun, ~1.41 = He, ~0.8-1.4 = Xavier here
        record_metric(f"{size}_{name}_std_x_sqrt_fan_in", round(scale, 4))
        assert std > 0 and np.unique(W).size > W.size // 2, (
            f"{name} is (nearly) constant: every hidden unit starts identical, gets identical "
            "gradients and stays identical (symmetry is never broken); draw random weights"
        )
        assert 0.5 <= scale <= 2.0, (
            f"{name} ({W.shape[0]}x{W.shape[1]}) has std {std:.4f} = {scale:.2f}/sqrt(fan_in); needs between "
            f"0.5/sqrt(fan_in) and 2/sqrt(fan_in) (He: sqrt(2/fan_in), Xavier: sqrt(2/(fan_in+fan_out)))"
        )
        # the mean of n centred draws has a standard error of std/sqrt(n): allow 4 of those (a false alarm
        # about once in 16,000 draws) and never less than 0.2 std; a one-sided init (uniform(0, a), |N|)
        # has a mean of 1.3-1.7 std and fails at every size used here
        allowed = max(0.2, 4.0 / math.sqrt(W.size)) * std
        assert abs(float(W.mean())) < allowed, (
            f"{name} has mean {W.mean():.4f} (allowed +-{allowed:.4f} for {W.size} weights of std {std:.4f}); "
            "weights should be centred on 0")
        columns = W.T
        assert np.unique(columns, axis=0).shape[0] == columns.shape[0], \
            f"two units of {name} have identical incoming weights: they will never learn different features"
    return params


# -- checks ---------------------------------------------------------------------------------------

@pytest.mark.check(skill="deep-learning", points=1, hint=1, required=True)
def test_init_is_sensible(learner, record_metric, seed):
    """init_params gives small random, non-symmetric float64 weights, reproducible per seed"""
    rng = np.random.default_rng(seed)
    # a small and a large network: a fixed std cannot suit both fan-ins, a fan-in-scaled one does
    for size, (D, H, K) in (("small", (int(rng.integers(8, 17)), int(rng.integers(16, 33)), int(rng.integers(3, 7)))),
                            ("large", (int(rng.integers(300, 501)), int(rng.integers(400, 701)), int(rng.integers(8, 13))))):
        init_seed = int(rng.integers(2**31))
        params = _check_init(learner, record_metric, size, D, H, K, init_seed)
    again = _as_params(learner.init_params((D, H, K), seed=init_seed), "init_params")
    other = _as_params(learner.init_params((D, H, K), seed=init_seed + 1), "init_params")
    assert all(np.array_equal(params[n], again[n]) for n in PARAM_NAMES), \
        "init_params is not reproducible: the same seed gave different parameters"
    assert not np.array_equal(params["W1"], other["W1"]), \
        "init_params ignores its seed: two different seeds gave the same W1"


@pytest.mark.check(skill="deep-learning", points=3, required=True, hint=1)
def test_softmax_and_forward_are_stable(learner, record_metric, seed):
    """softmax and forward are numerically stable for huge logits"""
    rng = np.random.default_rng(seed + 1)
    logits = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0], [-800.0, -801.0, -799.0], [0.0, 0.0, 0.0]])
    logits = np.vstack([logits, rng.normal(0, 1, (4, 3)) * rng.choice([1.0, 50.0, 900.0], size=(4, 1))
                        + rng.uniform(-3000, 3000, (4, 1))])
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        got = np.asarray(learner.softmax(logits.copy()), dtype=np.float64)
    assert got.shape == logits.shape, f"softmax returned shape {got.shape} for logits of shape {logits.shape}"
    finite = bool(np.all(np.isfinite(got)))
    record_metric("softmax_finite", finite)
    assert finite, ("softmax gave nan/inf for logits such as [1000, 1001, 1002] or [-800, -801, -799]: exp "
                    "overflows or every term underflows; subtract each ROW's max first")
    softmax_error = float(np.max(np.abs(got - expected)))
    record_metric("softmax_max_abs_error", softmax_error)
    assert softmax_error < 1e-9, f"softmax differs from the exact result by {softmax_error:.2e}, needs < 1e-9 (row-wise)"

    n, d, hdim, k = int(rng.integers(10, 30)), int(rng.integers(5, 12)), int(rng.integers(8, 20)), int(rng.integers(3, 8))
    X = rng.normal(size=(n, d))
    params = {"W1": rng.normal(size=(d, hdim)), "b1": rng.normal(size=hdim),
              "W2": rng.normal(size=(hdim, k)) * 300.0, "b2": rng.normal(size=k) * 300.0}
    with np.errstate(all="ignore"):
        probs, _ = _forward(learner, params, X)
    assert probs.shape == (n, k), f"forward returned probs of shape {probs.shape}, expected ({n}, {k})"
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


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=1, required=True)
def test_loss_is_mean_cross_entropy(learner, record_metric, seed):
    """loss is the mean cross-entropy and stays finite"""
    rng = np.random.default_rng(seed + 2)
    n, k = int(rng.integers(10, 40)), int(rng.integers(2, 9))
    probs = rng.dirichlet(np.ones(k), size=n)
    y = rng.integers(0, k, size=n)
    expected = float(-np.mean(np.log(probs[np.arange(n), y])))
    got = float(learner.loss(probs, y))
    record_metric("loss_error", abs(got - expected))
    assert abs(got - expected) < 1e-9 * max(1.0, abs(expected)), (
        f"loss returned {got:.6f}, expected the mean of -log(probs[i, y[i]]) = {expected:.6f} over {n} rows"
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
def test_backward_matches_numeric_gradients(learner, record_metric, seed):
    """backward's gradients match central-difference numeric gradients"""
    rng = np.random.default_rng(seed + 3)
    n, d, hdim, k = int(rng.integers(5, 10)), int(rng.integers(3, 7)), int(rng.integers(4, 8)), int(rng.integers(3, 6))
    while True:
        X = rng.normal(size=(n, d))
        params = {"W1": rng.normal(size=(d, hdim)), "b1": rng.normal(size=hdim) * 0.5,
                  "W2": rng.normal(size=(hdim, k)), "b2": rng.normal(size=k) * 0.5}
        z1 = X @ params["W1"] + params["b1"]
        if np.min(np.abs(z1)) > 1e-3 and 0.2 < np.mean(z1 > 0) < 0.8:   # away from ReLU kinks
            break
    y = rng.integers(0, k, size=n)
    y[:min(k, n)] = np.arange(min(k, n))
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


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True)
def test_training_loss_decreases(learner, record_metric, seed):
    """training loss goes down epoch after epoch"""
    X, y = _digits()
    rng = np.random.default_rng(seed + 4)
    subset = rng.choice(len(X), size=600, replace=False)
    X, y = X[subset], y[subset]
    epochs = 6
    params, history = _train(learner, X, y, epochs=epochs, seed=int(rng.integers(2**31)))
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


@pytest.mark.check(skill="deep-learning", points=2, required=True, hint=3)
def test_train_is_momentum_sgd(learner, learner_module, record_metric, seed):
    """train starts from init_params and runs mini-batch SGD with momentum as specified"""
    rng = np.random.default_rng(seed + 5)
    n_classes, d, hidden = int(rng.integers(3, 7)), int(rng.integers(6, 13)), int(rng.integers(8, 24))
    batch = int(rng.choice([8, 16, 20]))
    n = batch * int(rng.integers(5, 10))
    X = rng.normal(size=(n, d))
    y = rng.integers(0, n_classes, size=n)
    y[:n_classes] = np.arange(n_classes)
    train_seed = int(rng.integers(2**31))
    init = _as_params(learner.init_params((d, hidden, n_classes), seed=train_seed), "init_params")
    where = f"{n} rows, {d} features, {n_classes} classes, hidden={hidden}, seed={train_seed}"

    # lr = 0: nothing moves, so the parameters are init_params' and every epoch's mean batch loss is the initial loss
    params, history = _train(learner, X, y, hidden=hidden, epochs=2, lr=0.0, momentum=0.9, batch_size=batch,
                             seed=train_seed)
    _check_shapes(params, {"D": d, "H": hidden, "K": n_classes}, "train")
    moved = _rel_error(params, init)
    assert moved < 1e-12, (f"train(..., lr=0.0) on {where} returned parameters that differ from "
                           f"init_params((D, hidden, y.max() + 1), seed) by {moved:.2e}; start from exactly those")
    initial = _ref_loss(init, X, y)
    assert history.size == 2 and np.allclose(history, initial, rtol=1e-9, atol=0), (
        f"train(..., lr=0.0, epochs=2, batch_size={batch}) on {where} returned history {history.round(6).tolist()}; "
        f"with nothing learned each epoch's mean mini-batch loss is the initial loss {initial:.6f}")

    # one batch per epoch: the trajectory is fixed, so momentum is visible
    epochs, lr, momentum = int(rng.integers(6, 14)), float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.6, 0.9))
    params, history = _train(learner, X, y, hidden=hidden, epochs=epochs, lr=lr, momentum=momentum, batch_size=n,
                             seed=train_seed)
    _no_library(learner_module)
    expected, expected_history = _ref_momentum_full_batch(init, X, y, epochs, lr, momentum)
    plain, _ = _ref_momentum_full_batch(init, X, y, epochs, lr, 0.0)
    error = _rel_error(params, expected)
    record_metric("momentum_trajectory_rel_error", error)
    record_metric("distance_to_plain_sgd", _rel_error(params, plain))
    args = f"train(..., epochs={epochs}, lr={lr:.3f}, momentum={momentum:.3f}, batch_size={n}) on {where}"
    if error > 1e-6 and _rel_error(params, plain) < 1e-6:
        pytest.fail(f"{args} returned the parameters of plain gradient descent: momentum is ignored. Keep a velocity "
                    "per parameter: v = momentum * v - lr * grad; param += v", pytrace=False)
    assert error <= 1e-6, (f"{args} (one batch per epoch) ended {error:.2e} away (relative) from {epochs} steps of "
                           "v = momentum * v - lr * grad; param += v from init_params(..., seed), velocities "
                           "starting at 0 (needs <= 1e-6)")
    assert history.size == epochs and np.allclose(history, expected_history, rtol=1e-6, atol=0), (
        f"{args} returned history {history.round(5).tolist()}; with one batch per epoch entry e is the loss before "
        f"that epoch's step: {expected_history.round(5).tolist()}")


@pytest.mark.check(skill="deep-learning", points=3, required=True, hint=3)
def test_heldout_accuracy(learner, learner_module, record_metric, seed):
    """held-out accuracy on digits is at least 0.95"""
    from sklearn.model_selection import train_test_split

    X, y = _digits()
    rng = np.random.default_rng(seed + 6)
    accuracies = []
    started = time.perf_counter()
    for _ in range(ACCURACY_RUNS):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                            random_state=int(rng.integers(2**31)))
        params, _ = _train(learner, X_train, y_train, seed=int(rng.integers(2**31)))
        _no_library(learner_module)
        predicted = np.asarray(learner.predict(params, X_test)).ravel()
        assert predicted.shape == y_test.shape, f"predict returned {predicted.shape[0]} labels for {y_test.shape[0]} rows"
        assert np.issubdtype(predicted.dtype, np.integer), f"predict returned {predicted.dtype} labels, needs integers"
        accuracies.append(float(np.mean(predicted == y_test)))
    record_metric("train_seconds", round((time.perf_counter() - started) / ACCURACY_RUNS, 3))
    accuracy = float(np.mean(accuracies))
    record_metric("accuracy", round(accuracy, 4))
    record_metric("min_run_accuracy", round(min(accuracies), 4))
    assert accuracy >= ACCURACY_NEEDED, (
        f"mean held-out accuracy over {ACCURACY_RUNS} stratified 75/25 splits of digits is {accuracy:.4f} (per run: "
        f"{', '.join(f'{a:.3f}' for a in accuracies)}), needs >= {ACCURACY_NEEDED} (train with its default "
        "arguments: hidden size, epochs, learning rate, momentum, batch size)"
    )
