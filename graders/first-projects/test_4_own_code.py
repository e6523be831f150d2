"""first-projects: the three projects are the learner's own NumPy code, not a library's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _projects_data import SOURCE_FILES, forbidden, imported_modules

from workbench.grader_plugin import call_learner


@pytest.mark.check(skill="programming", points=1, hint=3, required=True, competency="Python (advanced)")
def test_your_own_code(learner_module, lab_dir: Path, record_metric, seed):
    """the models are your own code: no scikit-learn, scipy.cluster or other model library imported or loaded"""
    bad = {}
    for name in SOURCE_FILES:
        path = lab_dir / name
        assert path.is_file(), f"{name} is missing from your lab folder"
        found = sorted({m for m in imported_modules(path.read_text("utf-8")) if forbidden(m)})
        if found:
            bad[name] = found
    listing = "; ".join(f"{file} imports {', '.join(modules)}" for file, modules in bad.items())
    assert not bad, (f"{listing}: build the three models "
                     "with NumPy yourself (scikit-learn may appear only under `if __name__ == \"__main__\":`)")
    # exercise all three, then look at what the worker has loaded
    rng = np.random.default_rng(seed + 30)
    X = rng.normal(size=(40, 3))
    ridge = learner_module("ridge")
    call_learner("fit_ridge", ridge.fit_ridge, X, X @ np.ones(3), 1.0)
    clustering = learner_module("clustering")
    call_learner("kmeans", clustering.kmeans, X, 3, seed=1, n_init=2)
    call_learner("adjusted_rand_index", clustering.adjusted_rand_index, [0, 1, 1, 0], [1, 0, 0, 1])
    text = learner_module("text_classifier")
    model = call_learner("fit", text.fit, ["A: b\n\nspace rocket orbit", "A: b\n\ngod belief faith"], [1, 0])
    call_learner("predict", text.predict, model, ["X: y\n\norbit"])
    loaded = sorted(m for m in learner_module("sys").modules if forbidden(m))
    record_metric("library_modules_loaded", len(loaded))
    assert not loaded, f"a model library was loaded while your code ran: {', '.join(loaded[:3])}; use your own NumPy code"
