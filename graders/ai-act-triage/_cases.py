"""Seeded test data for ai-act-triage: system cards, technical documentation files, model
inventories and penalty cases. Nothing here is shown to the learner; every run draws new ones."""

from __future__ import annotations

import random
from datetime import date, timedelta

from _act import (
    ANNEX_III,
    ANNEX_IV_ITEMS,
    ART5_ATTRIBUTES,
    CONTEXT_FLAGS,
    DEPLOYER_TYPES,
    FUNCTIONS,
    OTHER_ATTRIBUTES,
    PENALTY_TIERS,
    PROTECTED_ATTRIBUTES,
    RBI_EXCEPTIONS,
)

# the functions and situations the README's examples and the starter's try_it.py show
SHOWN_FUNCTIONS = ("recruitment_screening", "emotion_recognition", "customer_chatbot", "spam_filter",
                   "creditworthiness", "remote_biometric_identification")


def _maybe(rng: random.Random, p: float, *flags: str) -> list[str]:
    return [f for f in flags if rng.random() < p]


def make_card(rng: random.Random, function: str, index: int) -> dict:
    """One system card for `function` with the flags that decide its tier drawn near the boundaries,
    plus transparency facts and a few irrelevant flags."""
    flags: list[str] = []
    attributes: list[str] = []
    if function in ("manipulative_techniques", "exploits_vulnerabilities"):
        flags += _maybe(rng, 0.5, "significant_harm")
    elif function == "social_scoring":
        flags += _maybe(rng, 0.5, "detrimental_treatment")
    elif function == "offence_risk_prediction":
        flags += _maybe(rng, 0.5, "solely_profiling") + ["law_enforcement"]
    elif function == "emotion_recognition":
        flags += rng.choice([["workplace"], ["education"], [], ["workplace", "education"]])
        flags += _maybe(rng, 0.4, "medical_or_safety")
    elif function == "biometric_categorisation":
        pools = [ART5_ATTRIBUTES, PROTECTED_ATTRIBUTES, OTHER_ATTRIBUTES]
        chosen = rng.sample(pools, rng.choice([1, 1, 2]))
        attributes = sorted({rng.choice(pool) for pool in chosen})
    elif function == "remote_biometric_identification":
        flags += _maybe(rng, 0.75, "real_time", "publicly_accessible_space", "law_enforcement")
        if rng.random() < 0.35:
            flags.append(rng.choice(RBI_EXCEPTIONS))
    elif function == "product_safety_component":
        flags += _maybe(rng, 0.5, "third_party_conformity_assessment")
    if function in ANNEX_III or function in ("remote_biometric_identification", "biometric_categorisation",
                                             "emotion_recognition", "offence_risk_prediction"):
        flags += _maybe(rng, 0.35, "art6_3_condition", "profiling")
    flags += _maybe(rng, 0.22, "interacts_with_people", "generates_synthetic_content", "deep_fake")
    if rng.random() < 0.25:
        flags += ["public_interest_text"] + _maybe(rng, 0.5, "editorial_responsibility")
    noise = [f for f in CONTEXT_FLAGS if f not in flags]
    flags += _maybe(rng, 0.06, *noise)
    if function == "remote_biometric_identification":
        flags = [f for f in flags if f != "art6_3_condition"]  # keep Art. 6(3) off biometric identification
    rng.shuffle(flags)
    card = {"id": f"sys-{index:04d}", "name": f"{function.replace('_', ' ')} #{index}", "function": function,
            "flags": sorted(set(flags), key=flags.index), "deployer_type": rng.choice(DEPLOYER_TYPES)}
    if attributes:
        card["attributes"] = attributes
    return card


