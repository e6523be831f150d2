"""The grader's documents: seeded invoices rendered with Pillow (fonts, layouts, rotation, noise,
handwritten-style values, smudged values) and their ground truth.

Layout families: "inline" ("Label: value" on one line, the family the brief and the starter
show), "table" (labels in one column, values in a far column on the same row) and "stacked"
(a small label with its value on the line below, in two columns). The notes paragraph closes
every document; its facts are the free-text fields.
"""

from __future__ import annotations

import calendar
import importlib.util
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LAYOUT_FIELDS = ("invoice_number", "date", "due_date", "po_number", "subtotal", "tax", "total", "currency")
NOTES_FIELDS = ("payment_terms_days", "contact_name", "delivery_city")
ALL_FIELDS = LAYOUT_FIELDS + NOTES_FIELDS
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
CITIES = ("Hamburg", "Lisbon", "Utrecht", "Gdansk", "Porto", "Bremen", "Leeds", "Malmo", "Turin", "Ghent")
FIRST = ("Jane", "Omar", "Lena", "Piet", "Maria", "Tomas", "Ines", "Karl", "Nadia", "Hugo")
LAST = ("Roe", "Novak", "Berg", "Silva", "Weber", "Costa", "Moreau", "Dahl", "Keller", "Rossi")
VENDORS = ("Keller Office Supply", "Nordwind Logistics", "Atlas Print Works", "Brightline Labs", "Orchard Foods")
_MONTHS = [calendar.month_abbr[i] for i in range(1, 13)]
_MONTHS_LONG = [calendar.month_name[i] for i in range(1, 13)]


