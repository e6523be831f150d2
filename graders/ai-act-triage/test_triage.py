"""Checks for ai-act-triage: EU AI Act triage of system cards, obligations per role, application
dates, Art. 99 fines, an Annex IV gap finder and a model-risk validation schedule.

Every input is drawn from a fresh seed (`_cases`): system cards cover every function of the
README's vocabulary (most never appear in its examples) with the deciding facts drawn on both
sides of each exception. Every answer is compared exactly with the grader's own reading of
Regulation (EU) 2024/1689 (`_act`), which cites the provision behind each rule.
"""

from __future__ import annotations

import math

import pytest
from _act import (
    TIERS,
    annex_iv_gaps,
    applies_from,
    classify,
    max_fine,
    obligations,
    validation_schedule,
)
from _cases import SHOWN_FUNCTIONS, make_cards, make_docs, make_inventory, make_penalty_cases

from workbench.grader_plugin import call_learner

ROLES = ("provider", "deployer")


@pytest.fixture(scope="session")
def cards(seed):
    return make_cards(seed)


def _brief(card: dict) -> str:
    extra = f", attributes={card['attributes']}" if card.get("attributes") else ""
    return f"{card['id']} function={card['function']} flags={card['flags']}{extra}"


def _normal_classification(value) -> dict:
    if not isinstance(value, dict):
        return {"error": f"classify() must return a dict, got {type(value).__name__}"}
    transparency = value.get("transparency")
    return {"tier": value.get("tier"), "basis": value.get("basis"), "derogation": value.get("derogation"),
            "transparency": sorted(transparency) if isinstance(transparency, list) else transparency}


_CLASSIFIED: list = []


@pytest.fixture
def classified(learner, cards):
    """(card, expected, learner's answer) for every card; the learner is called once per card and
    run (inside the check, so that a failing call fails the check with the learner's error)."""
    if not _CLASSIFIED:
        rows = []
        for card in cards:
            got = call_learner("classify()", learner.classify, dict(card))
            rows.append((card, classify(card), _normal_classification(got)))
        _CLASSIFIED.extend(rows)
    return _CLASSIFIED


def _mismatches(rows, keys, where=lambda expected: True, limit=3) -> tuple[int, int, list[str]]:
    selected = [(c, e, g) for c, e, g in rows if where(e)]
    wrong = [(c, e, g) for c, e, g in selected if any(g.get(k) != e[k] for k in keys)]
    lines = [f"{_brief(c)}: expected {({k: e[k] for k in keys})}, got {({k: g.get(k) for k in keys})}"
             for c, e, g in wrong[:limit]]
    return len(selected), len(wrong), lines


# -- 1. prohibited practices ----------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=3, hint=1, required=True)
def test_prohibited_practices_all_caught(classified, record_metric):
    """Every prohibited practice (Art. 5(1)) is classified prohibited with the right point: recall 1.0"""
    total, wrong, lines = _mismatches(classified, ("tier", "basis"), where=lambda e: e["tier"] == "prohibited")
    recall = (total - sum(1 for c, e, g in classified if e["tier"] == "prohibited" and g.get("tier") != "prohibited")) / max(total, 1)
    record_metric("prohibited_cards", total)
    record_metric("prohibited_recall", round(recall, 4))
    assert total >= 20, f"the seeded set has only {total} prohibited cards (grader bug)"
    assert recall == 1.0, (f"prohibited recall = {recall:.3f}, needs 1.0 (a prohibited practice that slips through "
                           "is placed on the market). Missed: " + "; ".join(lines))
    assert wrong == 0, (f"{wrong} of {total} prohibited cards name the wrong Art. 5(1) point, e.g. " + "; ".join(lines))


# -- 2. high-risk, limited, minimal -----------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=3, hint=1, required=True)
def test_high_risk_and_other_tiers_exact(classified, record_metric):
    """Every other card gets the exact tier, basis (Art. 6(1) or the Annex III point) and Art. 6(3) derogation"""
    bad_values = [g for _, _, g in classified if g.get("tier") not in TIERS]
    assert not bad_values, f"tier must be one of {list(TIERS)}, got {bad_values[0]}"
    total, wrong, lines = _mismatches(classified, ("tier", "basis", "derogation"),
                                      where=lambda e: e["tier"] != "prohibited")
    false_prohibited = sum(1 for _, e, g in classified if e["tier"] != "prohibited" and g.get("tier") == "prohibited")
    unseen = [(c, e, g) for c, e, g in classified if c["function"] not in SHOWN_FUNCTIONS and e["tier"] != "prohibited"]
    unseen_right = sum(1 for c, e, g in unseen if all(g.get(k) == e[k] for k in ("tier", "basis", "derogation")))
    record_metric("cards", total)
    record_metric("exact", total - wrong)
    record_metric("unseen_functions_exact", f"{unseen_right}/{len(unseen)}")
    record_metric("false_prohibited", false_prohibited)
    assert wrong == 0, (f"{wrong} of {total} non-prohibited cards have the wrong tier, basis or derogation "
                        f"({false_prohibited} wrongly prohibited; functions not in the README's examples: "
                        f"{unseen_right}/{len(unseen)} exact), e.g. " + "; ".join(lines))


# -- 3. transparency ------------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=1, required=True)
def test_transparency_obligations_exact(classified, record_metric):
    """The Art. 50 paragraphs that apply to each card, exactly (none for a prohibited practice)"""
    total, wrong, lines = _mismatches(classified, ("transparency",))
    record_metric("cards", total)
    record_metric("exact", total - wrong)
    assert wrong == 0, f"{wrong} of {total} cards have the wrong Art. 50 paragraphs, e.g. " + "; ".join(lines)


