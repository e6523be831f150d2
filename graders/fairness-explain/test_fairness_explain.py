"""Grader for fairness-explain: group metrics against fairlearn, SHAP attributions against shap's
interventional TreeSHAP, a proxy finder, a mitigation held to demographic parity and accuracy, a
model card whose every number is recomputed, and a behavioural suite that must pass sound models
and catch broken ones.

All data are drawn from a fresh seed: new populations, a proxy whose name and column change,
group labels that change. The learner's code runs sandboxed without fairlearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _behaviour_models import BehaviourWorld
from _credit import baseline_model, make_credit, model_blob
from _reference import (
    DISPARITIES,
    RATES,
    fairlearn_metrics,
    metric_cases,
    proxies_reference,
    shap_reference,
)

from workbench.grader_plugin import call_learner

TOLERANCE = 1e-9            # group metrics and card numbers
SHAP_RTOL = 1e-6            # mean |SHAP| against shap's TreeExplainer
SHAP_SEEDS = 20             # populations for the attribution check
SHAP_PENALTY = 1.2          # their label penalty (log-odds); at 0.9 the proxy is 4th in 3% of 2,000-row populations
TOP3_SHARE = 0.95           # the proxy must be in the top 3 on >= 95% of them
MAX_DP = 0.05               # demographic-parity difference of the mitigated model on test
MAX_LOSS_POINTS = 3.0       # accuracy loss against the unmitigated baseline, in points
MITIGATION_FAMILIES = (("30% minority, penalty 0.9 (the brief's family)", dict(minority=0.3, bias=0.9)),
                       ("20% minority, penalty 1.0", dict(minority=0.2, bias=1.0)),
                       ("45% minority, weaker proxy", dict(minority=0.45, bias=0.8, proxy_r=0.7)))


def _close(got, expected, tol=TOLERANCE) -> bool:
    try:
        return math.isclose(float(got), float(expected), rel_tol=tol, abs_tol=tol)
    except (TypeError, ValueError):
        return False


# -- group metrics ----------------------------------------------------------------------------

def _metric_mismatches(audit, family: str, args: dict) -> list[str]:
    got = call_learner("group_metrics", audit.group_metrics, **args)
    expected = fairlearn_metrics(**args)
    if not isinstance(got, dict) or not isinstance(got.get("by_group"), dict):
        return [f"{family}: group_metrics returned {type(got).__name__}, expected a dict with 'by_group'"]
    wrong = []
    if sorted(map(str, got["by_group"])) != sorted(expected["by_group"]):
        return [f"{family}: groups {sorted(map(str, got['by_group']))}, expected {sorted(expected['by_group'])}"]
    for key in DISPARITIES:
        if not _close(got.get(key), expected[key]):
            wrong.append(f"{family}: {key} = {got.get(key)!r}, fairlearn {expected[key]:.12g}")
    for group, rates in expected["by_group"].items():
        mine = got["by_group"].get(group) or got["by_group"].get(int(group) if group.isdigit() else group) or {}
        for rate in RATES:
            if not _close(mine.get(rate), rates[rate]):
                wrong.append(f"{family}: by_group[{group!r}][{rate!r}] = {mine.get(rate)!r}, fairlearn {rates[rate]:.12g}")
    return wrong


@pytest.mark.check(skill="security-governance", points=2, hint=1, required=True)
def test_group_metrics_two_groups(learner, seed, record_metric):
    """Group metrics equal fairlearn's within 1e-9 on two groups"""
    wrong = []
    for family, args in metric_cases(seed, shown_only=True):
        wrong += _metric_mismatches(learner, family, args)
    record_metric("mismatches", len(wrong))
    assert not wrong, (f"{len(wrong)} value(s) differ from fairlearn by more than {TOLERANCE:g}: " + "; ".join(wrong[:4])
                       + ". Rates are weighted shares within each group; differences are max - min over groups, ratios "
                       "min / max; equalized odds takes the worse of the TPR and FPR gaps (README, 'Group metrics')")