# (function, flags forced on, flags forced off, attribute pool, deployer type): each side of every
# exception, drawn twice per run whatever the random draw above gives
_EU = ("workplace", "education")
_RBI = ("real_time", "publicly_accessible_space", "law_enforcement")
EDGES = [
    ("emotion_recognition", ("workplace", "medical_or_safety"), (), None, None),
    ("emotion_recognition", ("education", "medical_or_safety"), (), None, None),
    ("emotion_recognition", ("education",), ("medical_or_safety",), None, None),
    ("emotion_recognition", ("workplace",), ("medical_or_safety",), None, None),
    ("emotion_recognition", (), _EU, None, None),
    ("remote_biometric_identification", _RBI, RBI_EXCEPTIONS, None, None),
    *(("remote_biometric_identification", (*_RBI, exception), (), None, None) for exception in RBI_EXCEPTIONS),
    ("remote_biometric_identification", _RBI[1:], ("real_time",), None, None),
    ("remote_biometric_identification", _RBI[:2], ("law_enforcement",), None, None),
    ("remote_biometric_identification", ("real_time", "law_enforcement"), ("publicly_accessible_space",), None, None),
    ("biometric_verification", _RBI, (), None, None),
    ("offence_risk_prediction", ("solely_profiling",), (), None, None),
    ("offence_risk_prediction", (), ("solely_profiling",), None, None),
    ("biometric_categorisation", (), (), ART5_ATTRIBUTES, None),
    ("biometric_categorisation", (), (), PROTECTED_ATTRIBUTES, None),
    ("biometric_categorisation", (), (), OTHER_ATTRIBUTES, None),
    ("manipulative_techniques", ("significant_harm",), (), None, None),
    ("manipulative_techniques", (), ("significant_harm",), None, None),
    ("exploits_vulnerabilities", ("significant_harm",), (), None, None),
    ("exploits_vulnerabilities", (), ("significant_harm",), None, None),
    ("social_scoring", ("detrimental_treatment",), (), None, None),
    ("social_scoring", (), ("detrimental_treatment",), None, None),
    ("face_scraping", (), (), None, None),
    ("product_safety_component", ("third_party_conformity_assessment", "art6_3_condition"), ("profiling",), None, None),
    ("product_safety_component", (), ("third_party_conformity_assessment",), None, None),
    ("recruitment_screening", ("art6_3_condition",), ("profiling",), None, None),
    ("worker_management", ("art6_3_condition", "profiling"), (), None, None),
    ("critical_infrastructure_safety", (), ("art6_3_condition",), None, "public_authority"),
    ("critical_infrastructure_safety", (), ("art6_3_condition",), None, "public_service"),
    ("creditworthiness", (), ("art6_3_condition",), None, "private"),
    ("life_health_insurance_pricing", (), ("art6_3_condition",), None, "private"),
    ("public_benefits_eligibility", (), ("art6_3_condition",), None, "public_authority"),
    ("exam_proctoring", (), ("art6_3_condition",), None, "public_service"),
    ("emergency_call_triage", (), ("art6_3_condition",), None, "private"),
    ("financial_fraud_detection", ("profiling",), (), None, None),
    ("campaign_logistics", (), (), None, None),
    ("election_influence", (), ("art6_3_condition",), None, None),
    ("news_writer", ("public_interest_text", "editorial_responsibility"), ("deep_fake",), None, None),
    ("news_writer", ("public_interest_text",), ("editorial_responsibility", "deep_fake"), None, None),
    ("image_generator", ("generates_synthetic_content", "deep_fake", "editorial_responsibility"), (), None, None),
]


def _edge_card(rng: random.Random, edge: tuple, index: int) -> dict:
    function, on, off, pool, deployer = edge
    card = make_card(rng, function, index)
    flags = [f for f in card["flags"] if f not in off]
    flags += [f for f in on if f not in flags]
    rng.shuffle(flags)
    card["flags"] = flags
    if pool:
        card["attributes"] = sorted(set(rng.sample(pool, rng.choice([1, 2]))))
    if deployer:
        card["deployer_type"] = deployer
    return card


def make_cards(seed: int, per_function: int = 6) -> list[dict]:
    """Every function of the vocabulary `per_function` times with random facts, plus every edge of
    EDGES twice, in a shuffled order."""
    rng = random.Random(seed)
    functions = [f for f in FUNCTIONS for _ in range(per_function)]
    cards = [make_card(rng, function, i) for i, function in enumerate(functions)]
    cards += [_edge_card(rng, edge, len(cards) + i) for i, edge in enumerate(EDGES * 2)]
    rng.shuffle(cards)
    return cards


def make_penalty_cases(seed: int) -> list[tuple[str, float, bool]]:
    rng = random.Random(seed + 11)
    cases = []
    for infringement, (fixed, share) in PENALTY_TIERS.items():
        crossover = fixed / share
        for turnover in (crossover * rng.uniform(0.5, 0.99), crossover * rng.uniform(1.01, 3.0),
                         10 ** rng.uniform(5, 12), 10 ** rng.uniform(5, 12), 0.0):
            for sme in (False, True):
                cases.append((infringement, round(turnover, 2), sme))
    rng.shuffle(cases)
    return cases


