"""Prompt engineering on the embedded SmolLM2, measured: the chat template read from the GGUF
file, few-shot prompts scored by label log-probabilities, a decision threshold fitted on a dev
split, and JSON output constrained by a grammar and validated against a schema.

Starter: each function raises NotImplementedError until you write it; README.md gives the
contract of each one. `python try_it.py` runs them on the real model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LABELS = ("negative", "positive")

# The naive prompt: fixed by the lab, the baseline every run is compared with. Do not change it.
NAIVE_SYSTEM = ("You classify the sentiment of one sentence from a movie review. "
                "Answer with one word: positive or negative.")
NAIVE_QUESTION = "Sentence: {sentence}\nSentiment:"

# Your prompt: what you engineer. Measure before you choose (try_it.py).
SYSTEM_PROMPT = NAIVE_SYSTEM
QUESTION = NAIVE_QUESTION
ANSWER_PREFIX = ""  # the start of the assistant's answer, appended to the rendered prompt
SHOTS_K = 4  # few-shot examples per prompt (even)


# -- 1. the GGUF header -------------------------------------------------------------------------

def read_gguf_metadata(path: str) -> dict[str, Any]:
    """Every key-value pair of a GGUF file's header, in file order: numbers, bools, strings, and
    arrays as lists. Only the header is read, never the tensors."""
    raise NotImplementedError("read_gguf_metadata: parse the header with struct (README, part 1)")


# -- 2. the chat template -----------------------------------------------------------------------

def render_chat(messages: list[dict[str, str]], metadata: dict[str, Any], add_generation_prompt: bool = True) -> str:
    """The prompt text the GGUF's own chat template gives these messages, rendered as llama.cpp's
    Python server renders a template it reads from the file."""
    raise NotImplementedError("render_chat: render metadata['tokenizer.chat_template'] with jinja2 (README, part 2)")


# -- 3. few-shot prompts --------------------------------------------------------------------------

def choose_shots(pool: list[list[str]], k: int) -> list[list[str]]:
    """k examples from the pool, half of each label, alternating labels (negative first), each
    label's examples in pool order."""
    raise NotImplementedError("choose_shots")


def naive_messages(sentence: str) -> list[dict[str, str]]:
    """The lab's naive prompt for a sentence (the baseline)."""
    return [{"role": "system", "content": NAIVE_SYSTEM},
            {"role": "user", "content": NAIVE_QUESTION.format(sentence=sentence)}]


def build_messages(sentence: str, shots: list[list[str]]) -> list[dict[str, str]]:
    """The system instruction, each shot as a user turn and an assistant turn holding the label
    word, then the sentence to classify as the last user turn. No shots: the naive prompt."""
    raise NotImplementedError("build_messages")


# -- 4. label scores, threshold ------------------------------------------------------------------

def label_score(top_logprobs: dict[str, float]) -> float:
    """log P(positive) - log P(negative) for the next token. A label's probability sums every
    token that reads as the label once stripped and lower-cased; a label absent from the list is
    given the list's smallest log-probability."""
    raise NotImplementedError("label_score")


def fit_threshold(scores: list[float], labels: list[str]) -> float:
    """The threshold t that maximises accuracy of "positive iff score > t" on these rows.
    Candidates: midpoints between consecutive distinct scores, and min - 1, max + 1; ties go to
    the candidate closest to 0, then to the smaller one."""
    return 0.0  # naive: the uncalibrated decision


def predict(scores: list[float], threshold: float) -> list[str]:
    """Label words for scores: positive iff score > threshold."""
    return [LABELS[1] if s > threshold else LABELS[0] for s in scores]


def run_experiment(next_token_logprobs: Callable[[str], dict[str, float]], gguf_path: str, pool: list[list[str]],
                   dev: list[list[str]], test: list[str]) -> dict[str, Any]:
    """The naive prompt (threshold 0) against your prompt with a dev-fitted threshold, on the same
    test sentences. Returns shots, answer_prefix, naive_scores, naive_predictions, dev_scores,
    threshold, test_scores, predictions (README, part 4)."""
    raise NotImplementedError("run_experiment")


# -- 5. constrained JSON --------------------------------------------------------------------------

def constrain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema rewritten into what the server's grammar enforces: an integer with both a
    minimum and a maximum (at most 32 values) becomes an enum of those integers, at any depth."""
    return schema  # naive: the grammar silently ignores minimum / maximum


def extract_json(chat: Callable[..., dict[str, Any]], text: str, schema: dict[str, Any],
                 max_attempts: int = 2) -> dict[str, Any]:
    """A JSON object about `text` that validates against `schema`, from the model: the grammar
    constrains decoding, jsonschema validates; an invalid reply is retried once with the error."""
    raise NotImplementedError("extract_json")
