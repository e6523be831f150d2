"""Prompt engineering on the embedded SmolLM2, measured: the chat template read from the GGUF
file, few-shot prompts scored by label log-probabilities, a decision threshold fitted on a dev
split, and JSON output constrained by a grammar and validated against a schema.

Reference solution.
"""

from __future__ import annotations

import copy
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import jsonschema
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

LABELS = ("negative", "positive")

# The naive prompt: fixed by the lab, the baseline every run is compared with. Do not change it.
NAIVE_SYSTEM = ("You classify the sentiment of one sentence from a movie review. "
                "Answer with one word: positive or negative.")
NAIVE_QUESTION = "Sentence: {sentence}\nSentiment:"

# Your prompt: what you engineer (measure before you choose; README, "Measured").
SYSTEM_PROMPT = "You are a movie critic. Read the review sentence and say whether it is positive or negative."
QUESTION = "Review: {sentence}"
ANSWER_PREFIX = "The review is"  # the start of the assistant's answer, appended to the rendered prompt
SHOTS_K = 0  # few-shot examples per prompt: measured, 4 and 8 shots score below 0 shots on this model

# -- 1. the GGUF header -------------------------------------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 10: "<Q", 11: "<q", 12: "<d"}
_BOOL, _STRING, _ARRAY = 7, 8, 9


