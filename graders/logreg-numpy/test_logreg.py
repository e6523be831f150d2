"""Grader for logreg-numpy: logistic regression from scratch in NumPy.

Every reference value is computed here, from data and seeds the learner never sees (the `seed`
fixture is fresh each run). The learner's code runs in the sandboxed worker (`learner`);
scikit-learn's estimator subpackages and the other model libraries are hidden from it by
lab.toml's `hide_modules`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from workbench.core.wire import Record, fields_of
from workbench.core.worker import LearnerObject, WorkerCrashed

ACCURACY_NEEDED = 0.95
SPLITS = 5
SOURCE_FILE = "logreg.py"
# estimator / model libraries the learner's module must not use
FORBIDDEN_PACKAGES = ("statsmodels", "torch", "tensorflow", "keras", "jax", "xgboost", "lightgbm", "catboost")
# the only parts of scikit-learn the learner's module may import (data, splitting, metrics)
ALLOWED_SKLEARN = ("sklearn.datasets", "sklearn.model_selection", "sklearn.metrics")
ESTIMATOR_MODULES = (
    "sklearn.linear_model", "sklearn.svm", "sklearn.ensemble", "sklearn.neighbors",
    "sklearn.neural_network", "sklearn.tree", "sklearn.naive_bayes", "sklearn.discriminant_analysis",
    "sklearn.gaussian_process", "sklearn.kernel_ridge", "sklearn.calibration",
    "sklearn.semi_supervised", "sklearn.multiclass", "sklearn.multioutput", "sklearn.dummy",
)


# -- reference computations -------------------------------------------------------------------

def ref_sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ref_loss(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray, l2: float) -> float:
    z = X @ w + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * float(w @ w))


def ref_standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = X.std(axis=0)
    return X.mean(axis=0), np.where(std > 0, std, 1.0)


def ref_fit(X: np.ndarray, y: np.ndarray, l2: float, lr: float, epochs: int):
    """The brief's algorithm: standardize with the training statistics, start from w = 0, b = 0,
    take `epochs` full-batch gradient steps of size `lr` on the mean cross-entropy + (l2/2)||w||^2."""
    mean, std = ref_standardizer(X)
    Xs = (X - mean) / std
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        residual = ref_sigmoid(Xs @ w + b) - y
        grad_w = Xs.T @ residual / len(y) + l2 * w
        grad_b = float(np.mean(residual))
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b, mean, std


def numeric_grad(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray, l2: float, h: float = 1e-5):
    grad_w = np.empty_like(w)
    for j in range(w.size):
        step = np.zeros_like(w)
        step[j] = h
        grad_w[j] = (ref_loss(w + step, b, X, y, l2) - ref_loss(w - step, b, X, y, l2)) / (2 * h)
    grad_b = (ref_loss(w, b + h, X, y, l2) - ref_loss(w, b - h, X, y, l2)) / (2 * h)
    return grad_w, grad_b


def _standardized_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rows = rng.choice(len(X), size=n, replace=False)
    return X[rows], y[rows].astype(float)


def _synthetic(rng: np.random.Generator, n: int = 240):
    """A data set unlike breast-cancer: 5-9 raw features on scales from 1e-3 to 1e3 with offsets,
    one constant column, labels from a random logistic model. Returns (X, y, constant_column)."""
    d = int(rng.integers(5, 10))
    scales = 10.0 ** rng.uniform(-3, 3, d)
    offsets = rng.normal(0, 5, d) * scales
    Z = rng.normal(size=(n, d))
    X = Z * scales + offsets
    constant = int(rng.integers(0, d))
    X[:, constant] = float(rng.choice([0.0, 1.0, -3.0, 7.5, 42.0]))  # exact: its std is exactly 0
    true_w = rng.normal(0, 1.5, d)
    true_w[constant] = 0.0
    p = ref_sigmoid(Z @ true_w + rng.normal(0, 0.5))
    y = (rng.uniform(size=n) < p).astype(float)
    y[:2] = [0.0, 1.0]  # both classes present
    return X, y, constant


def _call_loss_and_grad(learner, w, b, X, y, l2):
    out = learner.loss_and_grad(w.copy(), b, X.copy(), y.copy(), l2)
    assert isinstance(out, tuple) and len(out) == 3, (
        f"loss_and_grad must return a tuple (loss, grad_w, grad_b); got {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, tuple) else ""))
    loss, grad_w, grad_b = out
    grad_w = np.asarray(grad_w, dtype=float)
    assert grad_w.shape == w.shape, f"grad_w has shape {grad_w.shape}, needs {w.shape} (one entry per weight)"
    assert np.ndim(grad_b) == 0, f"grad_b must be a scalar, got shape {np.shape(grad_b)}"
    return float(loss), grad_w, float(grad_b)


def _splits(seed: int):
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    for _ in range(SPLITS):
        yield train_test_split(X, y, test_size=0.25, stratify=y, random_state=int(rng.integers(2**31)))


def _model_arrays(model, d: int):
    for attr in ("w", "b", "mean", "std"):
        assert hasattr(model, attr), f"fit must return a Model with attributes w, b, mean, std (missing {attr!r})"
    w = np.asarray(model.w, dtype=float)
    mean = np.asarray(model.mean, dtype=float)
    std = np.asarray(model.std, dtype=float)
    assert w.shape == (d,) and mean.shape == (d,) and std.shape == (d,), (
        f"model.w, model.mean and model.std must each have shape ({d},); got {w.shape}, {mean.shape}, {std.shape}")
    assert np.ndim(model.b) == 0, "model.b must be a scalar"
    return w, float(model.b), mean, std


# -- checks -----------------------------------------------------------------------------------

@pytest.mark.check(skill="ml-fundamentals", points=2, hint=1, required=True)
def test_sigmoid_stable(learner, learner_module, record_metric, seed):
    """sigmoid is numerically stable and correct for |z| up to 1000"""
    rng = np.random.default_rng(seed)
    z = np.concatenate([np.linspace(-1000, 1000, 2001), rng.uniform(-800, 800, 500), rng.normal(0, 5, 500),
                        [-745.5, -709.9, -40.0, -1e-8, 0.0, 1e-8, 40.0, 709.9, 745.5]])
    # the learner's numpy (in the worker) raises on overflow/invalid/divide while sigmoid runs
    worker_numpy = learner_module("numpy")
    previous = worker_numpy.seterr(over="raise", invalid="raise", divide="raise", under="ignore")
    try:
        out = learner.sigmoid(z.copy())
        grid = learner.sigmoid(z[:2000].reshape(40, 50).copy())
    except Exception as exc:
        if not isinstance(exc, WorkerCrashed):  # a crashed worker is replaced by one with numpy's defaults
            worker_numpy.seterr(**previous)
        if isinstance(exc, RuntimeWarning | FloatingPointError):
            pytest.fail(f"sigmoid raised a floating-point warning for large |z| ({exc}); "
                        "never call np.exp on a large positive number, not even in a branch np.where discards")
        raise
    worker_numpy.seterr(**previous)
    out = np.asarray(out, dtype=float)
    assert out.shape == z.shape, f"sigmoid returned shape {out.shape} for an input of shape {z.shape}"
    assert np.shape(grid) == (40, 50), f"sigmoid returned shape {np.shape(grid)} for a (40, 50) input; keep z's shape"
    bad = int(np.sum(~np.isfinite(out)))
    record_metric("non_finite", bad)
    assert bad == 0, f"sigmoid returned {bad} nan/inf values for z in [-1000, 1000]"
    ref = ref_sigmoid(z)
    error = float(np.max(np.abs(out - ref)))
    record_metric("max_abs_error", error)
    worst = int(np.argmax(np.abs(out - ref)))
    assert error <= 1e-12, (f"sigmoid differs from 1/(1+exp(-z)) by up to {error:.2e} (at z={z[worst]:.4g}: "
                            f"{out[worst]:.6g} vs {ref[worst]:.6g}), needs <= 1e-12")
    assert 0.0 <= out.min() and out.max() <= 1.0, "sigmoid must stay within [0, 1]"
    grid_error = float(np.max(np.abs(np.asarray(grid, dtype=float) - ref[:2000].reshape(40, 50))))
    assert grid_error <= 1e-12, f"sigmoid of a 2-D array differs from the exact values by {grid_error:.2e}"


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True)
def test_loss_matches_reference(learner, record_metric, seed):
    """loss_and_grad returns the mean cross-entropy + (l2/2)*||w||^2, finite for huge logits"""
    rng = np.random.default_rng(seed)
    worst = 0.0
    cases = [(0.0, 0.3), (float(rng.uniform(0.05, 0.5)), 0.3), (1e-2, 0.3), (float(rng.uniform(0, 0.1)), 60.0)]
    for l2, w_scale in cases:
        X, y = _standardized_sample(rng, int(rng.integers(60, 160)))
        w = rng.normal(0.0, w_scale, X.shape[1])
        b = float(rng.normal(0.0, 0.5))
        loss, grad_w, grad_b = _call_loss_and_grad(learner, w, b, X, y, l2)
        ref = ref_loss(w, b, X, y, l2)
        logits = np.abs(X @ w + b).max()
        error = abs(loss - ref) / max(1.0, abs(ref))
        worst = max(worst, error)
        assert np.isfinite(loss), (f"loss is {loss} for logits up to |z| = {logits:.0f} (l2={l2}); the reference is "
                                   f"{ref:.6f}. Use log(1 + e^z) - y*z, computed with np.logaddexp(0, z), not log(1 - p)")
        assert error <= 1e-9, (f"loss is {loss:.10f} but the reference is {ref:.10f} (l2={l2:.4g}, n={len(y)}, "
                               f"logits up to |z| = {logits:.0f}); use the MEAN over samples and add (l2/2)*||w||^2, "
                               "bias not penalized")
        assert np.all(np.isfinite(grad_w)) and np.isfinite(grad_b), (
            f"the gradient has nan/inf for logits up to |z| = {logits:.0f}; compute it from a stable sigmoid")
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=2, required=True)
def test_gradient_matches_numeric(learner, record_metric, seed):
    """analytic gradient matches a central-difference gradient within 1e-6"""
    rng = np.random.default_rng(seed + 1)
    worst = 0.0
    for l2 in (0.0, float(rng.uniform(0.1, 1.0))):
        X, y = _standardized_sample(rng, int(rng.integers(50, 120)))
        w = rng.normal(0.0, 0.3, X.shape[1])
        b = float(rng.normal(0.0, 0.5))
        _, grad_w, grad_b = _call_loss_and_grad(learner, w, b, X, y, l2)
        num_w, num_b = numeric_grad(w, b, X, y, l2)
        error = float(max(np.max(np.abs(grad_w - num_w)), abs(grad_b - num_b)))
        worst = max(worst, error)
        if error > 1e-6:
            record_metric("max_abs_error", error)
            ratio = float(np.median(grad_w / np.where(num_w == 0, 1, num_w)))
            pytest.fail(f"gradient differs from the numeric gradient by {error:.2e} (l2={l2:.3g}; grad_b "
                        f"{grad_b:.6g} vs {num_b:.6g}), needs <= 1e-6; median ratio analytic/numeric = {ratio:.3g} "
                        "(1 is right; -1: sign, n: missing 1/n; check the l2 * w term)", pytrace=False)
    record_metric("max_abs_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=3, required=True)
def test_standardizer(learner, record_metric, seed):
    """fit_standardizer and standardize: training mean and std per column, a constant column gives std 1"""
    rng = np.random.default_rng(seed + 2)
    X, _, constant = _synthetic(rng, int(rng.integers(40, 90)))
    X[:, (constant + 1) % X.shape[1]] = 0.0  # an all-zero column too
    out = learner.fit_standardizer(X.copy())
    assert isinstance(out, tuple | list) and len(out) == 2, "fit_standardizer must return a (mean, std) tuple"
    mean, std = (np.asarray(v, dtype=float) for v in out)
    ref_mean, ref_std = ref_standardizer(X)
    d = X.shape[1]
    assert mean.shape == (d,) and std.shape == (d,), f"mean and std need shape ({d},), got {mean.shape}, {std.shape}"
    mean_error = float(np.max(np.abs(mean - ref_mean) / np.maximum(1.0, np.abs(ref_mean))))
    std_error = float(np.max(np.abs(std - ref_std) / ref_std))
    record_metric("mean_rel_error", mean_error)
    record_metric("std_rel_error", std_error)
    assert mean_error <= 1e-9, f"fit_standardizer's mean differs from the column means by {mean_error:.2e} (relative)"
    zero_cols = [j for j in range(d) if np.ptp(X[:, j]) == 0]
    assert all(std[j] == 1.0 for j in zero_cols), (
        f"constant columns {zero_cols} got std {[float(std[j]) for j in zero_cols]}; a zero std must become 1 "
        "(otherwise standardizing divides by zero)")
    assert std_error <= 1e-9, (f"fit_standardizer's std differs from the columns' standard deviations by "
                               f"{std_error:.2e} (relative); use the population std, X.std(axis=0) (ddof=0)")
    Xs = np.asarray(learner.standardize(X.copy(), ref_mean, ref_std), dtype=float)
    assert Xs.shape == X.shape, f"standardize returned shape {Xs.shape} for X of shape {X.shape}"
    error = float(np.max(np.abs(Xs - (X - ref_mean) / ref_std)))
    record_metric("standardize_max_abs_error", error)
    assert error <= 1e-9, f"standardize differs from (X - mean) / std by {error:.2e}"
    assert np.all(Xs[:, zero_cols] == 0), "a constant column must standardize to 0"


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=3, required=True)
def test_fit_is_gradient_descent(learner, record_metric, seed):
    """fit standardizes, then takes `epochs` full-batch gradient steps of size `lr` on the L2 loss"""
    rng = np.random.default_rng(seed + 3)
    worst = 0.0
    for _ in range(2):
        X, y, constant = _synthetic(rng)
        l2, lr, epochs = float(rng.uniform(0.01, 0.3)), float(rng.uniform(0.1, 0.9)), int(rng.integers(3, 40))
        model = learner.fit(X.copy(), y.copy(), l2=l2, lr=lr, epochs=epochs)
        w, b, mean, std = _model_arrays(model, X.shape[1])
        ref_w, ref_b, ref_mean, ref_std = ref_fit(X, y, l2, lr, epochs)
        args = f"fit(X, y, l2={l2:.3f}, lr={lr:.3f}, epochs={epochs}) on {X.shape[0]}x{X.shape[1]} raw features"
        assert np.all(np.isfinite(w)) and np.isfinite(b), (
            f"{args} returned nan/inf weights; column {constant} is constant (a zero std must become 1)")
        stats = max(float(np.max(np.abs(mean - ref_mean) / np.maximum(1, np.abs(ref_mean)))),
                    float(np.max(np.abs(std - ref_std) / ref_std)))
        assert stats <= 1e-9, (f"{args}: model.mean/model.std differ from the training columns' mean/std by {stats:.2e}; "
                               "store the statistics of the X passed to fit")
        error = float(max(np.max(np.abs(w - ref_w)), abs(b - ref_b)) / max(1.0, float(np.max(np.abs(ref_w)))))
        worst = max(worst, error)
        assert error <= 1e-8, (
            f"{args}: w, b differ from {epochs} gradient-descent steps by {error:.2e} (needs <= 1e-8; first weights "
            f"{np.round(w[:3], 5).tolist()} vs {np.round(ref_w[:3], 5).tolist()}). Standardize with the training "
            "statistics, start from w = 0, b = 0, and each epoch take ONE full-batch step w -= lr * grad_w, "
            "b -= lr * grad_b with the l2, lr and epochs you were given")
    record_metric("max_rel_error", worst)


def _imported_modules(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names if node.module == "sklearn")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names.append(str(node.args[0].value))
    return names


def _forbidden(name: str) -> bool:
    top = name.split(".")[0]
    if top in FORBIDDEN_PACKAGES:
        return True
    if top != "sklearn":
        return False
    return name != "sklearn" and not name.startswith(ALLOWED_SKLEARN)


def _assert_no_library_imports(lab_dir: Path) -> None:
    source = (lab_dir / SOURCE_FILE).read_text("utf-8")
    bad_imports = sorted({name for name in _imported_modules(source) if _forbidden(name)})
    assert not bad_imports, (f"logreg.py imports {', '.join(bad_imports)}; build the model yourself with NumPy "
                             f"(only {', '.join(ALLOWED_SKLEARN)} may be imported from scikit-learn), "
                             "a library model's accuracy does not count")


def _assert_no_library_loaded(learner_module) -> None:
    """Nothing loaded in the learner's worker may come from an estimator library (the sandbox also hides them)."""
    modules = learner_module("sys").modules
    loaded = sorted(m for m in modules if m.startswith(ESTIMATOR_MODULES) or m.split(".")[0] in FORBIDDEN_PACKAGES)
    assert not loaded, (f"an estimator library was loaded while training: {', '.join(loaded[:3])}; "
                        "use your own NumPy code (a library model's accuracy does not count)")


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=3, required=True)
def test_heldout_accuracy(learner, learner_module, lab_dir, record_metric, seed):
    """fit + predict reach >= 0.95 mean accuracy on held-out stratified splits"""
    _assert_no_library_imports(lab_dir)
    accuracies = []
    for X_train, X_test, y_train, y_test in _splits(seed):
        model = learner.fit(X_train.copy(), y_train.copy())
        _assert_no_library_loaded(learner_module)
        labels = np.asarray(learner.predict(model, X_test.copy())).ravel()
        assert labels.shape == y_test.shape, f"predict returned {labels.shape} labels for {len(y_test)} rows"
        accuracies.append(float(np.mean(labels == y_test)))
    mean = float(np.mean(accuracies))
    record_metric("accuracy", round(mean, 4))
    record_metric("min_split_accuracy", round(min(accuracies), 4))
    assert mean >= ACCURACY_NEEDED, (f"mean held-out accuracy over {SPLITS} stratified 75/25 splits is {mean:.3f} "
                                     f"(per split: {', '.join(f'{a:.3f}' for a in accuracies)}), needs >= {ACCURACY_NEEDED}; "
                                     "fit with its default arguments must standardize and train to convergence")


