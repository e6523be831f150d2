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
    rng.shuffle(flags)
    card = {"id": f"sys-{index:04d}", "name": f"{function.replace('_', ' ')} #{index}", "function": function,
            "flags": sorted(set(flags), key=flags.index), "deployer_type": rng.choice(DEPLOYER_TYPES)}
    if attributes:
        card["attributes"] = attributes
    return card


def make_cards(seed: int, per_function: int = 7) -> list[dict]:
    """Every function of the vocabulary, `per_function` times, in a shuffled order."""
    rng = random.Random(seed)
    functions = [f for f in FUNCTIONS for _ in range(per_function)]
    rng.shuffle(functions)
    return [make_card(rng, function, i) for i, function in enumerate(functions)]


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
    rng.shuffle(models)
    return models, today.isoformat()