@pytest.mark.check(skill="security-governance", points=2, hint=1, required=True)
def test_group_metrics_held_out_families(learner, seed, record_metric):
    """Group metrics equal fairlearn's on more groups, sample weights, integer codes and a group never selected"""
    cases = metric_cases(seed)[1:]
    wrong = []
    for family, args in cases:
        wrong += _metric_mismatches(learner, family, args)
    record_metric("mismatches", len(wrong))
    assert not wrong, (f"{len(wrong)} value(s) differ from fairlearn on families the brief does not show "
                       f"({', '.join(f for f, _ in cases)}): " + "; ".join(wrong[:4]))


# -- behavioural tests ------------------------------------------------------------------------

_worlds: dict[int, BehaviourWorld] = {}


def _world(seed: int) -> BehaviourWorld:
    if seed not in _worlds:
        _worlds[seed] = BehaviourWorld(seed)
    return _worlds[seed]


def _suite(learner_module, world: BehaviourWorld, model) -> dict:
    behaviour = learner_module("behaviour")
    result = call_learner("run_suite", behaviour.run_suite, model, list(world.feature_names), world.background)
    assert isinstance(result, dict) and result, f"run_suite returned {result!r}; expected {{property: passed}}"
    assert model.calls <= 200 and model.rows <= 500_000, (
        f"run_suite called the model {model.calls} times with {model.rows} rows; the budget is 200 calls and "
        "500,000 rows per model (batch your probes)")
    return result


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=3, required=True)
def test_behaviour_passes_sound_models(learner_module, seed, record_metric):
    """The behavioural suite passes two sound models of a new population (no false alarms)"""
    world = _world(seed)
    for model in world.good:
        result = _suite(learner_module, world, model)
        failed = [name for name, passed in result.items() if not passed]
        assert not failed, (f"run_suite reports {failed} failing on a sound model ({model.name}: monotone in the "
                            "brief's directions, blind to postcode_index, row by row, probabilities)")
        record_metric(f"calls_{model.name.split()[0]}", model.calls)
    expected = {"valid_output", "batch_invariance", "monotonicity", "proxy_invariance", "minimum_functionality"}
    assert set(result) == expected, f"run_suite returned properties {sorted(result)}; expected {sorted(expected)}"


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=3, required=True)
def test_behaviour_catches_broken_models(learner_module, seed, record_metric):
    """The behavioural suite catches five broken models the grader supplies, one per property (variants drawn per run)"""
    world = _world(seed)
    missed = []
    for model in world.broken:
        result = _suite(learner_module, world, model)
        if result.get(model.caught_by, True):
            missed.append(f"'{model.name}' (expected '{model.caught_by}' to fail; got {result})")
    record_metric("broken_caught", len(world.broken) - len(missed))
    assert not missed, f"run_suite missed {len(missed)} of {len(world.broken)} broken models: " + "; ".join(missed)


# -- attributions -----------------------------------------------------------------------------

_shap_cache: dict[int, list] = {}


def _shap_worlds(seed: int, count: int = SHAP_SEEDS) -> list:
    worlds = _shap_cache.setdefault(seed, [])
    if len(worlds) < count:
        for index in range(len(worlds), count):
            population_seed = int(np.random.default_rng([seed, 41, index]).integers(1 << 30))
            data = make_credit(population_seed, n_train=2000, n_test=300, bias=SHAP_PENALTY)
            blob = model_blob(baseline_model(data.X_train, data.y_train))
            background = data.X_train[:100]
            worlds.append((data, blob, background, shap_reference(blob, background, data.X_test)))
    return worlds[:count]


