"""Grader for logreg-numpy: logistic regression from scratch in NumPy.

Every reference value is computed here, from data and seeds the learner never sees. The
learner's code runs in the sandboxed worker (`learner`); scikit-learn's estimator subpackages
and the other model libraries are hidden from it by lab.toml's `hide_modules`.
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
SOURCE_FILE = "logreg.py"
SPLIT_SEEDS = (11, 2026, 31337)
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


def numeric_grad(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray, l2: float, h: float = 1e-5):
    grad_w = np.empty_like(w)
    for j in range(w.size):
        step = np.zeros_like(w)
        step[j] = h
        grad_w[j] = (ref_loss(w + step, b, X, y, l2) - ref_loss(w - step, b, X, y, l2)) / (2 * h)
    grad_b = (ref_loss(w, b + h, X, y, l2) - ref_loss(w, b - h, X, y, l2)) / (2 * h)
    return grad_w, grad_b


def _standardized_sample(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rows = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[rows], y[rows].astype(float)


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


def _split(seed: int):
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


# -- checks -----------------------------------------------------------------------------------

@pytest.mark.check(skill="ml-fundamentals", points=2, hint=1)
def test_sigmoid_stable(learner, learner_module, record_metric):
    """sigmoid is numerically stable and correct for |z| up to 1000"""
    z = np.concatenate([np.linspace(-1000, 1000, 2001), [-745.5, -40.0, -1e-8, 0.0, 1e-8, 40.0, 745.5]])
    # the learner's numpy (in the worker) raises on overflow/invalid/divide while sigmoid runs
    worker_numpy = learner_module("numpy")
    previous = worker_numpy.seterr(over="raise", invalid="raise", divide="raise", under="ignore")
    try:
        out = learner.sigmoid(z.copy())
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
    bad = int(np.sum(~np.isfinite(out)))
    record_metric("non_finite", bad)
    assert bad == 0, f"sigmoid returned {bad} nan/inf values for z in [-1000, 1000]"
    ref = ref_sigmoid(z)
    error = float(np.max(np.abs(out - ref)))
    record_metric("max_abs_error", error)
    assert error <= 1e-12, f"sigmoid differs from 1/(1+exp(-z)) by up to {error:.2e}, needs <= 1e-12"
    assert 0.0 <= out.min() and out.max() <= 1.0, "sigmoid must stay within [0, 1]"


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2)
def test_loss_matches_reference(learner, record_metric):
    """loss_and_grad returns the mean cross-entropy + (l2/2)*||w||^2"""
    rng = np.random.default_rng(7103)
    worst = 0.0
    for case, l2 in enumerate((0.0, 0.3, 1e-2)):
        X, y = _standardized_sample(100 + case, 120)
        w = rng.normal(0.0, 0.3, X.shape[1])
        b = float(rng.normal(0.0, 0.5))
        loss, _, _ = _call_loss_and_grad(learner, w, b, X, y, l2)
        ref = ref_loss(w, b, X, y, l2)
        error = abs(loss - ref) / max(1.0, abs(ref))
        worst = max(worst, error)
        assert error <= 1e-9, (f"loss is {loss:.10f} but the reference is {ref:.10f} (l2={l2}); "
                               "use the MEAN over samples and add (l2/2)*||w||^2, bias not penalized")
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=2)
def test_gradient_matches_numeric(learner, record_metric):
    """analytic gradient matches a central-difference gradient within 1e-6"""
    rng = np.random.default_rng(4242)
    worst = 0.0
    for case, l2 in enumerate((0.0, 0.5)):
        X, y = _standardized_sample(200 + case, 80)
        w = rng.normal(0.0, 0.3, X.shape[1])
        b = float(rng.normal(0.0, 0.5))
        _, grad_w, grad_b = _call_loss_and_grad(learner, w, b, X, y, l2)
        num_w, num_b = numeric_grad(w, b, X, y, l2)
        error = float(max(np.max(np.abs(grad_w - num_w)), abs(grad_b - num_b)))
        worst = max(worst, error)
        if error > 1e-6:
            record_metric("max_abs_error", error)
            ratio = float(np.median(grad_w / np.where(num_w == 0, 1, num_w)))
            pytest.fail(f"gradient differs from the numeric gradient by {error:.2e} (l2={l2}), needs <= 1e-6; "
                        f"median ratio analytic/numeric = {ratio:.3g} (1 is right; -1: sign, n: missing 1/n)")
    record_metric("max_abs_error", worst)


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


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=3)
def test_heldout_accuracy(learner, learner_module, lab_dir, record_metric):
    """fit + predict reach >= 0.95 mean accuracy on held-out stratified splits"""
    _assert_no_library_imports(lab_dir)
    accuracies = []
    for seed in SPLIT_SEEDS:
        X_train, X_test, y_train, y_test = _split(seed)
        model = learner.fit(X_train.copy(), y_train.copy())
        _assert_no_library_loaded(learner_module)
        labels = np.asarray(learner.predict(model, X_test.copy())).ravel()
        assert labels.shape == y_test.shape, f"predict returned {labels.shape} labels for {len(y_test)} rows"
        accuracies.append(float(np.mean(labels == y_test)))
    mean = float(np.mean(accuracies))
    record_metric("accuracy", round(mean, 4))
    record_metric("min_split_accuracy", round(min(accuracies), 4))
    assert mean >= ACCURACY_NEEDED, (f"mean held-out accuracy over {len(SPLIT_SEEDS)} splits is {mean:.3f} "
                                     f"(per split: {', '.join(f'{a:.3f}' for a in accuracies)}), needs >= {ACCURACY_NEEDED}")


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


@pytest.mark.check(skill="programming", points=2, hint=3)
def test_model_is_your_own(learner, learner_module, lab_dir, record_metric):
    """the model is trained by your own NumPy code (no library estimator)"""
    _assert_no_library_imports(lab_dir)
    X_train, X_test, y_train, y_test = _split(SPLIT_SEEDS[0])
    model = learner.fit(X_train.copy(), y_train.copy())
    _assert_no_library_loaded(learner_module)
    assert not _contains_estimator(learner_module("builtins"), model), (
        "fit returned a model that wraps a library estimator; store your own w, b, mean, std")
    for attr in ("w", "b", "mean", "std"):
        assert hasattr(model, attr), f"fit must return a Model with attributes w, b, mean, std (missing {attr!r})"
    w = np.asarray(model.w, dtype=float)
    mean = np.asarray(model.mean, dtype=float)
    std = np.asarray(model.std, dtype=float)
    d = X_train.shape[1]
    assert w.shape == (d,) and mean.shape == (d,) and std.shape == (d,), (
        f"model.w, model.mean and model.std must each have shape ({d},); got {w.shape}, {mean.shape}, {std.shape}")
    assert np.ndim(model.b) == 0, "model.b must be a scalar"
    # the probabilities must come from the model's own parameters
    ours = ref_sigmoid(((X_test - mean) / std) @ w + float(model.b))
    theirs = np.asarray(learner.predict_proba(model, X_test.copy()), dtype=float).ravel()
    assert theirs.shape == ours.shape, f"predict_proba returned {theirs.shape} values for {len(X_test)} rows"
    gap = float(np.max(np.abs(theirs - ours)))
    record_metric("proba_gap", gap)
    assert gap <= 1e-9, (f"predict_proba differs by {gap:.2e} from sigmoid(standardize(X, mean, std) @ w + b) "
                         "computed from the returned model; predict from the parameters fit returns")
    accuracy = float(np.mean((ours >= 0.5) == y_test))
    record_metric("accuracy", round(accuracy, 4))
    assert accuracy >= 0.9, (f"a model with your w, b, mean, std scores {accuracy:.3f} held-out accuracy; "
                             "it must actually be trained (needs >= 0.9)")
