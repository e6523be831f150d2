"""EU AI Act triage and model-risk inventory.

Regulation (EU) 2024/1689 (the AI Act), OJ L, 12.7.2024. Read the README for the card vocabulary,
the output formats and the policy; cite the provision each rule applies in a comment.
Keep these names and signatures: the grader calls them with plain data (dicts, lists, str, float).

    classify(card) -> {"tier", "basis", "derogation", "transparency"}
    obligations(card, role) -> {provision: "YYYY-MM-DD"}
    applies_from(provision) -> "YYYY-MM-DD"
    max_fine(infringement, turnover_eur, sme) -> float
    annex_iv_gaps(doc) -> [Annex IV item, ...]
    validation_schedule(models, today) -> {model id: {"next_due", "overdue", "days_overdue"}}

Run `python try_it.py` to compare your answers with the README's examples.
"""

from __future__ import annotations


def classify(card: dict) -> dict:
    """The card's tier ("prohibited", "high-risk", "limited", "minimal"), the provision that puts it
    there ("Art. 5(1)(f)", "Annex III 4(a)", "Art. 6(1)", "Art. 50" or None), whether Art. 6(3) took
    an Annex III system out of high-risk, and the Art. 50 paragraphs that apply."""
    raise NotImplementedError("classify the card against Art. 5, Art. 6 + Annex III and Art. 50")


def obligations(card: dict, role: str) -> dict[str, str]:
    """For role "provider" or "deployer": every provision of the README's catalogue that applies to
    this system, mapped to the date it applies from (Art. 113)."""
    raise NotImplementedError("list the role's obligations for this card")


def applies_from(provision: str) -> str:
    """The date ("YYYY-MM-DD") a provision such as "Art. 12" or "Art. 6(1)" applies from (Art. 113)."""
    raise NotImplementedError("read Art. 113")


def max_fine(infringement: str, turnover_eur: float, sme: bool) -> float:
    """The maximum administrative fine in EUR that Art. 99 allows for an undertaking."""
    raise NotImplementedError("read Art. 99(3)-(6)")


def annex_iv_gaps(doc: dict) -> list[str]:
    """The Annex IV items ("1(a)" ... "2(h)", "3" ... "9") this technical documentation still lacks."""
    raise NotImplementedError("compare the documentation with Annex IV")


def validation_schedule(models: list[dict], today: str) -> dict[str, dict]:
    """model id -> {"next_due": "YYYY-MM-DD", "overdue": bool, "days_overdue": int} under the README's policy."""
    raise NotImplementedError("schedule the validations")