@pytest.mark.check(skill="ml-fundamentals", points=3, hint=2, required=True)
def test_shap_finds_the_proxy(learner, seed, record_metric):
    """Mean |SHAP| equals interventional TreeSHAP, and ranks the proxy in the top 3 on >= 95% of 20 populations"""
    wrong, ranks = [], []
    for index in range(SHAP_SEEDS):   # built one by one: a failing learner fails before the grader trains 20 models
        data, blob, background, expected = _shap_worlds(seed, index + 1)[index]
        got = np.asarray(call_learner("shap_importance", learner.shap_importance, blob, background, data.X_test),
                         dtype=float).ravel()
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=SHAP_RTOL, atol=1e-12):
            wrong.append(f"{data.describe()}: got {np.round(got, 4).tolist()}, shap {np.round(expected, 4).tolist()}")
            continue
        order = sorted(range(len(got)), key=lambda j: -got[j])
        ranks.append(order.index(data.feature_names.index(data.proxy)) + 1)
    record_metric("populations_wrong", len(wrong))
    assert not wrong, (f"mean |SHAP| differs from shap.TreeExplainer (interventional, the given background, log-odds) "
                       f"on {len(wrong)} of {SHAP_SEEDS} populations (needs rtol {SHAP_RTOL:g}): " + "; ".join(wrong[:2])
                       + ". Without `data=` TreeExplainer uses the tree-path-dependent algorithm (README, 'Attributions')")
    share = float(np.mean(np.asarray(ranks) <= 3))
    record_metric("proxy_top3_share", share)
    record_metric("proxy_median_rank", float(np.median(ranks)))
    assert share >= TOP3_SHARE, f"the proxy is in the top 3 on {share:.0%} of populations; needs >= {TOP3_SHARE:.0%}"


@pytest.mark.check(skill="security-governance", points=2, hint=2, required=True)
def test_find_proxies(learner, seed, record_metric):
    """find_proxies flags exactly the important features tied to the group: decoys, negative correlation, top_k"""
    rng = np.random.default_rng([seed, 51])
    wrong, cases = [], 0
    for data, _blob, _background, importance in _shap_worlds(seed, 6):
        X, groups = data.X_test, data.group_test
        names = list(data.feature_names)
        member = (np.asarray(groups) != sorted(set(groups))[0]).astype(float)
        variants = [("as trained", X, importance, 3, 0.3)]
        decoy = X.copy()   # a column tied to the group that the model barely uses: not a proxy
        quiet = int(np.argmin(importance))
        decoy[:, quiet] = 0.9 * (member - member.mean()) / member.std() + 0.45 * rng.normal(0, 1, len(member))
        variants.append(("decoy tied to the group but unimportant", decoy, importance, 3, 0.3))
        flipped = X.copy()
        proxy = names.index(data.proxy)
        flipped[:, proxy] = -flipped[:, proxy]
        variants.append(("proxy negatively correlated", flipped, importance, 3, 0.3))
        variants.append(("top_k = 2, min_correlation = 0.5", X, importance, 2, 0.5))
        boosted = importance.copy()
        boosted[quiet] = importance.max() * 1.5
        variants.append(("two proxies", decoy, boosted, 4, 0.3))
        for family, features, weights, top_k, min_r in variants:
            cases += 1
            got = call_learner("find_proxies", learner.find_proxies, weights, features, groups, names,
                               top_k=top_k, min_correlation=min_r)
            expected = proxies_reference(weights, features, groups, names, top_k, min_r)
            if list(got or []) != expected:
                wrong.append(f"{data.describe()}, {family}: got {got}, expected {expected}")
    record_metric("cases_wrong", len(wrong))
    assert not wrong, (f"find_proxies is wrong on {len(wrong)} of {cases} cases: " + "; ".join(wrong[:3]) +
                       ". A proxy is among the top_k by importance AND has |r| >= min_correlation with the group "
                       "indicator (README, 'Proxies')")


# -- mitigation -------------------------------------------------------------------------------

_mitigation_cache: dict[int, list] = {}


def _mitigation_runs(learner, seed: int) -> list:
    if seed not in _mitigation_cache:
        runs = []
        for index, (family, options) in enumerate(MITIGATION_FAMILIES):
            data = make_credit(int(np.random.default_rng([seed, 61, index]).integers(1 << 30)), **options)
            fair = call_learner("FairModel()", learner.FairModel)
            call_learner("FairModel.fit", fair.fit, data.X_train, data.y_train, data.group_train)
            predicted = np.asarray(call_learner("FairModel.predict", fair.predict, data.X_test, data.group_test)).ravel()
            baseline = baseline_model(data.X_train, data.y_train)
            runs.append((family, data, baseline, fair, predicted))
        _mitigation_cache[seed] = runs
    return _mitigation_cache[seed]


