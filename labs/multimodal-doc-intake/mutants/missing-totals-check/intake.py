"""Scanned invoices to structured data: OCR with RapidOCR, layout-aware field extraction,
schema-constrained extraction of the free-text notes with the embedded model, validation,
a confidence per field, and human review instead of guesses.

The reference solution of the multimodal-doc-intake lab.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
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
NOTES_SYSTEM = ("You copy facts from an invoice note into JSON. Copy words exactly as written in the note. "
                "payment_terms_days: the number of days to pay. contact_name: the person's full name. "
                "delivery_city: the city the goods go to. Use null for anything the note does not mention.")
NOTES_SHOTS = (
    ("Questions to Karl Dahl. Goods shipped to Leeds.",
     {"payment_terms_days": None, "contact_name": "Karl Dahl", "delivery_city": "Leeds"}),
    ("Please pay within 45 days. Your contact is Ana Lopes.",
     {"payment_terms_days": 45, "contact_name": "Ana Lopes", "delivery_city": None}),
    ("Delivered to Oslo.", {"payment_terms_days": None, "contact_name": None, "delivery_city": "Oslo"}),
)
MAX_TOKENS = 60
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")

_DIGIT_FIXES = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"})
_ENGINE: Any = None


# -- normalisation and parsing ---------------------------------------------------------------------

def label_key(text: str) -> str:
    """Text reduced for label matching: lower case, I/l/| read as i, 0 as o, only letters and digits."""
    lowered = text.lower().replace("|", "i").replace("l", "i").replace("0", "o")
    return re.sub(r"[^a-z0-9]", "", lowered)


def parse_id(text: str) -> str | None:
    """An invoice or PO number: 4 to 8 digits once spaces and a leading '#', ':' or '.' are dropped
    and O/o read as 0, I/l/| as 1; None otherwise."""
    compact = re.sub(r"\s", "", text).lstrip("#:.").translate(_DIGIT_FIXES)
    return compact if re.fullmatch(r"\d{4,8}", compact) else None


def parse_amount(text: str) -> dict[str, str] | None:
    """{"amount": "1249.50", "currency": "EUR"} from 'EUR 1,249.50' or '1.249,50 EUR' as OCR reads them."""
    compact = re.sub(r"\s", "", text)
    codes = [c for c in CURRENCIES if c in compact.upper()]
    if len(codes) != 1:
        return None
    code = codes[0]
    at = compact.upper().index(code)
    number = (compact[:at] + compact[at + 3:]).translate(_DIGIT_FIXES)
    match = re.fullmatch(r"(\d{1,3}(?:([.,])\d{3})*|\d+)([.,])(\d{2})", number)
    if not match:
        return None
    whole, thousands, decimal, cents = match.group(1), match.group(2), match.group(3), match.group(4)
    if thousands is not None and thousands == decimal:
        return None
    digits = re.sub(r"[.,]", "", whole)
    return {"amount": f"{int(digits)}.{cents}", "currency": code}


def _month(word: str) -> int | None:
    key = word.lower().replace("0", "o").replace("i", "l").replace("|", "l")
    for number, name in enumerate(MONTHS, start=1):
        name_key = name.replace("i", "l")
        if key == name_key or key == name_key[:3]:
            return number
    return None


def parse_date(text: str) -> str | None:
    """An ISO date from '2026-03-14', '14.03.2026', '14 Mar 2026' or 'March 14, 2026' as OCR reads
    them (spaces dropped or added, O/0 and I/l confused); None if it is not a real date."""
    compact = re.sub(r"\s", "", text)
    digit = r"[0-9OoIl|]"
    year = month = day = None
    if m := re.fullmatch(rf"({digit}{{4}})-({digit}{{2}})-({digit}{{2}})", compact):
        year, month, day = (int(g.translate(_DIGIT_FIXES)) for g in m.groups())
    elif m := re.fullmatch(rf"({digit}{{2}})\.({digit}{{2}})\.({digit}{{4}})", compact):
        day, month, year = (int(g.translate(_DIGIT_FIXES)) for g in m.groups())
    elif m := re.fullmatch(rf"({digit}{{1,2}})([A-Za-z0|]{{3,9}})\.?({digit}{{4}})", compact):
        day, month, year = int(m.group(1).translate(_DIGIT_FIXES)), _month(m.group(2)), int(m.group(3).translate(_DIGIT_FIXES))
    elif m := re.fullmatch(rf"([A-Za-z0|]{{3,9}})\.?({digit}{{1,2}}),({digit}{{4}})", compact):
        month, day, year = _month(m.group(1)), int(m.group(2).translate(_DIGIT_FIXES)), int(m.group(3).translate(_DIGIT_FIXES))
    if month is None or year is None or day is None:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def image_tokens(width: int, height: int) -> int:
    """What sending the image itself would cost, by the lab's tile rule: fit within 2048 x 2048,
    then the shorter side down to 768, then 85 + 170 per 512-pixel tile."""
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = math.floor(w * scale), math.floor(h * scale)
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = math.floor(w * scale), math.floor(h * scale)
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


# -- OCR ---------------------------------------------------------------------------------------------

def _engine() -> Any:
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        _ENGINE = RapidOCR()
    return _ENGINE


def read_document(image: np.ndarray) -> list[dict[str, Any]]:
    """RapidOCR's lines of an RGB image: text, axis-aligned box [x0, y0, x1, y1] and confidence."""
    result, _ = _engine()(np.ascontiguousarray(image[:, :, ::-1]))
    lines = []
    for quad, text, confidence in result or []:
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        lines.append({"text": str(text), "box": [int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))],
                      "confidence": float(confidence)})
    lines.sort(key=lambda line: (line["box"][1], line["box"][0]))
    return lines


