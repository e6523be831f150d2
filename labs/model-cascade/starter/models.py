"""The models and dev data for trying your cascades (you do not need to edit this file).

- Digits: a logistic regression (cheap) and an ensemble of three MLPs (expensive), trained on
  half of scikit-learn's digits and frozen in data/digit_models.npz; the other half is split
  into a dev set (choose your threshold there) and a test set (measure there).
- Retrieval: data/dev_retrieval.json, a handbook of 40 fictional services x 10 facts, with 40
  dev questions. The grader uses another corpus and questions worded differently.
- Embedders: WordLlama (static, 256-d) and MiniLM (all-MiniLM-L6-v2 int8, 384-d), both
  returning unit-length rows, so a dot product is a cosine similarity.

The grader passes its own copies of these callables to your code and meters every call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class DigitsTask:
    cheap: object       # rows (n, 64) -> probabilities (n, 10): logistic regression
    expensive: object   # rows (n, 64) -> probabilities (n, 10): mean of three MLPs
    X_dev: np.ndarray
    y_dev: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def digits_task(seed: int = 0) -> DigitsTask:
    """The frozen models and a dev/test split of the rows they never saw (pixels / 16)."""
    from sklearn.datasets import load_digits

    data = np.load(DATA / "digit_models.npz")
    lr_w, lr_b = data["lr_w"], data["lr_b"]
    mlps = [(data[f"w1_{i}"], data[f"b1_{i}"], data[f"w2_{i}"], data[f"b2_{i}"]) for i in range(int(data["n_mlps"]))]

    def cheap(X: np.ndarray) -> np.ndarray:
        return _softmax(np.asarray(X, dtype=np.float64) @ lr_w + lr_b)

    def expensive(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.mean([_softmax(np.maximum(X @ w1 + b1, 0) @ w2 + b2) for w1, b1, w2, b2 in mlps], axis=0)

    X, y = load_digits(return_X_y=True)
    X, y = X[data["pool"]] / 16.0, y[data["pool"]]
    order = np.random.default_rng(seed).permutation(len(y))
    dev, test = order[: len(y) // 2], order[len(y) // 2:]
    return DigitsTask(cheap, expensive, X[dev], y[dev], X[test], y[test])


def retrieval_task() -> tuple[list[str], list[str], list[int]]:
    """(chunks, questions, index of the chunk answering each question)."""
    data = json.loads((DATA / "dev_retrieval.json").read_text("utf-8"))
    return data["chunks"], [q["query"] for q in data["queries"]], [q["target"] for q in data["queries"]]


def wordllama_embed():
    """WordLlama from the installed package (never downloads): texts -> (n, 256) unit rows."""
    import wordllama
    from wordllama import WordLlama

    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts: model.embed(list(texts), norm=True)


def minilm_embed():
    """MiniLM through the workbench: texts -> (n, 384) unit rows."""
    from workbench.llm import embed

    return embed
