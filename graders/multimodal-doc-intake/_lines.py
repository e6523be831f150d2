"""Synthetic OCR output for the cheap checks: the lines RapidOCR would give for a seeded invoice in
each layout family, with OCR's habits (spaces dropped, I/l/| and O/0 confused, confidences),
rotation drift, distractor lines, shuffled order, and damage the rules must catch (a value
missing or garbled, a low-confidence line, totals that do not add up, a label lost)."""

from __future__ import annotations

import random
from typing import Any

from _docs import LABELS, make_truth

_LETTER_SWAPS = {"I": "l", "l": "I", "i": "l", "O": "0"}
_DIGIT_SWAPS = {"1": "l", "0": "O"}


def ocr_noise(text: str, rng: random.Random, rate: float = 0.25) -> str:
    """Spaces dropped, and I/l/O/1/0 confused the way PP-OCR confuses them."""
    if rng.random() < rate:
        text = text.replace(" ", "")
    out = []
    for char in text:
        if char in _DIGIT_SWAPS and rng.random() < rate / 2:
            out.append(_DIGIT_SWAPS[char])
        elif char in _LETTER_SWAPS and rng.random() < rate / 2:
            out.append(_LETTER_SWAPS[char])
        else:
            out.append(char)
    return "".join(out)


def _line(text: str, x: int, y: int, width: int, height: int, rng: random.Random, low: bool = False) -> dict[str, Any]:
    confidence = rng.uniform(0.55, 0.79) if low else rng.uniform(0.86, 1.0)
    return {"text": text, "box": [x, y, x + width, y + height], "confidence": round(confidence, 6)}


DAMAGES = ("none", "missing", "garbled", "low", "totals", "lost-label", "currency")


def synthetic_document(seed: int, layout: str, damage: str | None = None) -> dict[str, Any]:
    """OCR lines of one seeded invoice and how they were damaged (`damage`: one of DAMAGES, or drawn)."""
    rng = random.Random(seed)
    truth, printed, notes = make_truth(rng)
    order = ["invoice_number", "date", "due_date", "po_number", "subtotal", "tax", "total"]
    present = [f for f in order if f in printed]
    label_of = {f: rng.choice(LABELS[f]) for f in present}
    drawn = rng.choice(DAMAGES)
    damage = damage or drawn
    target = rng.choice([f for f in present if f not in ("subtotal", "tax", "total")] if damage in ("missing", "garbled")
                        else present)
    if damage == "totals":
        cents = int(printed["subtotal"][-2:]) if printed["subtotal"][-2:].isdigit() else 0
        printed["subtotal"] = printed["subtotal"][:-2] + f"{(cents + rng.randint(1, 9)) % 100:02d}" \
            if printed["subtotal"][-1].isdigit() else printed["subtotal"]
        if not printed["subtotal"][-1].isdigit():  # '... EUR' style: change a digit before the code
            head, code = printed["subtotal"].rsplit(" ", 1)
            head = head[:-1] + str((int(head[-1]) + rng.randint(1, 8)) % 10)
            printed["subtotal"] = f"{head} {code}"
    if damage == "currency":
        other = rng.choice([c for c in ("EUR", "USD", "GBP", "CHF") if c not in printed["tax"]])
        for code in ("EUR", "USD", "GBP", "CHF"):
            printed["tax"] = printed["tax"].replace(code, other) if code in printed["tax"] else printed["tax"]
    drift = rng.uniform(-0.02, 0.02)
    lines = [_line(rng.choice(("Keller Office Supply", "Nordwind Logistics", "Atlas Print Works")), 30, 18, 260, 28, rng),
             _line("INVOICE", 560, 24, 100, 26, rng),
             _line(rng.choice(("Hafenstrasse 12, 20457 Hamburg", "1 Dock Road, Leeds LS1 4AB")), 30, 50, 300, 18, rng)]
    y, height = 80, 22
    for index, name in enumerate(present):
        label, value = label_of[name], printed[name]
        low = damage == "low" and name == target
        if damage == "garbled" and name == target:
            value = value[: max(1, len(value) // 2)] + rng.choice(("?", "~", "")) if rng.random() < 0.5 else "~" + value[2:]
        drop_value = damage == "missing" and name == target
        drop_label = damage == "lost-label" and name == target
        label_text = ocr_noise(label.upper() if rng.random() < 0.3 else label, rng)
        value_text = ocr_noise(value, rng)
        if layout == "inline":
            text = f"{label_text}: {value_text}" if not drop_value else f"{label_text}:"
            x0, y0 = 40, y
            if not drop_label:
                lines.append(_line(text, x0, int(y0 + drift * x0), 12 * len(text), height, rng, low))
            elif not drop_value:
                lines.append(_line(value_text, 200, int(y0 + drift * 200), 12 * len(value_text), height, rng, low))
            y += 36
        elif layout == "table":
            if not drop_label:
                lines.append(_line(label_text, 40, int(y + drift * 40), 12 * len(label_text), height, rng))
            if not drop_value:
                vx = 360 + rng.randint(-4, 4)
                lines.append(_line(value_text, vx, int(y + rng.randint(-3, 3) + drift * vx), 12 * len(value_text), height - 2, rng, low))
            y += 36
        else:
            column, row = index % 2, index // 2
            lx, ly = 40 + column * 360, 80 + row * 74
            label_h = 16
            if not drop_label:
                lines.append(_line(label_text, lx, int(ly + drift * lx), 10 * len(label_text), label_h, rng))
            if not drop_value:
                vx = lx + rng.randint(-3, 3)
                lines.append(_line(value_text, vx, int(ly + label_h + rng.randint(8, 18) + drift * vx), 12 * len(value_text),
                                   height, rng, low))
            y = max(y, ly + 74)
    y += 16
    notes_label = rng.choice(LABELS["notes"])
    words = f"{notes_label}: {notes}".split(" ")
    cut = len(words) if len(words) < 8 else rng.randint(5, len(words) - 1)
    for part in (" ".join(words[:cut]), " ".join(words[cut:])):
        if part:
            lines.append(_line(ocr_noise(part, rng, 0.1) if rng.random() < 0.3 else part, 40, y, 11 * len(part), height, rng))
            y += 36
    rng.shuffle(lines)
    return {"lines": lines, "truth": truth, "damage": damage, "target": target, "layout": layout, "notes": notes}
