"""The grader's reference reading of Regulation (EU) 2024/1689 (the AI Act), OJ L, 12.7.2024.

Every rule cites the provision it comes from. The learner's `triage.py` is compared with these
functions exactly; this file never reaches the learner's folder.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

# -- vocabulary of a system card (the README documents each code) --------------------------------

ART5_ATTRIBUTES = ("race", "political_opinions", "trade_union_membership", "religious_beliefs",
                   "philosophical_beliefs", "sex_life", "sexual_orientation")   # Art. 5(1)(g)
PROTECTED_ATTRIBUTES = ("age", "disability")                                   # Annex III 1(b)
OTHER_ATTRIBUTES = ("hair_colour", "eye_colour")                               # neither
RBI_EXCEPTIONS = ("search_for_victims", "imminent_threat", "serious_crime_suspect")  # Art. 5(1)(h)(i)-(iii)

# function code -> Annex III point (Art. 6(2)) for the functions that are listed without a condition
ANNEX_III = {
    "critical_infrastructure_safety": "Annex III 2",
    "education_admission": "Annex III 3(a)",
    "learning_outcome_evaluation": "Annex III 3(b)",
    "education_level_assessment": "Annex III 3(c)",
    "exam_proctoring": "Annex III 3(d)",
    "recruitment_screening": "Annex III 4(a)",
    "worker_management": "Annex III 4(b)",
    "public_benefits_eligibility": "Annex III 5(a)",
    "creditworthiness": "Annex III 5(b)",
    "life_health_insurance_pricing": "Annex III 5(c)",
    "emergency_call_triage": "Annex III 5(d)",
    "victim_risk_assessment": "Annex III 6(a)",
    "evidence_reliability": "Annex III 6(c)",
    "migration_risk_assessment": "Annex III 7(b)",
    "asylum_visa_examination": "Annex III 7(c)",
    "judicial_assistance": "Annex III 8(a)",
    "election_influence": "Annex III 8(b)",
}

CONDITIONAL = ("manipulative_techniques", "exploits_vulnerabilities", "social_scoring", "offence_risk_prediction",
               "face_scraping", "emotion_recognition", "biometric_categorisation",
               "remote_biometric_identification", "product_safety_component")

NOT_LISTED = ("biometric_verification", "financial_fraud_detection", "campaign_logistics", "spam_filter",
              "inventory_forecasting", "game_ai", "product_recommendation", "customer_chatbot",
              "image_generator", "news_writer")

FUNCTIONS = tuple(ANNEX_III) + CONDITIONAL + NOT_LISTED

CONTEXT_FLAGS = ("significant_harm", "detrimental_treatment", "solely_profiling", "workplace", "education",
                 "medical_or_safety", "real_time", "publicly_accessible_space", "law_enforcement",
                 *RBI_EXCEPTIONS, "third_party_conformity_assessment", "art6_3_condition", "profiling")
TRANSPARENCY_FLAGS = ("interacts_with_people", "generates_synthetic_content", "deep_fake", "public_interest_text",
                      "editorial_responsibility")
DEPLOYER_TYPES = ("private", "public_service", "public_authority")

TIERS = ("prohibited", "high-risk", "limited", "minimal")


# -- classification -----------------------------------------------------------------------------------

def _prohibition(card: dict) -> str | None:
    """The Art. 5(1) point the card's practice falls under, or None."""
    function, flags = card["function"], set(card["flags"])
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
    if (function == "emotion_recognition" and flags & {"workplace", "education"}
            and "medical_or_safety" not in flags):
        return "Art. 5(1)(f)"
    if function == "biometric_categorisation" and set(card.get("attributes", [])) & set(ART5_ATTRIBUTES):
        return "Art. 5(1)(g)"
    if (function == "remote_biometric_identification"
            and {"real_time", "publicly_accessible_space", "law_enforcement"} <= flags
            and not flags & set(RBI_EXCEPTIONS)):
        return "Art. 5(1)(h)"
    return None


