"""Try your intake.py on one rendered invoice: python try_it.py [seed]

Renders an invoice in the "inline" layout ("Label: value" on one line, typed, a little noise;
the grader also uses layouts and damage this script does not show), prints RapidOCR's lines as
your read_document returns them, then your layout fields, and, if the embedded model server is
reachable (set WORKBENCH_LLM_API_BASE=http://127.0.0.1:PORT/v1, see 'workbench backend status'),
the whole process_document with the notes read by the model.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import intake
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _font(size: int):
    spec = importlib.util.find_spec("matplotlib")
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf" if spec and spec.origin else None
    return ImageFont.truetype(str(path), size) if path and path.is_file() else ImageFont.load_default(size=size)


def sample_invoice(seed: int) -> tuple[np.ndarray, dict]:
    """A typed invoice in the inline layout, and what it says."""
    rng = random.Random(seed)
    subtotal = rng.randrange(2_000, 900_000)
    tax = subtotal * 19 // 100
    euro = lambda cents: f"EUR {cents // 100:,}.{cents % 100:02d}"  # noqa: E731
    rows = [("Invoice No.", str(rng.randrange(10_000, 999_999))), ("Date", f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"),
            ("Subtotal", euro(subtotal)), ("VAT", euro(tax)), ("Total due", euro(subtotal + tax))]
    image = Image.new("RGB", (760, 420), (250, 250, 246))
    draw = ImageDraw.Draw(image)
    draw.text((30, 18), "Keller Office Supply", fill=(20, 20, 20), font=_font(26))
    y = 80
    for label, value in rows:
        draw.text((40, y), f"{label}: {value}", fill=(20, 20, 20), font=_font(19))
        y += 36
    draw.text((40, y + 14), "Notes: Payment within 30 days. Contact: Jane Roe.", fill=(20, 20, 20), font=_font(19))
    array = np.asarray(image.rotate(rng.uniform(-1, 1), fillcolor=(250, 250, 246))).astype(np.float32)
    array += np.random.default_rng(seed).normal(0, 8, array.shape)
    return np.clip(array, 0, 255).astype(np.uint8), dict(rows)


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    image, printed = sample_invoice(seed)
    print("printed:", printed)
    lines = intake.read_document(image)
    for line in lines:
        print(f"  {line['confidence']:.3f} {line['box']} {line['text']!r}")
    for name, field in intake.layout_fields(lines).items():
        print(f"{name:16} {field['value']!r:14} confidence {field['confidence']:.3f}")
    base = os.environ.get("WORKBENCH_LLM_API_BASE", "")
    if not base:
        print("set WORKBENCH_LLM_API_BASE=http://127.0.0.1:PORT/v1 (see 'workbench backend status') to run process_document")
        return
    import httpx

    def chat(messages, **kwargs):
        body = {"model": "smollm2", "messages": messages, **kwargs}
        reply = httpx.post(base.rstrip("/") + "/chat/completions", json=body, timeout=120).json()
        return {"content": reply["choices"][0]["message"]["content"], "finish_reason": reply["choices"][0]["finish_reason"],
                "usage": reply["usage"]}

    result = intake.process_document(image, chat)
    for name, field in result["fields"].items():
        flag = "REVIEW" if field["review"] else "ok"
        print(f"{name:20} {flag:6} {field['value']!r:14} candidate {field['candidate']!r} confidence {field['confidence']:.3f}")
    print(f"model tokens {result['llm_tokens']} in {result['llm_calls']} calls; the image as tokens: {result['image_tokens']}")


if __name__ == "__main__":
    main()