# -- 4. obligations per role -------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=3, hint=2, required=True)
def test_obligations_per_role(learner, cards, record_metric):
    """Provider and deployer obligations per card, each with the date it applies from (Art. 113)"""
    wrong, lines, total = 0, [], 0
    for card in cards:
        for role in ROLES:
            total += 1
            expected = obligations(card, role)
            got = call_learner("obligations()", learner.obligations, dict(card), role)
            if got != expected:
                wrong += 1
                if len(lines) < 3:
                    got_d = got if isinstance(got, dict) else {}
                    missing = sorted(set(expected) - set(got_d))
                    extra = sorted(set(got_d) - set(expected))
                    dates = sorted(k for k in set(expected) & set(got_d) if expected[k] != got_d[k])
                    lines.append(f"{_brief(card)} deployer_type={card['deployer_type']} as {role}: missing {missing}, "
                                 f"unexpected {extra}, wrong dates for {[(k, got_d[k], expected[k]) for k in dates]}"
                                 if isinstance(got, dict) else f"{_brief(card)} as {role}: got {got!r}, not a dict")
    record_metric("cases", total)
    record_metric("exact", total - wrong)
    assert wrong == 0, f"{wrong} of {total} (card, role) obligation sets differ, e.g. " + "; ".join(lines)


# -- 5. application dates ------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=2, required=True)
def test_application_dates(learner, seed, record_metric):
    """applies_from() for every article of the Act and paragraph references (Art. 113)"""
    import random

    rng = random.Random(seed + 5)
    provisions = [f"Art. {n}" for n in range(1, 114)]
    provisions += ["Art. 6(1)", "Art. 6(2)", "Art. 6(3)", "Art. 5(1)(h)", "Art. 101", "Art. 78", "Art. 50(4)",
                   "Art. 99(3)", "Art. 27(1)", "Art. 53(1)(a)", "Art. 113"]
    provisions += [f"Art. {rng.randint(1, 113)}({rng.randint(1, 6)})" for _ in range(20)]
    rng.shuffle(provisions)
    wrong = []
    for provision in provisions:
        got = call_learner("applies_from()", learner.applies_from, provision)
        if got != applies_from(provision):
            wrong.append(f"{provision}: got {got!r}, expected {applies_from(provision)}")
    record_metric("provisions", len(provisions))
    record_metric("exact", len(provisions) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(provisions)} application dates differ, e.g. " + "; ".join(wrong[:4])


# -- 6. penalties ----------------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=2, required=True)
def test_art99_maximum_fines(learner, seed, record_metric):
    """max_fine(): Art. 99(3)-(5) tiers, whichever is higher, and the lower of the two for SMEs (Art. 99(6))"""
    cases = make_penalty_cases(seed)
    wrong = []
    for infringement, turnover, sme in cases:
        expected = max_fine(infringement, turnover, sme)
        got = call_learner("max_fine()", learner.max_fine, infringement, turnover, sme)
        ok = isinstance(got, int | float) and not isinstance(got, bool) and math.isfinite(got) and abs(got - expected) <= 0.01
        if not ok:
            wrong.append(f"{infringement}, turnover EUR {turnover:,.2f}, sme={sme}: got {got!r}, expected {expected:,.2f}")
    record_metric("cases", len(cases))
    record_metric("exact", len(cases) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(cases)} maximum fines differ, e.g. " + "; ".join(wrong[:3])


# -- 7. Annex IV gaps -------------------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=3, required=True)
def test_annex_iv_gap_finder(learner, seed, record_metric):
    """annex_iv_gaps(): the Annex IV items a technical documentation file lacks, in Annex IV order"""
    docs = make_docs(seed)
    wrong = []
    for doc in docs:
        expected = annex_iv_gaps(doc)
        got = call_learner("annex_iv_gaps()", learner.annex_iv_gaps, doc)
        if got != expected:
            got_set = set(got) if isinstance(got, list) else set()
            wrong.append(f"{doc['system']} (product_component={doc['product_component']}, predetermined_changes="
                         f"{doc['predetermined_changes']}): missed {sorted(set(expected) - got_set)}, "
                         f"flagged filled or inapplicable items {sorted(got_set - set(expected))}"
                         + ("" if got_set != set(expected) else ", right items in the wrong order"))
    record_metric("documents", len(docs))
    record_metric("exact", len(docs) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(docs)} gap lists differ, e.g. " + "; ".join(wrong[:3])


# -- 8. model-risk inventory ------------------------------------------------------------------------------

@pytest.mark.check(skill="domain-specialization", points=3, hint=3, required=True)
def test_model_risk_validation_schedule(learner, seed, record_metric):
    """validation_schedule(): next validation date per model and the overdue ones, under the README's policy"""
    models, today = make_inventory(seed)
    expected = validation_schedule(models, today)
    got = call_learner("validation_schedule()", learner.validation_schedule, [dict(m) for m in models], today)
    assert isinstance(got, dict), f"validation_schedule() must return a dict keyed by model id, got {type(got).__name__}"
    assert set(got) == set(expected), (f"ids differ: missing {sorted(set(expected) - set(got))[:5]}, "
                                       f"unexpected {sorted(set(got) - set(expected))[:5]}")
    by_id = {m["id"]: m for m in models}
    wrong = [f"{mid} {by_id[mid]} (today {today}): got {got[mid]}, expected {expected[mid]}"
             for mid in expected if got[mid] != expected[mid]]
    overdue = sum(1 for v in expected.values() if v["overdue"])
    record_metric("models", len(models))
    record_metric("overdue", overdue)
    record_metric("exact", len(models) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(models)} schedule entries differ, e.g. " + "; ".join(wrong[:2])
