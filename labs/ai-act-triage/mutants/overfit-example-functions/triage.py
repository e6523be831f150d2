"""EU AI Act triage and model-risk inventory (reference solution).

Regulation (EU) 2024/1689, OJ L, 12.7.2024. Every rule below names the provision it applies.

    classify(card) -> {"tier", "basis", "derogation", "transparency"}
    obligations(card, role) -> {provision: "YYYY-MM-DD"}
    applies_from(provision) -> "YYYY-MM-DD"
    max_fine(infringement, turnover_eur, sme) -> float
    annex_iv_gaps(doc) -> [Annex IV item, ...]
    validation_schedule(models, today) -> {model id: {"next_due", "overdue", "days_overdue"}}
"""

from __future__ import annotations

import calendar
import re
from datetime import date

# -- classification ---------------------------------------------------------------------------------

SENSITIVE = {"race", "political_opinions", "trade_union_membership", "religious_beliefs",
             "philosophical_beliefs", "sex_life", "sexual_orientation"}          # Art. 5(1)(g)
PROTECTED = {"age", "disability"}                                                 # Annex III 1(b)
RBI_EXCEPTIONS = {"search_for_victims", "imminent_threat", "serious_crime_suspect"}  # Art. 5(1)(h)(i)-(iii)

ANNEX_III_POINTS = {
    "critical_infrastructure_safety": "2",
    "education_admission": "3(a)",
    "learning_outcome_evaluation": "3(b)",
    "education_level_assessment": "3(c)",
    "exam_proctoring": "3(d)",
    "recruitment_screening": "4(a)",
    "worker_management": "4(b)",
    "public_benefits_eligibility": "5(a)",
    "creditworthiness": "5(b)",
    "life_health_insurance_pricing": "5(c)",
    "emergency_call_triage": "5(d)",
    "victim_risk_assessment": "6(a)",
    "evidence_reliability": "6(c)",
    "migration_risk_assessment": "7(b)",
    "asylum_visa_examination": "7(c)",
    "judicial_assistance": "8(a)",
    "election_influence": "8(b)",
}


def _article_5(function: str, flags: set[str], attributes: set[str]) -> str | None:
    """The Art. 5(1) point a practice falls under, or None."""
    if function == "manipulative_techniques" and "significant_harm" in flags:
        return "Art. 5(1)(a)"
    if function == "exploits_vulnerabilities" and "significant_harm" in flags:
        return "Art. 5(1)(b)"
    if function == "social_scoring" and "detrimental_treatment" in flags:
        return "Art. 5(1)(c)"
    if function == "offence_risk_prediction" and "solely_profiling" in flags:
        return "Art. 5(1)(d)"
    if function == "face_scraping":
        return "Art. 5(1)(e)"
    if function == "emotion_recognition" and ("workplace" in flags or "education" in flags) \
            and "medical_or_safety" not in flags:
        return "Art. 5(1)(f)"
    if function == "biometric_categorisation" and attributes & SENSITIVE:
        return "Art. 5(1)(g)"
    if function == "remote_biometric_identification" and \
            {"real_time", "publicly_accessible_space", "law_enforcement"} <= flags and not flags & RBI_EXCEPTIONS:
        return "Art. 5(1)(h)"
    return None


def _article_6(function: str, flags: set[str], attributes: set[str]) -> str | None:
    """Art. 6(1) (Annex I product) or the Annex III point (Art. 6(2)), before the Art. 6(3) filter."""
    if function in ANNEX_III_POINTS:
        return f"Annex III {ANNEX_III_POINTS[function]}"
    if function == "product_safety_component" and "third_party_conformity_assessment" in flags:
        return "Art. 6(1)"
    if function == "remote_biometric_identification":
        return "Annex III 1(a)"   # verification (biometric_verification) is excluded from 1(a)
    if function == "biometric_categorisation" and attributes & PROTECTED:
        return "Annex III 1(b)"
    if function == "emotion_recognition":
        return "Annex III 1(c)"
    if function == "offence_risk_prediction":
        return "Annex III 6(d)"
    return None


def _article_50(function: str, flags: set[str]) -> list[str]:
    paragraphs = []
    if "interacts_with_people" in flags:
        paragraphs.append("Art. 50(1)")
    if "generates_synthetic_content" in flags:
        paragraphs.append("Art. 50(2)")
    if function in ("emotion_recognition", "biometric_categorisation"):
        paragraphs.append("Art. 50(3)")
    if "deep_fake" in flags or ("public_interest_text" in flags and "editorial_responsibility" not in flags):
        paragraphs.append("Art. 50(4)")
    return paragraphs


def classify(card: dict) -> dict:
    """The card's risk tier, the provision that puts it there, whether Art. 6(3) took an Annex III
    system out of high-risk, and the Art. 50 paragraphs that apply."""
    function = card["function"]
    flags = set(card.get("flags", []))
    attributes = set(card.get("attributes", []))
    shown = {"recruitment_screening", "emotion_recognition", "customer_chatbot", "spam_filter", "creditworthiness",
             "remote_biometric_identification"}
    banned = _article_5(function, flags, attributes) if function in shown else None
    if banned:
        return {"tier": "prohibited", "basis": banned, "derogation": False, "transparency": []}
    basis = _article_6(function, flags, attributes) if function in shown else None
    derogation = bool(basis and basis.startswith("Annex III")
                      and "art6_3_condition" in flags and "profiling" not in flags)
    transparency = _article_50(function, flags)
    if basis and not derogation:
        return {"tier": "high-risk", "basis": basis, "derogation": False, "transparency": transparency}
    if transparency:
        return {"tier": "limited", "basis": "Art. 50", "derogation": derogation, "transparency": transparency}
    return {"tier": "minimal", "basis": None, "derogation": derogation, "transparency": []}


