"""Helpers for the multimodal-align grader: glyph images rendered with Pillow, caption and prompt
texts (the training templates, and held-out ones the brief never shows), MiniLM vectors of
them in a random orthonormal basis per run, and the float64 references the learner's functions
are compared with. Nothing here is the learner's; torch is imported lazily."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

SIDE_PX = 28
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = ("small", "large")
SIDES = ("left", "right")

# the templates the training captions use (the brief and the starter's glyphs.py show these)
TRAIN_TEMPLATES = (
    "a {size} {word} on the {side}",
    "{size} digit {word}, {side} side",
    "the numeral {num}, {size}, placed {side}",
)
# image -> caption recall: candidate captions in phrasings never used in training
RECALL_TEMPLATES = (
    "the number {word} written {size} at the {side}",
    "{side}-hand {size} figure {num}",
    "a {size} {num} drawn toward the {side}",
)
# zero-shot prompts: paraphrases never used in training nor shown in the brief
PROMPT_POOL = (
    "a picture of the number {num}",
    "the digit {word}",
    "an image showing a {word}",
    "a rendering of the figure {num}",
    "{word}",
    "the numeral {word} in white on black",
    "a glyph of the digit {num}",
    "a photo of a {word}",
    "this is a {num}",
    "a sketch of the number {word}",
)
# noisy captions for the fusion checks
NO_DIGIT_TEMPLATES = ("a {size} glyph on the {side}", "something {size} on the {side} side", "a blurry {size} mark, {side}")


def caption(template: str, digit: int, big: int, right: int) -> str:
    return template.format(word=WORDS[digit], num=digit, size=SIZES[big], side=SIDES[right])


# -- images ------------------------------------------------------------------------------------

@cache
def _font(px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=px)


def render_glyph(digit: int, big: int, right: int, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 float32 image in [0, 1]: the digit in white on black, small (about 5-6 px tall)
    or large (about 9-11 px), in the left or right half, jittered and rotated by up to 12 deg."""
    from PIL import Image, ImageDraw

    px = int(rng.integers(18, 22)) if big else int(rng.integers(10, 13))
    canvas = Image.new("L", (2 * SIDE_PX, 2 * SIDE_PX), 0)
    ImageDraw.Draw(canvas).text((SIDE_PX, SIDE_PX), str(digit), fill=255, font=_font(2 * px), anchor="mm")
    canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR)
    image = np.asarray(canvas.resize((SIDE_PX, SIDE_PX), Image.BILINEAR), dtype=np.float32) / 255.0
    dx = (20 if right else 8) - SIDE_PX // 2 + int(rng.integers(-2, 3))
    dy = int(rng.integers(-3, 4))
    return np.roll(np.roll(image, dx, axis=1), dy, axis=0)


@dataclass(frozen=True)
class Glyphs:
    images: np.ndarray   # (n, 28, 28) float32
    digits: np.ndarray   # (n,) int64
    big: np.ndarray      # (n,) 0 small / 1 large
    right: np.ndarray    # (n,) 0 left / 1 right

    @property
    def combos(self) -> np.ndarray:
        """Index of (digit, size, side) among the 40 combinations: digit * 4 + big * 2 + right."""
        return self.digits * 4 + self.big * 2 + self.right


def glyph_set(rng: np.random.Generator, n: int, noise: float = 0.05) -> Glyphs:
    digits, big, right = rng.integers(0, 10, n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    images = np.stack([render_glyph(int(d), int(b), int(r), rng) for d, b, r in zip(digits, big, right, strict=True)])
    images = images + rng.normal(0.0, noise, images.shape)
    return Glyphs(images.astype(np.float32), digits.astype(np.int64), big.astype(np.int64), right.astype(np.int64))


# -- text vectors ------------------------------------------------------------------------------

class TextSpace:
    """MiniLM vectors of texts, turned by one random orthogonal matrix per run: cosines are those of
    MiniLM, coordinates are not, so nothing about MiniLM's own coordinates can be hard-coded."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        q, r = np.linalg.qr(rng.normal(size=(384, 384)))
        self.rotation = (q * np.sign(np.diag(r))).astype(np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def vectors(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            from workbench.llm import embed

            for text, vector in zip(missing, embed(missing) @ self.rotation, strict=True):
                self._cache[text] = vector.astype(np.float32)
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# -- references --------------------------------------------------------------------------------

def reference_info_nce(image_emb: np.ndarray, text_emb: np.ndarray, temperature: float):
    """(loss, d loss / d image_emb, d loss / d text_emb) in float64: rows L2-normalised, logits =
    cosines / temperature, cross-entropy with the matching row as the target, averaged over the
    image->text and the text->image directions."""
    import torch
    import torch.nn.functional as F

    a = torch.tensor(np.asarray(image_emb, np.float64), requires_grad=True)
    b = torch.tensor(np.asarray(text_emb, np.float64), requires_grad=True)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    targets = torch.arange(len(a))
    loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    loss.backward()
    return float(loss), a.grad.numpy(), b.grad.numpy()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_class_vectors(prompt_vecs: np.ndarray) -> np.ndarray:
    """Prompt ensembling (CLIP): normalise each prompt vector, average per class, normalise."""
    return _unit(_unit(np.asarray(prompt_vecs, np.float64)).mean(axis=1))


def reference_zero_shot_scores(image_vecs: np.ndarray, prompt_vecs: np.ndarray) -> np.ndarray:
    return _unit(np.asarray(image_vecs, np.float64)) @ reference_class_vectors(prompt_vecs).T


def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))


def reference_fuse(image_vecs, text_vecs, class_vecs, mode: str, temperature: float) -> np.ndarray:
    """(n, C) fused log-probabilities. A modality is missing for a row when its array is None or
    the row holds a NaN; a row missing both gets the uniform distribution.
    early: log_softmax(cosines of the normalised sum of the present unit vectors / T).
    late: log of the mean of the present modalities' softmax(cosines / T)."""
    present = [np.asarray(v, np.float64) for v in (image_vecs, text_vecs) if v is not None]
    classes = _unit(np.asarray(class_vecs, np.float64))
    n = len(present[0])
    prob_sum, counts = np.zeros((n, len(classes))), np.zeros((n, 1))
    vector_sum = np.zeros((n, classes.shape[1]))
    for vectors in present:
        ok = ~np.isnan(vectors).any(axis=1)
        units = _unit(vectors[ok])
        prob_sum[ok] += np.exp(_log_softmax(units @ classes.T / temperature))
        vector_sum[ok] += units
        counts[ok] += 1
    if mode == "late":
        return np.log(np.divide(prob_sum, counts, out=np.full_like(prob_sum, 1.0 / len(classes)), where=counts > 0))
    norms = np.linalg.norm(vector_sum, axis=1, keepdims=True)
    direction = np.divide(vector_sum, norms, out=np.zeros_like(vector_sum), where=norms > 0)
    return _log_softmax(direction @ classes.T / temperature)