# -- layout ------------------------------------------------------------------------------------------

def _label_match(text: str) -> tuple[str, str] | None:
    """(field, label) of the longest label the text starts with."""
    key = label_key(text)
    best = None
    for name, labels in LABELS.items():
        for label in labels:
            label_k = label_key(label)
            if key.startswith(label_k) and (best is None or len(label_k) > len(label_key(best[1]))):
                best = (name, label)
    return best


def _remainder(text: str, label: str) -> str:
    target = label_key(label)
    for i in range(len(text) + 1):
        if label_key(text[:i]) == target:
            return text[i:].lstrip(" :.#-")
    return ""


def _reading_order(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(lines, key=lambda line: (line["box"][1], line["box"][0]))


def _value_line(label_line: dict[str, Any], label: str, others: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The value's text and confidence: the label's own line, the nearest line to the right on the
    same row, or the line just below."""
    rest = _remainder(label_line["text"], label)
    if label_key(rest):
        return rest, label_line["confidence"]
    x0, y0, x1, y1 = label_line["box"]
    right = [o for o in others if y0 <= (o["box"][1] + o["box"][3]) / 2 <= y1 and o["box"][0] >= x1]
    if right:
        best = min(right, key=lambda o: o["box"][0])
        return best["text"], min(label_line["confidence"], best["confidence"])
    height = y1 - y0
    below = [o for o in others if o["box"][1] >= y1 - 5 and o["box"][1] - y1 <= 1.5 * height
             and abs(o["box"][0] - x0) <= 30]
    if below:
        best = min(below, key=lambda o: o["box"][1])
        return best["text"], min(label_line["confidence"], best["confidence"])
    return None


def layout_fields(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every layout field as {"value", "confidence"} from OCR lines (see the brief for the rules)."""
    ordered = _reading_order(lines)
    matches = [(line, _label_match(line["text"])) for line in ordered]
    value_lines = [line for line, match in matches if match is None]
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for line, match in matches:
        if match is not None and match[0] not in found:
            found[match[0]] = (line, match[1])
    out: dict[str, dict[str, Any]] = {}
    amounts: dict[str, dict[str, str]] = {}
    for name in LAYOUT_FIELDS:
        if name == "currency":
            continue
        if name not in found:
            out[name] = {"value": None, "confidence": 1.0 if name in OPTIONAL_FIELDS else 0.0}
            continue
        line, label = found[name]
        value = _value_line(line, label, value_lines)
        parsed: Any = None
        if value is not None:
            text, confidence = value
            if name in ("invoice_number", "po_number"):
                parsed = parse_id(text)
            elif name in ("date", "due_date"):
                parsed = parse_date(text)
            else:
                amount = parse_amount(text)
                if amount is not None:
                    amounts[name] = amount
                    parsed = amount["amount"]
        if parsed is None:
            out[name] = {"value": None, "confidence": 0.0}
        else:
            out[name] = {"value": parsed, "confidence": float(confidence)}
    total = amounts.get("total")
    out["currency"] = ({"value": total["currency"], "confidence": out["total"]["confidence"]} if total
                       else {"value": None, "confidence": 0.0})
    if False:
        consistent = (Decimal(amounts["subtotal"]["amount"]) + Decimal(amounts["tax"]["amount"])
                      == Decimal(amounts["total"]["amount"]))
        same_currency = len({a["currency"] for a in amounts.values()}) == 1
        if not (consistent and same_currency):
            for name in ("subtotal", "tax", "total", "currency"):
                out[name]["confidence"] = 0.0
    return out


# -- the notes, with the model -------------------------------------------------------------------------

def notes_text(lines: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The notes paragraph (the rest of the notes label's line, then every line below it) and the
    lowest confidence among its lines; None without a notes label."""
    ordered = _reading_order(lines)
    for index, line in enumerate(ordered):
        match = _label_match(line["text"])
        if match is not None and match[0] == "notes":
            parts = [_remainder(line["text"], match[1])]
            confidences = [line["confidence"]]
            for other in ordered[index + 1:]:
                if (other["box"][1] + other["box"][3]) / 2 > line["box"][3]:
                    parts.append(other["text"])
                    confidences.append(other["confidence"])
            return " ".join(p for p in parts if p), float(min(confidences))
    return None


def _grounded(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return str(value) in re.findall(r"\d+", text)
    squeezed = re.sub(r"\s", "", str(value)).casefold()
    return bool(squeezed) and squeezed in re.sub(r"\s", "", text).casefold()


def notes_fields(lines: list[dict[str, Any]], chat: Any) -> dict[str, Any]:
    """The notes fields as {"value", "confidence"}, from at most 2 schema-constrained model calls,
    plus the calls' token usage."""
    empty = {name: {"value": None, "confidence": 0.0} for name in NOTES_FIELDS}
    notes = notes_text(lines)
    if notes is None:
        return {"fields": empty, "tokens": 0, "calls": 0}
    text, confidence = notes
    messages = [{"role": "system", "content": NOTES_SYSTEM}]
    for shot_text, shot_json in NOTES_SHOTS:
        messages += [{"role": "user", "content": shot_text}, {"role": "assistant", "content": json.dumps(shot_json)}]
    messages.append({"role": "user", "content": text})
    tokens = calls = 0
    for _attempt in range(2):
        reply = chat(messages, response_format={"type": "json_object", "schema": NOTES_SCHEMA},
                     temperature=0, max_tokens=MAX_TOKENS)
        calls += 1
        usage = reply.get("usage") or {}
        tokens += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
        content = reply.get("content") or ""
        try:
            value = json.loads(content)
            jsonschema.validate(value, NOTES_SCHEMA)
        except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
            error = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.message
            messages = [*messages, {"role": "assistant", "content": content},
                        {"role": "user", "content": f"That was not valid: {error}. Answer with the JSON object only."}]
            continue
        fields = {}
        for name in NOTES_FIELDS:
            candidate = value[name]
            if candidate is None:
                fields[name] = {"value": None, "confidence": confidence}
            elif _grounded(candidate, text):
                fields[name] = {"value": candidate, "confidence": confidence}
            else:
                fields[name] = {"value": candidate, "confidence": 0.0}
        return {"fields": fields, "tokens": tokens, "calls": calls}
    return {"fields": empty, "tokens": tokens, "calls": calls}


# -- the pipeline --------------------------------------------------------------------------------------

def route(fields: dict[str, dict[str, Any]], threshold: float = REVIEW_THRESHOLD) -> dict[str, dict[str, Any]]:
    """Accept a field at or above the threshold; below it, send it to review with no value."""
    out = {}
    for name, field in fields.items():
        review = field["confidence"] < threshold
        out[name] = {"value": None if review else field["value"], "candidate": field["value"],
                     "confidence": field["confidence"], "review": review}
    return out


def process_document(image: np.ndarray, chat: Any) -> dict[str, Any]:
    """One scanned invoice to routed fields, with its OCR lines and its token cost."""
    lines = read_document(image)
    notes = notes_fields(lines, chat)
    fields = {**layout_fields(lines), **notes["fields"]}
    height, width = image.shape[:2]
    return {"lines": lines, "fields": route(fields), "llm_tokens": notes["tokens"], "llm_calls": notes["calls"],
            "image_tokens": image_tokens(width, height)}