def _is_library_class(builtins, obj: LearnerObject) -> bool:
    """Asks the worker whether the class of a learner object, or one of its bases (such as
    scikit-learn's BaseEstimator), comes from scikit-learn or another model library."""
    for cls in builtins.getattr(builtins.type(obj), "__mro__"):
        if str(builtins.getattr(cls, "__module__", "")).split(".")[0] in ("sklearn", *FORBIDDEN_PACKAGES):
            return True
    return False


def _contains_estimator(builtins, value, depth: int = 0) -> bool:
    """Whether a value from the learner's code is, or holds (3 levels deep), a library estimator."""
    obj = value._ref if isinstance(value, Record) else value  # a record's class is checked too
    if isinstance(obj, LearnerObject) and _is_library_class(builtins, obj):
        return True
    if depth >= 3:
        return False
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, Record):
        children = list(fields_of(value).values())
    elif isinstance(value, list | tuple | set):
        children = list(value)
    elif isinstance(value, LearnerObject):
        try:
            children = list(builtins.vars(value).values())
        except TypeError:  # no __dict__
            children = []
    else:
        children = []
    return any(_contains_estimator(builtins, child, depth + 1) for child in children)


@pytest.mark.check(skill="programming", points=2, hint=3, required=True)
def test_model_is_your_own(learner, learner_module, lab_dir, record_metric, seed):
    """the model is trained by your own NumPy code and predicts from its own w, b, mean, std"""
    _assert_no_library_imports(lab_dir)
    X_train, X_test, y_train, y_test = next(_splits(seed + 4))
    model = learner.fit(X_train.copy(), y_train.copy())
    _assert_no_library_loaded(learner_module)
    assert not _contains_estimator(learner_module("builtins"), model), (
        "fit returned a model that wraps a library estimator; store your own w, b, mean, std")
    w, b, mean, std = _model_arrays(model, X_train.shape[1])
    # the probabilities must come from the model's own parameters and the TRAINING statistics
    ours = ref_sigmoid(((X_test - mean) / std) @ w + b)
    theirs = np.asarray(learner.predict_proba(model, X_test.copy()), dtype=float)
    assert theirs.shape == ours.shape, f"predict_proba returned shape {theirs.shape} for {len(X_test)} rows, needs ({len(X_test)},)"
    gap = float(np.max(np.abs(theirs - ours)))
    record_metric("proba_gap", gap)
    assert gap <= 1e-9, (f"predict_proba differs by {gap:.2e} from sigmoid(standardize(X, model.mean, model.std) @ w + b) "
                         "computed from the returned model; predict from the parameters fit returns (and the "
                         "training statistics stored in it, not the statistics of the X you predict on)")
    one_row = np.asarray(learner.predict_proba(model, X_test[:1].copy()), dtype=float)
    assert one_row.shape == (1,) and abs(float(one_row[0]) - ours[0]) <= 1e-9, (
        f"predict_proba on a single row returned {one_row!r}, expected [{ours[0]:.6f}]: a row is standardized "
        "with the stored training statistics, never with its own")
    accuracy = float(np.mean((ours >= 0.5) == y_test))
    record_metric("accuracy", round(accuracy, 4))
    assert accuracy >= 0.9, (f"a model with your w, b, mean, std scores {accuracy:.3f} held-out accuracy; "
                             "it must actually be trained (needs >= 0.9)")
    for threshold in (0.5, float(np.quantile(ours, 0.3)), float(np.quantile(ours, 0.8))):
        labels = np.asarray(learner.predict(model, X_test.copy(), threshold=threshold)).ravel()
        expected = (ours >= threshold).astype(int)
        wrong = int(np.sum(labels != expected))
        assert set(np.unique(labels).tolist()) <= {0, 1} and wrong == 0, (
            f"predict(model, X, threshold={threshold:.3f}) differs from (predict_proba >= threshold) on {wrong} of "
            f"{len(labels)} rows; return 0/1 labels and use the threshold you are given")
