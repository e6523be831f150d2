"""Rebuild the frozen assets of the model-cascade lab (run by hand, never by the grader):

    .venv/bin/python graders/model-cascade/_build_assets.py

- graders/model-cascade/data/digit_models.npz: the grader's models (split seed 0)
- labs/model-cascade/starter/data/digit_models.npz: the learner's models (split seed 1)
- labs/model-cascade/starter/data/dev_retrieval.json: a dev corpus (seed 7) with dev-only question templates
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _cascade_data import digits_xy, generate_corpus, load_digit_models  # noqa: E402

STARTER = HERE.parent.parent / "labs" / "model-cascade" / "starter" / "data"


def build_digits(seed: int, out: Path) -> None:
    X, y = digits_xy()
    index = np.arange(len(y))
    train, pool = train_test_split(index, train_size=0.5, random_state=seed, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=0.2, max_iter=1000).fit(X[train], y[train])
        mlps = [MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=300, random_state=100 * seed + k)
                .fit(X[train], y[train]) for k in range(3)]
    arrays = {"lr_w": lr.coef_.T, "lr_b": lr.intercept_, "n_mlps": np.array(len(mlps)), "pool": np.sort(pool)}
    for i, m in enumerate(mlps):
        arrays.update({f"w1_{i}": m.coefs_[0], f"b1_{i}": m.intercepts_[0], f"w2_{i}": m.coefs_[1], f"b2_{i}": m.intercepts_[1]})
    np.savez_compressed(out, **arrays)
    models = load_digit_models(out)
    Xp, yp = X[models.pool], y[models.pool]
    assert np.allclose(models.cheap(Xp), lr.predict_proba(Xp), atol=1e-9)
    assert np.allclose(models.expensive(Xp), np.mean([m.predict_proba(Xp) for m in mlps], axis=0), atol=1e-9)
    cheap, expensive = models.cheap(Xp), models.expensive(Xp)
    print(f"{out}: pool {len(yp)}, logreg {np.mean(cheap.argmax(1) == yp):.4f}, "
          f"ensemble {np.mean(expensive.argmax(1) == yp):.4f}, confidence < 0.6: {np.mean(cheap.max(1) < 0.6):.3f}")


def main() -> None:
    build_digits(0, HERE / "data" / "digit_models.npz")
    build_digits(1, STARTER / "digit_models.npz")
    task = generate_corpus(7, n_entities=40, n_queries=40, held_out=False)
    payload = {"chunks": task.chunks, "queries": [{"query": q, "target": t} for q, t in zip(task.queries, task.targets, strict=True)]}
    (STARTER / "dev_retrieval.json").write_text(json.dumps(payload, indent=1) + "\n", "utf-8")
    print(f"dev retrieval: {len(task.chunks)} chunks, {len(task.queries)} queries")


if __name__ == "__main__":
    main()