@pytest.mark.check(skill="security-governance", points=3, hint=3, required=True)
def test_mitigation_parity_and_accuracy(learner, seed, record_metric):
    """The mitigated model reaches DP difference <= 0.05 at <= 3 points of accuracy loss on 3 held-out populations"""
    problems = []
    for index, (family, data, baseline, _fair, predicted) in enumerate(_mitigation_runs(learner, seed)):
        if predicted.shape != data.y_test.shape or not np.isin(predicted, (0, 1)).all():
            problems.append(f"{family}: predict returned shape {predicted.shape} / values outside {{0, 1}}")
            continue
        base_accuracy = float((baseline.predict(data.X_test) == data.y_test).mean())
        accuracy = float((predicted == data.y_test).mean())
        before = fairlearn_metrics(data.y_test, baseline.predict(data.X_test), data.group_test)["demographic_parity_difference"]
        dp = fairlearn_metrics(data.y_test, predicted, data.group_test)["demographic_parity_difference"]
        loss = 100 * (base_accuracy - accuracy)
        record_metric(f"dp_before_{index}", round(before, 4))
        record_metric(f"dp_after_{index}", round(dp, 4))
        record_metric(f"loss_points_{index}", round(loss, 3))
        if dp > MAX_DP or loss > MAX_LOSS_POINTS:
            problems.append(f"{family}: DP difference {dp:.3f} (baseline {before:.3f}, needs <= {MAX_DP}), accuracy "
                            f"{accuracy:.4f} vs baseline {base_accuracy:.4f} = {loss:.2f} points lost (needs <= {MAX_LOSS_POINTS})")
    assert not problems, "mitigation misses its targets on the test split: " + "; ".join(problems)


@pytest.mark.check(skill="security-governance", points=1, hint=3, required=True)
def test_mitigated_model_is_a_model(learner, seed, record_metric):
    """FairModel decides each row on its own (any batch, any group mix) and refits to the same decisions"""
    family, data, _baseline, fair, predicted = _mitigation_runs(learner, seed)[0]
    rng = np.random.default_rng([seed, 71])
    order = rng.permutation(len(data.y_test))[:3000]
    groups = np.asarray(data.group_test)
    chunks, start = [], 0
    pieces = []
    while start < len(order):
        size = int(rng.choice([1, 2, 7, 50, 400]))
        pieces.append(order[start:start + size])
        start += size
    for label in sorted(set(data.group_test)):   # batches holding one group only
        pieces.append(order[groups[order] == label][:300])
    mismatched = 0
    for piece in pieces:
        got = np.asarray(call_learner("FairModel.predict", fair.predict, data.X_test[piece],
                                      [data.group_test[i] for i in piece])).ravel()
        mismatched += int((got != predicted[piece]).sum())
        chunks.append(len(piece))
    record_metric("rows_changed_by_batching", mismatched)
    assert mismatched == 0, (f"{mismatched} decisions changed when the same rows came in other batches (sizes 1 to 400, "
                             "single-group batches): thresholds must be learnt in fit, not from the rows being scored")
    again = call_learner("FairModel()", learner.FairModel)
    call_learner("FairModel.fit", again.fit, data.X_train, data.y_train, data.group_train)
    refit = np.asarray(call_learner("FairModel.predict", again.predict, data.X_test, data.group_test)).ravel()
    changed = int((refit != predicted).sum())
    record_metric("rows_changed_by_refit", changed)
    assert changed == 0, f"a second fit on the same data changed {changed} decisions; fit must be deterministic"


# -- the model card ---------------------------------------------------------------------------

