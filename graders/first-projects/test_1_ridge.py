"""Project 1 of first-projects: ridge regression in closed form, R^2 on a held-out split.

The reference is scikit-learn's own Ridge and r2_score, run here in the grader; the learner's code
runs in the sandboxed worker, where scikit-learn is hidden (lab.toml's hide_modules)."""

from __future__ import annotations

import numpy as np
import pytest
from _projects_data import r2_reference, ridge_reference
from sklearn.datasets import load_diabetes

from workbench.grader_plugin import call_learner

COEF_TOLERANCE = 1e-6
R2_NEEDED = 0.38
HOLDOUT_ALPHA = 0.1
HOLDOUT_SPLITS = 10


def _fit(learner, X, y, alpha):
    model = call_learner("fit_ridge", learner.fit_ridge, X.copy(), y.copy(), alpha)
    for attr in ("coef", "intercept"):
        assert hasattr(model, attr), f"fit_ridge must return a RidgeModel with coef and intercept (missing {attr!r})"
    coef = np.asarray(model.coef, dtype=float)
    assert coef.shape == (X.shape[1],), f"model.coef has shape {coef.shape}, needs ({X.shape[1]},)"
    assert np.ndim(model.intercept) == 0, "model.intercept must be a number"
    return model, coef, float(model.intercept)


