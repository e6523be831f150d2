"""A CLIP-style image encoder aligned to frozen MiniLM caption vectors, zero-shot classification
with prompt ensembles, and early and late fusion of two modalities that may be missing.

Edit this file. Every function keeps its signature; run `python try_it.py` to see your figures
and `workbench check multimodal-align` to grade.

Vectors cross the grader's wire as numpy arrays: images are (n, 28, 28) float32 in [0, 1],
text vectors are (n, D) float32 (MiniLM, D = 384, in a basis the grader picks), and a trained
encoder is a state dict of numpy arrays.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TRAIN_TEMPERATURE = 0.05
TRAIN_STEPS = 300
BATCH_SIZE = 128


# -- the image encoder (given; change it if you like) -----------------------------------------

class ImageEncoder(nn.Module):
    """Three conv blocks (conv, batch norm, ReLU, 2x2 max-pool), then two linear layers to out_dim."""

    def __init__(self, out_dim: int = 384) -> None:
        super().__init__()
        blocks = []
        for fan_in, fan_out in ((1, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(fan_in, fan_out, 3, padding=1), nn.BatchNorm2d(fan_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, out_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images[:, None]))


def to_state(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's parameters and buffers as numpy arrays (what crosses the wire)."""
    return {key: value.detach().cpu().numpy().copy() for key, value in model.state_dict().items()}


def from_state(state: dict[str, np.ndarray]) -> ImageEncoder:
    """An ImageEncoder holding `state` (its output size read from the last layer)."""
    model = ImageEncoder(out_dim=int(np.asarray(state["head.3.weight"]).shape[0]))
    model.load_state_dict({key: torch.as_tensor(np.asarray(value)) for key, value in state.items()})
    return model


# -- Part A: the contrastive loss --------------------------------------------------------------

def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP's loss) of a batch of matching pairs, a 0-d tensor autograd can
    differentiate: rows L2-normalised, logits = cosines / temperature, cross-entropy with the
    matching row as the target, the image->text and text->image directions averaged."""
    image_unit = F.normalize(image_emb, dim=1)
    text_unit = F.normalize(text_emb, dim=1)
    logits = image_unit @ text_unit.T / temperature
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def loss_value_and_grad(image_emb: np.ndarray, text_emb: np.ndarray, temperature: float):
    """Given (leave it as it is): runs info_nce in float32 on numpy arrays and returns
    (loss, d loss / d image_emb, d loss / d text_emb). The grader checks your loss through it."""
    image = torch.tensor(np.asarray(image_emb), dtype=torch.float32, requires_grad=True)
    text = torch.tensor(np.asarray(text_emb), dtype=torch.float32, requires_grad=True)
    loss = info_nce(image, text, float(temperature))
    image_grad, text_grad = torch.autograd.grad(loss, [image, text], allow_unused=True)
    zeros = np.zeros_like(np.asarray(image_emb, dtype=np.float32))
    return (float(loss.detach()),
            zeros if image_grad is None else image_grad.numpy(),
            np.zeros_like(zeros) if text_grad is None else text_grad.numpy())


# -- Part B: alignment and zero-shot -----------------------------------------------------------

def train_encoder(images: np.ndarray, caption_vecs: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Train an image encoder whose outputs land on the frozen caption vectors of their images,
    with info_nce over random mini-batches. Returns its state (to_state)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.tensor(np.asarray(images), dtype=torch.float32)
    targets = torch.tensor(np.asarray(caption_vecs), dtype=torch.float32)
    model = ImageEncoder(out_dim=targets.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, TRAIN_STEPS)
    model.train()
    for _ in range(TRAIN_STEPS):
        rows = torch.randint(0, len(inputs), (BATCH_SIZE,), generator=generator)
        loss = (1 - F.cosine_similarity(model(inputs[rows]), targets[rows], dim=1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return to_state(model)


def embed_images(state: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """(n, D) unit-length float32 image vectors, the same for an image whatever else is in the batch."""
    model = from_state(state)
    model.eval()
    with torch.no_grad():
        vectors = model(torch.tensor(np.asarray(images), dtype=torch.float32))
    return F.normalize(vectors, dim=1).numpy().astype(np.float32)


def zero_shot_scores(image_vecs: np.ndarray, prompt_vecs: np.ndarray) -> np.ndarray:
    """(n, C) cosine similarities between the images and one vector per class, made from that
    class's P prompts (prompt_vecs is (C, P, D)): normalise each prompt vector, average them per
    class, normalise the average."""
    prompts = np.asarray(prompt_vecs, dtype=np.float64)
    prompts = prompts / np.linalg.norm(prompts, axis=-1, keepdims=True)
    classes = prompts.mean(axis=1)
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    images = np.asarray(image_vecs, dtype=np.float64)
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    return images @ classes.T


# -- Part C: fusion ----------------------------------------------------------------------------

def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))


def fuse(image_vecs: np.ndarray | None, text_vecs: np.ndarray | None, class_vecs: np.ndarray,
         mode: str, temperature: float) -> np.ndarray:
    """(n, C) log-probabilities over the classes from an image and a text vector per row.

    "early" (feature level): add the present modalities' unit vectors, normalise the sum, and
    return log_softmax(its cosines with the unit class vectors / temperature). "late" (decision
    level): each present modality gives its own softmax(cosines / temperature); return the log
    of their mean. A modality is missing for a whole batch when its array is None and for one
    row when that row holds a NaN; a row with neither gets the uniform distribution (log 1/C)."""
    if mode not in ("early", "late"):
        raise ValueError(f"mode must be 'early' or 'late', not {mode!r}")
    classes = np.asarray(class_vecs, dtype=np.float64)
    classes = classes / np.linalg.norm(classes, axis=1, keepdims=True)
    present = [np.asarray(v, dtype=np.float64) for v in (image_vecs, text_vecs) if v is not None]
    if not present:
        raise ValueError("fuse needs at least one modality")
    n = len(present[0])
    summed_vectors = np.zeros((n, classes.shape[1]))
    summed_probs = np.zeros((n, len(classes)))
    counts = np.zeros((n, 1))
    for vectors in present:
        ok = ~np.isnan(vectors).any(axis=1)
        units = vectors[ok] / np.linalg.norm(vectors[ok], axis=1, keepdims=True)
        summed_vectors[ok] += units
        summed_probs[ok] += np.exp(_log_softmax(units @ classes.T / temperature))
        counts[ok] += 1
    if mode == "late":
        mean = np.divide(summed_probs, counts, out=np.full_like(summed_probs, 1.0 / len(classes)), where=counts > 0)
        return np.log(mean)
    norms = np.linalg.norm(summed_vectors, axis=1, keepdims=True)
    direction = np.divide(summed_vectors, norms, out=np.zeros_like(summed_vectors), where=norms > 0)
    return _log_softmax(direction @ classes.T / temperature)