def _leaves(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _expected_card(data, baseline, predicted) -> dict:
    blob = model_blob(baseline)
    base_pred = baseline.predict(data.X_test)
    importance = shap_reference(blob, data.X_train[:100], data.X_test[:500])
    order = sorted(range(len(importance)), key=lambda j: (-importance[j], j))[:3]
    groups = list(data.group_test)
    accuracy = float((base_pred == data.y_test).mean())
    mitigated = float((predicted == data.y_test).mean())
    numbers = {"data.train_rows": len(data.y_train), "data.test_rows": len(data.y_test),
               "data.test_positive_rate": float(data.y_test.mean()),
               "performance.baseline_accuracy": accuracy, "performance.mitigated_accuracy": mitigated,
               "performance.accuracy_loss_points": 100 * (accuracy - mitigated)}
    for g in sorted(set(groups)):
        numbers[f"data.test_group_share.{g}"] = groups.count(g) / len(groups)
    for name, pred in (("baseline", base_pred), ("mitigated", predicted)):
        metrics = fairlearn_metrics(data.y_test, pred, groups)
        numbers[f"fairness.{name}.demographic_parity_difference"] = metrics["demographic_parity_difference"]
        numbers[f"fairness.{name}.equalized_odds_difference"] = metrics["equalized_odds_difference"]
        for g, rates in metrics["by_group"].items():
            numbers[f"fairness.{name}.selection_rate.{g}"] = rates["selection_rate"]
    for rank, j in enumerate(order):
        numbers[f"explainability.top_features[{rank}].mean_abs_shap"] = float(importance[j])
    texts = {f"explainability.top_features[{rank}].feature": data.feature_names[j] for rank, j in enumerate(order)}
    proxies = proxies_reference(importance, data.X_test[:500], groups[:500], data.feature_names)
    return {"numbers": numbers, "texts": texts, "proxies": proxies, "blob": blob}


@pytest.mark.check(skill="security-governance", points=3, hint=3, required=True)
def test_model_card_numbers(learner, seed, record_metric):
    """Every number in the model card is recomputed by the grader and matches; none is missing or unverifiable"""
    _family, data, baseline, _fair, predicted = _mitigation_runs(learner, seed)[0]
    expected = _expected_card(data, baseline, predicted)
    card = call_learner("model_card", learner.model_card, data.split("train"), data.split("test"),
                        list(data.feature_names), expected["blob"])
    assert isinstance(card, dict), f"model_card returned {type(card).__name__}; expected a dict (README, 'Model card')"
    leaves = dict(_leaves(card))
    problems = []
    for path, value in leaves.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if path not in expected["numbers"]:
            problems.append(f"{path} = {value!r} is a number the grader cannot recompute")
        elif not _close(value, expected["numbers"][path], 1e-7 if "points" in path else TOLERANCE):
            problems.append(f"{path} = {value!r}, recomputed {expected['numbers'][path]!r}")
    for path, value in expected["numbers"].items():
        if path not in leaves:
            problems.append(f"{path} is missing (recomputed: {value!r})")
    for path, value in expected["texts"].items():
        if leaves.get(path) != value:
            problems.append(f"{path} = {leaves.get(path)!r}, expected {value!r}")
    proxies = (card.get("explainability") or {}).get("proxies") if isinstance(card.get("explainability"), dict) else None
    if list(proxies or []) != expected["proxies"]:
        problems.append(f"explainability.proxies = {proxies!r}, expected {expected['proxies']!r}")
    limitations = card.get("limitations")
    if not (isinstance(limitations, list) and limitations and all(isinstance(t, str) and t.strip() for t in limitations)):
        problems.append("limitations must be a non-empty list of sentences")
    record_metric("card_numbers", sum(1 for v in leaves.values() if isinstance(v, int | float) and not isinstance(v, bool)))
    record_metric("card_problems", len(problems))
    assert not problems, f"{len(problems)} problem(s) in the model card: " + "; ".join(problems[:5]) + \
        " (README, 'Model card': test split, the mitigated model as FairModel fits it, SHAP on the first 500 test rows)"