def _compare(learner, X, y, alpha, what):
    model, coef, intercept = _fit(learner, X, y, alpha)
    ref_coef, ref_intercept = ridge_reference(X, y, alpha)
    coef_error = float(np.max(np.abs(coef - ref_coef))) / max(1.0, float(np.max(np.abs(ref_coef))))
    intercept_error = abs(intercept - ref_intercept) / max(1.0, abs(ref_intercept))
    error = max(coef_error, intercept_error)
    assert np.all(np.isfinite(coef)) and np.isfinite(intercept), f"{what}: fit_ridge returned nan/inf"
    assert error <= COEF_TOLERANCE, (
        f"{what} (alpha={alpha:.4g}, {X.shape[0]}x{X.shape[1]}): coef/intercept differ from scikit-learn's "
        f"Ridge by {error:.2e} (relative), needs <= {COEF_TOLERANCE:g}. First coefs {np.round(coef[:3], 4).tolist()} vs "
        f"{np.round(ref_coef[:3], 4).tolist()}, intercept {intercept:.4f} vs {ref_intercept:.4f}. Penalize the "
        "weights only: center X and y with their means, solve (Xc'Xc + alpha*I) w = Xc'yc, intercept = "
        "mean(y) - mean(X) @ w")
    predictions = np.asarray(call_learner("predict", learner.predict, model, X[:7].copy()), dtype=float)
    expected = X[:7] @ coef + intercept
    assert predictions.shape == (7,) and np.allclose(predictions, expected, rtol=1e-9, atol=1e-9), (
        f"{what}: predict(model, X) must be X @ model.coef + model.intercept; got {np.round(predictions[:3], 4).tolist()} "
        f"for {np.round(expected[:3], 4).tolist()}")
    return error


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=1, required=True, competency="Supervised/unsupervised learning")
def test_ridge_matches_sklearn_on_diabetes(learner, record_metric, seed):
    """ridge in closed form equals scikit-learn's Ridge within 1e-6 on the diabetes data"""
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    worst = _compare(learner, X, y, 1.0, "the whole diabetes set")
    for alpha in (float(10 ** rng.uniform(-3, 1)), float(10 ** rng.uniform(-1, 2))):
        rows = rng.choice(len(y), size=int(rng.integers(150, 400)), replace=False)
        worst = max(worst, _compare(learner, X[rows], y[rows], alpha, f"{len(rows)} random diabetes rows"))
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=1, required=True, competency="Supervised/unsupervised learning")
def test_ridge_matches_sklearn_on_new_data(learner, record_metric, seed):
    """ridge equals Ridge on data unlike diabetes: offsets, mixed scales, more features than rows"""
    rng = np.random.default_rng(seed + 1)
    worst = 0.0
    for n, d in ((int(rng.integers(60, 200)), int(rng.integers(3, 12))), (int(rng.integers(15, 30)), int(rng.integers(35, 60)))):
        scales = 10.0 ** rng.uniform(-1, 1, d)
        offsets = rng.normal(0, 20, d) * scales
        X = rng.normal(size=(n, d)) * scales + offsets
        y = X @ rng.normal(0, 2, d) + float(rng.normal(300, 100)) + rng.normal(0, 1.0, n)
        alpha = float(10 ** rng.uniform(-1, 1))
        worst = max(worst, _compare(learner, X, y, alpha, f"synthetic data with column offsets ({n} rows, {d} features)"))
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True, competency="Model evaluation")
def test_r2_score(learner, record_metric, seed):
    """r2_score equals 1 - SS_res / SS_tot (scikit-learn's r2_score) on perfect, mean, bad and noisy predictions"""
    rng = np.random.default_rng(seed + 2)
    y = rng.normal(float(rng.normal(0, 50)), float(10 ** rng.uniform(-1, 2)), int(rng.integers(20, 200)))
    cases = {
        "perfect predictions": y.copy(),
        "the mean of y": np.full_like(y, y.mean()),
        "noisy predictions": y + rng.normal(0, y.std() * 0.5, y.size),
        "worse than the mean": y[::-1] * 2.0 + y.std(),
        "a constant far away": np.full_like(y, y.mean() + 5 * y.std()),
    }
    worst = 0.0
    for what, y_pred in cases.items():
        got = float(call_learner("r2_score", learner.r2_score, y.copy(), y_pred.copy()))
        expected = r2_reference(y, y_pred)
        error = abs(got - expected) / max(1.0, abs(expected))
        worst = max(worst, error)
        assert error <= 1e-9, (f"r2_score on {what} is {got:.6f}, expected {expected:.6f} "
                               "(1 - sum((y - y_pred)^2) / sum((y - mean(y))^2); it can be negative)")
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True, competency="Model evaluation")
def test_holdout_r2(learner, record_metric, seed):
    """held-out R^2: fit on the training rows only, mean R^2 >= 0.38 over 10 random 80/20 diabetes splits"""
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed + 3)
    scores = []
    for _ in range(HOLDOUT_SPLITS):
        order = rng.permutation(len(y))
        cut = int(0.8 * len(y))
        train_idx, test_idx = np.sort(order[:cut]), np.sort(order[cut:])
        got = float(call_learner("holdout_r2", learner.holdout_r2, X.copy(), y.copy(), train_idx.tolist(),
                                 test_idx.tolist(), HOLDOUT_ALPHA))
        coef, intercept = ridge_reference(X[train_idx], y[train_idx], HOLDOUT_ALPHA)
        expected = r2_reference(y[test_idx], X[test_idx] @ coef + intercept)
        coef_all, intercept_all = ridge_reference(X, y, HOLDOUT_ALPHA)
        leaked = r2_reference(y[test_idx], X[test_idx] @ coef_all + intercept_all)
        if abs(got - expected) > 1e-6:
            note = (" That is the R^2 of a model fitted on ALL rows, the test rows included: fit on train_idx only."
                    if abs(got - leaked) <= 1e-6 else " Fit ridge on X[train_idx], y[train_idx], score X[test_idx].")
            pytest.fail(f"holdout_r2 returned {got:.6f}, the R^2 of ridge(alpha={HOLDOUT_ALPHA}) fitted on the "
                        f"{len(train_idx)} training rows and scored on the {len(test_idx)} test rows is "
                        f"{expected:.6f}.{note}", pytrace=False)
        scores.append(got)
    mean = float(np.mean(scores))
    record_metric("mean_holdout_r2", round(mean, 4))
    record_metric("min_split_r2", round(min(scores), 4))
    assert mean >= R2_NEEDED, (f"mean held-out R^2 over {HOLDOUT_SPLITS} splits is {mean:.3f}, needs >= {R2_NEEDED} "
                               f"(per split: {', '.join(f'{s:.2f}' for s in scores)})")