class _Reader:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self.handle.read(size)
        if len(data) != size:
            raise ValueError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        length = self.take("<Q")
        data = self.handle.read(length)
        if len(data) != length:
            raise ValueError("truncated GGUF string")
        return data.decode("utf-8")

    def value(self, value_type: int) -> Any:
        if value_type in _SCALARS:
            return self.take(_SCALARS[value_type])
        if value_type == _BOOL:
            return bool(self.take("<B"))
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            item_type, count = self.take("<I"), self.take("<Q")
            if item_type in _SCALARS and item_type not in (6, 12):
                fmt = _SCALARS[item_type]
                size = struct.calcsize(fmt)
                data = self.handle.read(size * count)
                return list(struct.unpack(f"<{count}{fmt[1]}", data))
            return [self.value(item_type) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {value_type}")


def read_gguf_metadata(path: str) -> dict[str, Any]:
    """Every key-value pair of a GGUF file's header, in file order: numbers, bools, strings, and
    arrays as lists. Only the header is read, never the tensors."""
    with open(path, "rb") as handle:
        reader = _Reader(handle)
        if handle.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = reader.take("<I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported")
        reader.take("<Q")  # tensor count
        kv_count = reader.take("<Q")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(reader.take("<I"))
        return metadata


# -- 2. the chat template -----------------------------------------------------------------------

def _tojson(value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise ValueError(message)


def render_chat(messages: list[dict[str, str]], metadata: dict[str, Any], add_generation_prompt: bool = True) -> str:
    """The prompt text the GGUF's own chat template gives these messages, rendered as llama.cpp's
    Python server renders a template it reads from the file."""
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    environment.filters["tojson"] = _tojson
    template = environment.from_string(metadata["tokenizer.chat_template"])
    tokens = metadata["tokenizer.ggml.tokens"]
    return template.render(
        messages=messages, add_generation_prompt=add_generation_prompt, raise_exception=_raise_exception,
        bos_token=tokens[metadata["tokenizer.ggml.bos_token_id"]],
        eos_token=tokens[metadata["tokenizer.ggml.eos_token_id"]],
    )


# -- 3. few-shot prompts --------------------------------------------------------------------------

def choose_shots(pool: list[list[str]], k: int) -> list[list[str]]:
    """k examples from the pool, half of each label, alternating labels (negative first), each
    label's examples in pool order."""
    if k % 2 or k < 0:
        raise ValueError("k must be even: half of the shots per label")
    by_label = {label: [row for row in pool if row[1] == label] for label in LABELS}
    if any(len(rows) < k // 2 for rows in by_label.values()):
        raise ValueError(f"the pool has fewer than {k // 2} examples of a label")
    shots = []
    for i in range(k // 2):
        shots.extend([list(by_label[label][i]) for label in LABELS])
    return shots


def naive_messages(sentence: str) -> list[dict[str, str]]:
    """The lab's naive prompt for a sentence (the baseline)."""
    return [{"role": "system", "content": NAIVE_SYSTEM},
            {"role": "user", "content": NAIVE_QUESTION.format(sentence=sentence)}]


def _question(sentence: str) -> str:
    return QUESTION.format(sentence=sentence)


def build_messages(sentence: str, shots: list[list[str]]) -> list[dict[str, str]]:
    """The system instruction, each shot as a user turn and an assistant turn holding the label
    word, then the sentence to classify as the last user turn. No shots: the naive prompt."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for text, label in shots:
        messages.append({"role": "user", "content": _question(text)})
        messages.append({"role": "assistant", "content": label})
    messages.append({"role": "user", "content": _question(sentence)})
    return messages


# -- 4. label scores, threshold ------------------------------------------------------------------

def label_score(top_logprobs: dict[str, float]) -> float:
    """log P(positive) - log P(negative) for the next token. A label's probability sums every
    token that reads as the label once stripped and lower-cased; a label absent from the list is
    given the list's smallest log-probability."""
    floor = min(top_logprobs.values())
    totals = {}
    for label in LABELS:
        matches = [lp for token, lp in top_logprobs.items() if token.strip().lower() == label]
        if matches:
            totals[label] = max(matches)
        else:
            totals[label] = floor
    return totals["positive"] - totals["negative"]


def fit_threshold(scores: list[float], labels: list[str]) -> float:
    """The threshold t that maximises accuracy of "positive iff score > t" on these rows.
    Candidates: midpoints between consecutive distinct scores, and min - 1, max + 1; ties go to
    the candidate closest to 0, then to the smaller one."""
    values = sorted(set(float(s) for s in scores))
    candidates = [values[0] - 1.0, values[-1] + 1.0]
    candidates += [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    truth = [label == "positive" for label in labels]

    def accuracy(t: float) -> int:
        return sum((s > t) == y for s, y in zip(scores, truth, strict=False))

    return max(candidates, key=lambda t: (accuracy(t), -abs(t), -t))


def predict(scores: list[float], threshold: float) -> list[str]:
    """Label words for scores: positive iff score > threshold."""
    return [LABELS[1] if s > threshold else LABELS[0] for s in scores]


def run_experiment(next_token_logprobs: Callable[[str], dict[str, float]], gguf_path: str, pool: list[list[str]],
                   dev: list[list[str]], test: list[str]) -> dict[str, Any]:
    """The naive prompt (threshold 0) against your prompt with a dev-fitted threshold, on the same
    test sentences. One model call per prompt; prompts of one kind are scored in a row, so their
    shared prefix stays in the model's cache."""
    metadata = read_gguf_metadata(gguf_path)
    shots = choose_shots(pool, SHOTS_K)

    def score(prompt: str) -> float:
        return label_score(next_token_logprobs(prompt))

    naive_scores = [score(render_chat(naive_messages(s), metadata)) for s in test]
    dev_scores = [score(render_chat(build_messages(text, shots), metadata) + ANSWER_PREFIX) for text, _ in dev]
    threshold = fit_threshold(dev_scores, [label for _, label in dev])
    test_scores = [score(render_chat(build_messages(s, shots), metadata) + ANSWER_PREFIX) for s in test]
    return {"shots": shots, "answer_prefix": ANSWER_PREFIX, "naive_scores": naive_scores,
            "naive_predictions": predict(naive_scores, 0.0), "dev_scores": dev_scores, "threshold": threshold,
            "test_scores": test_scores, "predictions": predict(test_scores, threshold)}


# -- 5. constrained JSON --------------------------------------------------------------------------

_MAX_ENUM = 32


def constrain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema rewritten into what the server's grammar enforces: an integer with both a
    minimum and a maximum (at most 32 values) becomes an enum of those integers, at any depth."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: walk(value) for key, value in node.items()}
        if node.get("type") == "integer" and "minimum" in node and "maximum" in node and "enum" not in node:
            low, high = math.ceil(node["minimum"]), math.floor(node["maximum"])
            if 0 < high - low + 1 <= _MAX_ENUM:
                node = {key: value for key, value in node.items() if key not in ("minimum", "maximum")}
                node["enum"] = list(range(low, high + 1))
        return node

    return walk(schema)


def extract_json(chat: Callable[..., dict[str, Any]], text: str, schema: dict[str, Any],
                 max_attempts: int = 2) -> dict[str, Any]:
    """A JSON object about `text` that validates against `schema`, from the model: the grammar
    constrains decoding, jsonschema validates; an invalid reply is retried once with the error."""
    messages = [
        {"role": "system", "content": "Fill in a JSON object about the movie review sentence. "
                                      f"It must follow this JSON schema: {json.dumps(schema)}"},
        {"role": "user", "content": text},
    ]
    response_format = {"type": "json_object", "schema": constrain_schema(schema)}
    problem = ""
    for _ in range(max_attempts):
        reply = chat(messages, response_format=response_format, temperature=0.0, max_tokens=200)
        content = reply["content"] or ""
        try:
            value = json.loads(content)
            jsonschema.validate(value, schema)
            return value
        except json.JSONDecodeError as exc:
            problem = f"not JSON: {exc}"
        except jsonschema.ValidationError as exc:
            problem = f"does not match the schema: {exc.message}"
        messages = [*messages, {"role": "assistant", "content": content},
                    {"role": "user", "content": f"That reply is invalid ({problem}). Answer again with valid JSON."}]
    raise ValueError(f"no valid JSON after {max_attempts} attempts: {problem}")