def _high_risk_basis(card: dict) -> str | None:
    """Art. 6(1) or the Annex III point (Art. 6(2)) before the Art. 6(3) filter, or None."""
    function, flags = card["function"], set(card["flags"])
    if function in ANNEX_III:
        return ANNEX_III[function]
    if function == "product_safety_component":
        return "Art. 6(1)" if "third_party_conformity_assessment" in flags else None
    if function == "remote_biometric_identification":
        return "Annex III 1(a)"
    if function == "biometric_categorisation":
        return "Annex III 1(b)" if set(card.get("attributes", [])) & set(PROTECTED_ATTRIBUTES) else None
    if function == "emotion_recognition":
        return "Annex III 1(c)"
    if function == "offence_risk_prediction":
        return "Annex III 6(d)"
    return None


def transparency(card: dict) -> list[str]:
    """Art. 50 paragraphs that apply (none for a prohibited practice, which may not be placed on the market)."""
    if _prohibition(card):
        return []
    flags = set(card["flags"])
    paragraphs = []
    if "interacts_with_people" in flags:
        paragraphs.append("Art. 50(1)")
    if "generates_synthetic_content" in flags:
        paragraphs.append("Art. 50(2)")
    if card["function"] in ("emotion_recognition", "biometric_categorisation"):
        paragraphs.append("Art. 50(3)")
    if "deep_fake" in flags or ("public_interest_text" in flags and "editorial_responsibility" not in flags):
        paragraphs.append("Art. 50(4)")
    return paragraphs


def classify(card: dict) -> dict:
    """{"tier", "basis", "derogation", "transparency"} for one system card."""
    prohibited = _prohibition(card)
    if prohibited:
        return {"tier": "prohibited", "basis": prohibited, "derogation": False, "transparency": []}
    flags = set(card["flags"])
    basis = _high_risk_basis(card)
    derogation = bool(basis and basis.startswith("Annex III") and "art6_3_condition" in flags
                      and "profiling" not in flags)  # Art. 6(3), second subparagraph: profiling stays high-risk
    paragraphs = transparency(card)
    if basis and not derogation:
        return {"tier": "high-risk", "basis": basis, "derogation": False, "transparency": paragraphs}
    if paragraphs:
        return {"tier": "limited", "basis": "Art. 50", "derogation": derogation, "transparency": paragraphs}
    return {"tier": "minimal", "basis": None, "derogation": derogation, "transparency": []}


# -- application dates (Art. 113) -----------------------------------------------------------------------

_CHAPTER_III_SECTION_4 = range(28, 40)   # notifying authorities and notified bodies
_CHAPTER_V = range(51, 57)               # general-purpose AI models
_CHAPTER_VII = range(64, 71)             # governance
_CHAPTER_XII = range(99, 102)            # penalties (Art. 101 excepted)
_REF = re.compile(r"^Art\. (\d{1,3})((?:\(\d+\))?)((?:\([a-z]+\))?)$")


def applies_from(provision: str) -> str:
    """The date a provision applies from under Art. 113."""
    match = _REF.match(provision)
    if not match:
        raise ValueError(provision)
    article, paragraph = int(match.group(1)), match.group(2)
    if article <= 5:                                         # Art. 113(a): Chapters I and II
        return "2025-02-02"
    if article == 6 and paragraph == "(1)":                  # Art. 113(c)
        return "2027-08-02"
    if article == 101:                                       # Art. 113(b), the exception
        return "2026-08-02"
    if (article in _CHAPTER_III_SECTION_4 or article in _CHAPTER_V or article in _CHAPTER_VII
            or article in _CHAPTER_XII or article == 78):    # Art. 113(b)
        return "2025-08-02"
    return "2026-08-02"                                      # Art. 113, second paragraph


# -- obligations per role --------------------------------------------------------------------------------

PROVIDER_HIGH_RISK = tuple(f"Art. {n}" for n in (*range(9, 22), 43, 47, 48, 72, 73))