_WORDS = ("the model was trained on loan applications from four member states with documented consent "
          "labelling followed a written guideline reviewed by two annotators and measured agreement "
          "accuracy is reported per age band and per region with confidence intervals").split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _unfilled_or_boundary(rng: random.Random):
    kind = rng.randrange(7)
    if kind == 0:
        return ""
    if kind == 1:
        return "   \n "
    if kind == 2:
        return _sentence(rng, rng.randint(1, 4))
    if kind == 3:
        return _sentence(rng, 8) + " " + rng.choice(["TBD", "tbd.", "(TODO)", "ToDo:", "TBA"]) + " " + _sentence(rng, 3)
    if kind == 4:
        return rng.choice([None, ["a", "list", "of", "five", "words"], 42])
    if kind == 5:
        return rng.choice(["TBD", "TODO: describe the architecture and the compute used"])
    return _sentence(rng, 5)  # exactly five words: filled (the boundary)


def make_doc(rng: random.Random) -> dict:
    sections: dict = {}
    for item in ANNEX_IV_ITEMS:
        roll = rng.random()
        if roll < 0.62:
            sections[item] = _sentence(rng, rng.randint(5, 30))
        elif roll < 0.85:
            sections[item] = _unfilled_or_boundary(rng)
        elif roll < 0.93:
            sections[item.replace("(", " (")] = _sentence(rng, 12)   # a filled section under the wrong key
        # else: missing
    sections["10"] = _sentence(rng, 9)
    return {"system": f"doc-{rng.randrange(10**6)}", "product_component": rng.random() < 0.5,
            "predetermined_changes": rng.random() < 0.5, "sections": sections}


def make_docs(seed: int, n: int = 40) -> list[dict]:
    rng = random.Random(seed + 23)
    return [make_doc(rng) for _ in range(n)]


def make_inventory(seed: int, n: int = 80) -> tuple[list[dict], str]:
    rng = random.Random(seed + 37)
    today = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 900))
    models = []
    month_ends = [date(y, m, d) for y in (2022, 2023, 2024, 2025) for m, d in ((1, 31), (2, 28), (8, 31), (3, 31), (5, 31))]
    month_ends += [date(2024, 2, 29), date(2020, 2, 29)]
    for i in range(n):
        deployed = today - timedelta(days=rng.randrange(30, 2400))
        kind = rng.random()
        if kind < 0.12:
            validated = None
        elif kind < 0.35:
            validated = rng.choice(month_ends)
        else:
            validated = deployed + timedelta(days=rng.randrange(-60, 1500))
            validated = min(validated, today)
        changed = None
        if validated is not None and rng.random() < 0.3:
            changed = validated + timedelta(days=rng.randrange(-400, 400))
            changed = min(changed, today)
        model = {"id": f"m-{seed % 1000:03d}-{i:03d}", "name": f"model {i}", "risk_tier": rng.choice([1, 2, 3]),
                 "ai_act_tier": rng.choice(["high-risk", "limited", "minimal", "minimal"]),
                 "deployed": deployed.isoformat(),
                 "last_validated": validated.isoformat() if validated else None,
                 "last_material_change": changed.isoformat() if changed else None}
        models.append(model)
    # due exactly today: not overdue yet
    models[0].update(risk_tier=2, ai_act_tier="minimal", last_material_change=None,
                     last_validated=date(today.year - 2, today.month, min(today.day, 28)).isoformat())
    if today.day > 28:
        models[0]["last_validated"] = None
        models[0]["deployed"] = today.isoformat()
    # changed on the day it was validated: the validation covers the change
    same_day = (today - timedelta(days=rng.randrange(100, 700))).isoformat()
    models[1].update(last_validated=same_day, last_material_change=same_day)
    # changed after the last validation, and by the interval alone not yet due
    models[2].update(risk_tier=3, ai_act_tier="minimal", last_validated=(today - timedelta(days=200)).isoformat(),
                     last_material_change=(today - timedelta(days=rng.randrange(1, 150))).isoformat())
    rng.shuffle(models)
    return models, today.isoformat()
