"""Run the whole audit on the sample population: python try_it.py"""

from __future__ import annotations

import json
import pickle

import numpy as np
from credit_data import baseline_blob, sample

import audit
import behaviour

train, test, names = sample()
blob = baseline_blob(train)
baseline = pickle.loads(blob)
predicted = baseline.predict(test["X"])
print("baseline:", json.dumps(audit.group_metrics(test["y"], predicted, test["group"]), indent=1))
importance = audit.shap_importance(blob, train["X"][:100], test["X"][:500])
print("mean |SHAP|:", dict(zip(names, np.round(importance, 3), strict=True)))
print("proxies:", audit.find_proxies(importance, test["X"][:500], test["group"][:500], names))
fair = audit.FairModel().fit(train["X"], train["y"], train["group"])
mitigated = fair.predict(test["X"], test["group"])
print("mitigated:", json.dumps(audit.group_metrics(test["y"], mitigated, test["group"]), indent=1))
print("card:", json.dumps(audit.model_card(train, test, names, blob), indent=1))


def score(rows):
    rows = np.array(rows, dtype=float)
    rows[:, names.index("postcode_index")] = 0.0   # a model blind to the proxy
    return baseline.predict_proba(rows)[:, 1]


print("behaviour of the baseline with postcode blanked:", behaviour.run_suite(score, names, test["X"][:300]))