def font_files() -> dict[str, str]:
    """TrueType fonts that ship with matplotlib (DejaVu); empty when it is missing."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return {}
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    names = {"sans": "DejaVuSans.ttf", "serif": "DejaVuSerif.ttf", "mono": "DejaVuSansMono.ttf",
             "bold": "DejaVuSans-Bold.ttf", "hand": "DejaVuSans-Oblique.ttf", "serif-italic": "DejaVuSerif-Italic.ttf"}
    return {k: str(folder / v) for k, v in names.items() if (folder / v).is_file()}


def _font(kind: str, size: int) -> Any:
    files = font_files()
    path = files.get(kind) or files.get("sans")
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


# -- the content ---------------------------------------------------------------------------------

def format_amount(cents: int, currency: str, style: str) -> str:
    whole, frac = divmod(cents, 100)
    if style == "eu":
        grouped = f"{whole:,}".replace(",", ".")
        return f"{grouped},{frac:02d} {currency}"
    return f"{currency} {whole:,}.{frac:02d}"


def format_date(day: date, style: str) -> str:
    if style == "iso":
        return day.isoformat()
    if style == "dots":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if style == "abbr":
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    return f"{_MONTHS_LONG[day.month - 1]} {day.day}, {day.year}"


@dataclass
class Document:
    """One rendered document: the image, its truth and how it was made."""

    image: np.ndarray
    truth: dict[str, Any]
    layout: str
    damaged: list[str] = field(default_factory=list)
    handwritten: list[str] = field(default_factory=list)
    notes: str = ""
    seed: int = 0

    def png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.image).save(buffer, format="PNG")
        return buffer.getvalue()


def make_truth(rng: random.Random) -> tuple[dict[str, Any], dict[str, str], str]:
    """Field values (None where the document leaves the field out), their printed texts, the notes."""
    currency = rng.choice(CURRENCIES)
    amount_style = rng.choice(("en", "eu"))
    date_style = rng.choice(("iso", "dots", "abbr", "long"))
    issued = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
    subtotal = rng.randrange(2_000, 900_000)
    tax = subtotal * rng.choice((7, 19, 20, 21)) // 100
    truth: dict[str, Any] = {
        "invoice_number": str(rng.randrange(10_000, 999_999)),
        "date": issued.isoformat(),
        "due_date": None, "po_number": None,
        "subtotal": f"{subtotal // 100}.{subtotal % 100:02d}",
        "tax": f"{tax // 100}.{tax % 100:02d}",
        "total": f"{(subtotal + tax) // 100}.{(subtotal + tax) % 100:02d}",
        "currency": currency,
    }
    printed = {
        "invoice_number": truth["invoice_number"],
        "date": format_date(issued, date_style),
        "subtotal": format_amount(subtotal, currency, amount_style),
        "tax": format_amount(tax, currency, amount_style),
        "total": format_amount(subtotal + tax, currency, amount_style),
    }
    days = rng.choice((10, 14, 21, 30, 45, 60, 90))
    if rng.random() < 0.5:
        due = issued + timedelta(days=days)
        truth["due_date"] = due.isoformat()
        printed["due_date"] = format_date(due, date_style)
    if rng.random() < 0.5:
        truth["po_number"] = str(rng.randrange(1000, 99_999))
        printed["po_number"] = truth["po_number"]
    sentences = []
    truth["payment_terms_days"] = truth["contact_name"] = truth["delivery_city"] = None
    if rng.random() < 0.6:
        truth["payment_terms_days"] = days
        sentences.append(rng.choice(("Payment within {d} days.", "Please pay within {d} days.",
                                     "Terms: net {d} days.")).format(d=days))
    if rng.random() < 0.6:
        truth["delivery_city"] = rng.choice(CITIES)
        sentences.append(rng.choice(("Delivered to {c}.", "Goods shipped to {c}.", "Delivery: {c} depot."))
                         .format(c=truth["delivery_city"]))
    if rng.random() < 0.6:
        truth["contact_name"] = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        sentences.append(rng.choice(("Contact: {n}.", "Questions to {n}.", "Your contact is {n}."))
                         .format(n=truth["contact_name"]))
    if not sentences:
        sentences.append("Thank you for your business.")
    rng.shuffle(sentences)
    return truth, printed, " ".join(sentences)


# -- drawing -------------------------------------------------------------------------------------

def _draw_text(image: Image.Image, xy: tuple[int, int], text: str, font: Any, ink: tuple[int, int, int],
               hand: bool, rng: random.Random) -> None:
    draw = ImageDraw.Draw(image)
    if not hand:
        draw.text(xy, text, fill=ink, font=font)
        return
    x, y = xy
    for char in text:
        dy = rng.randint(-2, 2)
        draw.text((x, y + dy), char, fill=ink, font=font)
        x += int(draw.textlength(char, font=font)) + rng.randint(-1, 1)


def _smudge(image: Image.Image, box: tuple[int, int, int, int], rng: random.Random) -> None:
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    for _ in range(6):
        cx, cy = rng.randint(x0, x1), rng.randint(y0, y1)
        r = rng.randint(4, 9)
        shade = rng.randint(90, 150)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(shade, shade - 10, shade - 30))


def render(seed: int, layout: str, damage: int = 0, hand_share: float = 0.3,
           rotate_max: float = 1.5, noise: float = 10.0) -> Document:
    """Render one invoice of a layout family; `damage` fields get a smudge over their value."""
    rng = random.Random(seed)
    truth, printed, notes = make_truth(rng)
    width, height = 760, 500
    image = Image.new("RGB", (width, height), (250, 250, 246))
    body_kind = rng.choice(("sans", "serif", "mono"))
    size = rng.randint(17, 21)
    font = _font(body_kind, size)
    hand_font = _font("hand", size + 2)
    ink = (rng.randint(10, 50),) * 3
    blue = (30, 40, rng.randint(120, 170))
    draw = ImageDraw.Draw(image)
    draw.text((30, 18), rng.choice(VENDORS), fill=ink, font=_font("bold", size + 7))
    draw.text((width - 200, 24), "INVOICE", fill=ink, font=_font("bold", size + 4))
    order = ["invoice_number", "date", "due_date", "po_number", "subtotal", "tax", "total"]
    present = [f for f in order if f in printed]
    damageable = [f for f in present if f in ("invoice_number", "po_number", "subtotal", "tax", "total", "date", "due_date")]
    damaged = rng.sample(damageable, min(damage, len(damageable)))
    hand = [f for f in present if f not in damaged and rng.random() < hand_share and f in ("invoice_number", "po_number", "date", "due_date")]
    value_boxes: dict[str, tuple[int, int, int, int]] = {}
    line_h = size + 16
    y = 80
    top = y
    label_of = {f: rng.choice(LABELS[f]) for f in present}
    for index, name in enumerate(present):
        label, value = label_of[name], printed[name]
        value_font = hand_font if name in hand else font
        value_ink = blue if name in hand else ink
        if layout == "inline":
            text = f"{label}: "
            draw.text((40, y), text, fill=ink, font=font)
            vx = 40 + int(draw.textlength(text, font=font))
            vy = y
            y += line_h
        elif layout == "table":
            draw.text((40, y), label, fill=ink, font=font)
            vx, vy = 360, y
            y += line_h
        else:  # stacked, two columns
            column, row = index % 2, index // 2
            lx, ly = 40 + column * 360, top + row * (2 * line_h + 4)
            draw.text((lx, ly), label.upper() if rng.random() < 0.5 else label, fill=ink, font=_font(body_kind, size - 3))
            vx, vy = lx, ly + line_h - 4
            y = max(y, vy + line_h + 6)
        _draw_text(image, (vx, vy), value, value_font, value_ink, name in hand, rng)
        value_boxes[name] = (vx, vy, vx + int(draw.textlength(value, font=value_font)), vy + size + 4)
    y += 14
    notes_label = rng.choice(LABELS["notes"])
    words = f"{notes_label}: {notes}".split(" ")
    line, lines = "", []
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > width - 90 and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    for text in lines:
        draw.text((40, y), text, fill=ink, font=font)
        y += line_h
    for name in damaged:
        _smudge(image, value_boxes[name], rng)
    angle = rng.uniform(-rotate_max, rotate_max)
    image = image.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=(250, 250, 246))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(0.6))
    array = np.asarray(image).astype(np.float32)
    noise_rng = np.random.default_rng(seed)
    array += noise_rng.normal(0, noise, array.shape)
    array = np.clip(array, 0, 255).astype(np.uint8)
    return Document(array, truth, layout, damaged, hand, notes, seed)