def obligations(card: dict, role: str) -> dict[str, str]:
    """Provision -> the date it applies from, for this role and this system."""
    result = classify(card)
    if result["tier"] == "prohibited":
        return {"Art. 5": "2025-02-02"}
    out = {"Art. 4": "2025-02-02"}
    basis = result["basis"] if result["tier"] == "high-risk" else None
    high_risk_date = "2027-08-02" if basis == "Art. 6(1)" else "2026-08-02"   # Art. 113(c)
    annex_iii = bool(basis and basis.startswith("Annex III"))
    if role == "provider":
        if basis:
            out.update({ref: high_risk_date for ref in PROVIDER_HIGH_RISK})
            if annex_iii:
                out["Art. 49"] = high_risk_date                        # Art. 49(1)/(5): Annex III only
        if result["derogation"]:
            out["Art. 6(4)"] = "2026-08-02"                           # document the assessment
            out["Art. 49"] = "2026-08-02"                             # Art. 49(2)
        for ref in result["transparency"]:
            if ref in ("Art. 50(1)", "Art. 50(2)"):
                out[ref] = "2026-08-02"
    elif role == "deployer":
        deployer = card["deployer_type"]
        if basis:
            out["Art. 26"] = high_risk_date
            if annex_iii and basis != "Annex III 2":
                if deployer in ("public_authority", "public_service") or basis in ("Annex III 5(b)", "Annex III 5(c)"):
                    out["Art. 27"] = high_risk_date                    # Art. 27(1)
                if deployer == "public_authority":
                    out["Art. 49"] = high_risk_date                    # Art. 49(3)
        for ref in result["transparency"]:
            if ref in ("Art. 50(3)", "Art. 50(4)"):
                out[ref] = "2026-08-02"
    else:
        raise ValueError(role)
    return out


# -- penalties (Art. 99(3)-(6)) ------------------------------------------------------------------------

PENALTY_TIERS = {"Art. 5": (35_000_000, 0.07)}
PENALTY_TIERS.update({ref: (15_000_000, 0.03) for ref in ("Art. 16", "Art. 22", "Art. 23", "Art. 24", "Art. 26",
                                                          "Art. 31", "Art. 33", "Art. 34", "Art. 50")})
PENALTY_TIERS["information"] = (7_500_000, 0.01)


def max_fine(infringement: str, turnover_eur: float, sme: bool) -> float:
    """The maximum administrative fine in EUR for an undertaking."""
    fixed, share = PENALTY_TIERS[infringement]
    pair = (float(fixed), share * float(turnover_eur))
    return min(pair) if sme else max(pair)


# -- Annex IV technical documentation --------------------------------------------------------------------

ANNEX_IV_ITEMS = (*(f"1({c})" for c in "abcdefgh"), *(f"2({c})" for c in "abcdefgh"), "3", "4", "5", "6", "7", "8", "9")
PLACEHOLDERS = {"tbd", "todo", "tba"}


def _filled(text) -> bool:
    if not isinstance(text, str):
        return False
    words = text.split()
    return len(words) >= 5 and not any(w.strip(".,;:!?()[]\"'").lower() in PLACEHOLDERS for w in words)


def annex_iv_gaps(doc: dict) -> list[str]:
    """Annex IV items the documentation still lacks, in Annex IV order."""
    sections = doc.get("sections", {})
    gaps = []
    for item in ANNEX_IV_ITEMS:
        if item == "1(f)" and not doc.get("product_component"):
            continue
        if item == "2(f)" and not doc.get("predetermined_changes"):
            continue
        if not _filled(sections.get(item)):
            gaps.append(item)
    return gaps


# -- model-risk inventory --------------------------------------------------------------------------------

INTERVAL_MONTHS = {1: 12, 2: 24, 3: 36}


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def validation_schedule(models: list[dict], today: str) -> dict[str, dict]:
    """id -> {"next_due", "overdue", "days_overdue"} under the lab's validation policy."""
    now = date.fromisoformat(today)
    out = {}
    for model in models:
        tier = 1 if model.get("ai_act_tier") == "high-risk" else int(model["risk_tier"])
        validated = model.get("last_validated")
        changed = model.get("last_material_change")
        if validated is None:
            due = date.fromisoformat(model["deployed"])
        elif changed is not None and date.fromisoformat(changed) > date.fromisoformat(validated):
            due = date.fromisoformat(changed)
        else:
            due = add_months(date.fromisoformat(validated), INTERVAL_MONTHS[tier])
        late = (now - due).days
        out[model["id"]] = {"next_due": due.isoformat(), "overdue": late > 0, "days_overdue": max(0, late)}
    return out
