"""Scanned invoices to structured data: OCR with RapidOCR, layout-aware field extraction,
schema-constrained extraction of the free-text notes with the embedded model, validation,
a confidence per field, and human review instead of guesses.

Fill in every function that raises NotImplementedError; README.md states each rule exactly.
Run `python try_it.py` to see one invoice go through your pipeline.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

REVIEW_THRESHOLD = 0.80
LAYOUT_FIELDS = ("invoice_number", "date", "due_date", "po_number", "subtotal", "tax", "total", "currency")
NOTES_FIELDS = ("payment_terms_days", "contact_name", "delivery_city")
OPTIONAL_FIELDS = ("due_date", "po_number")
LABELS = {
    "invoice_number": ("Invoice No.", "Invoice ID", "Invoice number"),
    "date": ("Date", "Invoice date", "Issued"),
    "due_date": ("Due date", "Payable by"),
    "po_number": ("PO number", "Order ref."),
    "subtotal": ("Subtotal", "Net amount"),
    "tax": ("VAT", "Tax"),
    "total": ("Total due", "Amount due", "Total"),
    "notes": ("Notes", "Remarks"),
}
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
NOTES_SCHEMA = {
    "type": "object",
    "properties": {
        "payment_terms_days": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 365}, {"type": "null"}]},
        "contact_name": {"anyOf": [{"type": "string", "pattern": "^[A-Z][a-z]+ [A-Z][a-z]+$"}, {"type": "null"}]},
        "delivery_city": {"anyOf": [{"type": "string", "pattern": "^[A-Z][a-z]+$"}, {"type": "null"}]},
    },
    "required": ["payment_terms_days", "contact_name", "delivery_city"],
    "additionalProperties": False,
}
NOTES_SYSTEM = "Extract the payment terms in days, the contact person and the delivery city from the note as JSON."
NOTES_SHOTS: tuple = ()  # (note text, JSON object) examples you may add as user/assistant turns
MAX_TOKENS = 60
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")


def label_key(text: str) -> str:
    """Text reduced for label matching: lower case, I/l/| read as i, 0 as o, only letters and digits."""
    lowered = text.lower().replace("|", "i").replace("l", "i").replace("0", "o")
    return re.sub(r"[^a-z0-9]", "", lowered)


def parse_id(text: str) -> str | None:
    """An invoice or PO number: 4 to 8 digits, or None."""
    raise NotImplementedError("parse_id")


def parse_amount(text: str) -> dict[str, str] | None:
    """{"amount": "1249.50", "currency": "EUR"} from 'EUR 1,249.50' or '1.249,50 EUR' as OCR reads them, or None."""
    raise NotImplementedError("parse_amount")


def parse_date(text: str) -> str | None:
    """An ISO date from the four printed formats as OCR reads them, or None if it is not a real date."""
    raise NotImplementedError("parse_date")


def image_tokens(width: int, height: int) -> int:
    """What sending the image itself would cost, by the brief's tile rule."""
    raise NotImplementedError("image_tokens")


def read_document(image: np.ndarray) -> list[dict[str, Any]]:
    """RapidOCR's lines of an RGB image: {"text", "box": [x0, y0, x1, y1], "confidence"}."""
    raise NotImplementedError("read_document")


def layout_fields(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every field of LAYOUT_FIELDS as {"value", "confidence"} from OCR lines."""
    raise NotImplementedError("layout_fields")


def notes_text(lines: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The notes paragraph and the lowest confidence among its lines; None without a notes label."""
    raise NotImplementedError("notes_text")


def notes_fields(lines: list[dict[str, Any]], chat: Any) -> dict[str, Any]:
    """{"fields": {name: {"value", "confidence"}}, "tokens": int, "calls": int} for NOTES_FIELDS."""
    raise NotImplementedError("notes_fields")


def process_document(image: np.ndarray, chat: Any) -> dict[str, Any]:
    """{"lines", "fields": {name: {"value", "candidate", "confidence", "review"}}, "llm_tokens", "llm_calls", "image_tokens"}."""
    raise NotImplementedError("process_document")