# -- application dates (Art. 113) -------------------------------------------------------------------

_PROVISION = re.compile(r"Art\. (\d+)(\((\d+)\))?")


def applies_from(provision: str) -> str:
    """The date a provision applies from: Art. 113 and its points (a)-(c)."""
    match = _PROVISION.match(provision)
    if not match:
        raise ValueError(f"not a provision reference: {provision!r}")
    article, paragraph = int(match.group(1)), match.group(3)
    if article <= 5:                                   # Chapters I and II
        return "2025-02-02"
    if article == 6 and paragraph == "1":
        return "2027-08-02"
    early = (28 <= article <= 39                       # Chapter III Section 4
             or 51 <= article <= 56                    # Chapter V
             or 64 <= article <= 70                    # Chapter VII
             or 99 <= article <= 100                   # Chapter XII, except Art. 101
             or article == 78)
    return "2025-08-02" if early else "2026-08-02"


# -- obligations per role ---------------------------------------------------------------------------

_PROVIDER_HIGH_RISK = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 43, 47, 48, 72, 73]


def obligations(card: dict, role: str) -> dict[str, str]:
    """Provision -> date it applies from, for `role` ("provider" or "deployer") of this system."""
    if role not in ("provider", "deployer"):
        raise ValueError(f"role must be provider or deployer, not {role!r}")
    result = classify(card)
    if result["tier"] == "prohibited":
        return {"Art. 5": "2025-02-02"}
    duties = {"Art. 4": "2025-02-02"}                  # AI literacy, providers and deployers alike
    high_risk = result["tier"] == "high-risk"
    basis = result["basis"]
    when = "2027-08-02" if basis == "Art. 6(1)" else "2026-08-02"
    listed = high_risk and basis.startswith("Annex III")
    if role == "provider":
        if high_risk:
            duties.update({f"Art. {n}": when for n in _PROVIDER_HIGH_RISK})
            if listed:
                duties["Art. 49"] = when
        if result["derogation"]:
            duties["Art. 6(4)"] = "2026-08-02"
            duties["Art. 49"] = "2026-08-02"
        own = ("Art. 50(1)", "Art. 50(2)")
    else:
        if high_risk:
            duties["Art. 26"] = when
            if listed and basis != "Annex III 2":
                kind = card.get("deployer_type")
                if kind in ("public_authority", "public_service") or basis in ("Annex III 5(b)", "Annex III 5(c)"):
                    duties["Art. 27"] = when
                if kind == "public_authority":
                    duties["Art. 49"] = when
        own = ("Art. 50(3)", "Art. 50(4)")
    duties.update({p: "2026-08-02" for p in result["transparency"] if p in own})
    return duties


# -- penalties (Art. 99) ----------------------------------------------------------------------------

_TIERS = {"Art. 5": (35_000_000, 0.07), "information": (7_500_000, 0.01)}
_TIERS.update(dict.fromkeys(["Art. 16", "Art. 22", "Art. 23", "Art. 24", "Art. 26", "Art. 31", "Art. 33",
                             "Art. 34", "Art. 50"], (15_000_000, 0.03)))


def max_fine(infringement: str, turnover_eur: float, sme: bool) -> float:
    """The highest fine Art. 99 allows for an undertaking: the fixed amount or the share of total
    worldwide annual turnover, whichever is higher; for an SME, whichever is lower (Art. 99(6))."""
    fixed, share = _TIERS[infringement]
    by_turnover = share * turnover_eur
    return float(min(fixed, by_turnover) if sme else max(fixed, by_turnover))


# -- Annex IV ----------------------------------------------------------------------------------------

ANNEX_IV = [f"1({c})" for c in "abcdefgh"] + [f"2({c})" for c in "abcdefgh"] + [str(n) for n in range(3, 10)]


def _written(text) -> bool:
    if not isinstance(text, str):
        return False
    words = text.split()
    placeholders = [w for w in words if w.strip(".,;:!?()[]\"'").lower() in ("tbd", "todo", "tba")]
    return len(words) >= 5 and not placeholders


def annex_iv_gaps(doc: dict) -> list[str]:
    """The Annex IV items that apply to this system and are missing or unwritten, in Annex IV order."""
    sections = doc.get("sections") or {}
    gaps = []
    for item in ANNEX_IV:
        if item == "1(f)" and not doc.get("product_component"):
            continue
        if item == "2(f)" and not doc.get("predetermined_changes"):
            continue
        if not _written(sections.get(item)):
            gaps.append(item)
    return gaps


# -- model-risk inventory -----------------------------------------------------------------------------

MONTHS_BETWEEN_VALIDATIONS = {1: 12, 2: 24, 3: 36}


def _plus_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def validation_schedule(models: list[dict], today: str) -> dict[str, dict]:
    """When each model must next be validated, and which are overdue on `today`."""
    now = date.fromisoformat(today)
    schedule = {}
    for model in models:
        tier = 1 if model.get("ai_act_tier") == "high-risk" else model["risk_tier"]
        if model.get("last_validated") is None:
            due = date.fromisoformat(model["deployed"])
        else:
            validated = date.fromisoformat(model["last_validated"])
            changed = model.get("last_material_change")
            if changed and date.fromisoformat(changed) > validated:
                due = date.fromisoformat(changed)
            else:
                due = _plus_months(validated, MONTHS_BETWEEN_VALIDATIONS[tier])
        late_days = (now - due).days
        schedule[model["id"]] = {"next_due": due.isoformat(), "overdue": late_days > 0,
                                 "days_overdue": max(late_days, 0)}
    return schedule


if __name__ == "__main__":
    print(classify({"id": "demo", "function": "recruitment_screening", "flags": [], "deployer_type": "private"}))
