"""Grader for prompt-engineering: the GGUF header read by hand, the chat template rendered
byte-equal to llama.cpp's (and to the embedded server's), few-shot prompts, label scores from
next-token log-probabilities, a threshold fitted on dev only, the gain over the naive prompt on
held-out sentences, and grammar-constrained JSON validated against a schema.

Learner code runs in the sandboxed worker, where llama_cpp and gguf are hidden (lab.toml
`hide_modules`): the GGUF is parsed by the learner's code, and the model's log-probabilities come
only through the grader's metered `next_token_logprobs`, which runs SmolLM2 in the grader's process
(the embedded server answers `logprobs` requests with an error). JSON calls go to the embedded
server through the grader's metered `chat`.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest
from _reference import (
    LABELS,
    Scorer,
    accuracy_at,
    constrain_reference,
    expected_from_entries,
    fit_threshold_reference,
    gguf_path,
    label_score_reference,
    random_schema,
    read_gguf,
    render_reference,
    server_prompt,
    split_rows,
    write_gguf,
)

N_DEV, N_TEST = 40, 140  # 12 + 40 + 140 of the 200 sentences: 140 keeps the accuracy's sampling error near 0.035
CALL_BUDGET = N_DEV + 2 * N_TEST   # one call per prompt: naive and engineered on test, engineered on dev
ACCURACY_MIN = 0.64      # engineered prompt + dev threshold on the held-out test sentences
GAIN_MIN = 0.02          # over the naive prompt (threshold 0) on the same sentences
NAIVE_SYSTEM = ("You classify the sentiment of one sentence from a movie review. "
                "Answer with one word: positive or negative.")
NAIVE_QUESTION = "Sentence: {sentence}\nSentiment:"


def naive_messages(sentence: str) -> list[dict[str, str]]:
    """The lab's fixed baseline prompt (README): the learner's code cannot move the baseline."""
    return [{"role": "system", "content": NAIVE_SYSTEM}, {"role": "user", "content": NAIVE_QUESTION.format(sentence=sentence)}]
JSON_ITEMS = 3           # live constrained-JSON items per run


def _call(what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except NotImplementedError as exc:
        pytest.fail(f"{what} is not implemented yet ({exc})", pytrace=False)
    except Exception as exc:  # noqa: BLE001 - learner errors become a failed check with the reason
        name = getattr(exc, "type_name", type(exc).__name__)
        if name in ("ImportError", "ModuleNotFoundError") and any(m in str(exc) for m in ("llama_cpp", "gguf")):
            pytest.fail(f"{what} raised {name}: {exc}. llama_cpp and gguf are hidden while grading: read the GGUF "
                        "header with struct and render the template with jinja2 yourself", pytrace=False)
        pytest.fail(f"{what} raised {name}: {str(exc)[:400]}", pytrace=False)


def _words(rng: random.Random, n: int) -> str:
    pool = ["the", "plot", "a", "film", "quiet", "brilliant", "dull", "score", "actors", "café", "naïve", "über",
            "\"quoted\"", "it's", "<b>bold</b>", "R&D", "{{ not a tag }}", "{% raw %}", "50%", "→", "東京", "tab\there"]
    return " ".join(rng.choice(pool) for _ in range(n))


def _conversation(rng: random.Random, system: bool, turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": _words(rng, 5)}] if system else []
    for i in range(turns):
        messages.append({"role": "user", "content": _words(rng, rng.randint(2, 9))})
        if i < turns - 1:
            messages.append({"role": "assistant", "content": _words(rng, rng.randint(1, 5))})
    if rng.random() < 0.5:
        messages[-1]["content"] = "  " + messages[-1]["content"] + "\n"
    return messages


# -- 1. GGUF header -------------------------------------------------------------------------------

def _synthetic_entries(rng: random.Random, template: str, tokens: list[str], bos: int, eos: int) -> list[tuple]:
    entries = [
        ("general.architecture", 8, rng.choice(["llama", "gemma2", "qwen2", "phi3"]), None),
        ("general.name", 8, f"held-out model {rng.randrange(10**6)} — ünïcode", None),
        (f"{rng.choice(['llama', 'qwen2'])}.context_length", 4, rng.randrange(512, 1 << 20), None),
        ("general.file_type", 4, rng.randrange(30), None),
        ("x.u8", 0, rng.randrange(256), None), ("x.i8", 1, rng.randrange(-128, 128), None),
        ("x.u16", 2, rng.randrange(1 << 16), None), ("x.i16", 3, rng.randrange(-(1 << 15), 1 << 15), None),
        ("x.i32", 5, rng.randrange(-(1 << 31), 1 << 31), None), ("x.f32", 6, rng.uniform(-1e3, 1e3), None),
        ("x.bool", 7, rng.random() < 0.5, None), ("x.u64", 10, rng.randrange(1 << 64), None),
        ("x.i64", 11, rng.randrange(-(1 << 63), 1 << 63), None), ("x.f64", 12, rng.uniform(-1e9, 1e9), None),
        ("x.scores", 9, [rng.uniform(-50, 0) for _ in range(len(tokens))], 6),
        ("x.flags", 9, [rng.random() < 0.5 for _ in range(7)], 7),
        ("x.ids", 9, [rng.randrange(-(1 << 31), 1 << 31) for _ in range(9)], 5),
        ("x.empty", 9, [], 8),
        ("tokenizer.ggml.tokens", 9, tokens, 8),
        ("tokenizer.ggml.bos_token_id", 4, bos, None),
        ("tokenizer.ggml.eos_token_id", 4, eos, None),
        ("tokenizer.chat_template", 8, template, None),
    ]
    rng.shuffle(entries)
    return entries


def _tokens(rng: random.Random, bos: str, eos: str, n: int = 40) -> tuple[list[str], int, int]:
    tokens = [f"tok{i}_{rng.randrange(1000)}" for i in range(n)]
    bos_id, eos_id = rng.sample(range(n), 2)
    tokens[bos_id], tokens[eos_id] = bos, eos
    return tokens, bos_id, eos_id


@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_reads_every_gguf_header_entry(learner, seed, lab_dir, record_metric):
    """read_gguf_metadata returns every key-value pair of a GGUF header: the model's and held-out files"""
    rng = random.Random(seed)
    folder = lab_dir / ".held-out-gguf"  # inside the learner's copy: the sandbox sees it
    folder.mkdir(exist_ok=True)
    for version in (3, 2):
        tokens, bos, eos = _tokens(rng, f"<s{rng.randrange(99)}>", f"</s{rng.randrange(99)}>")
        entries = _synthetic_entries(rng, "{{ messages[0]['content'] }}", tokens, bos, eos)
        path = folder / f"held_out_{rng.randrange(10**6)}_v{version}.gguf"
        write_gguf(path, entries, version=version, tensor_count=rng.randrange(1, 5), tail=os.urandom(4096))
        got = _call(f"read_gguf_metadata({path.name})", learner.read_gguf_metadata, str(path))
        expected = expected_from_entries(entries)
        assert isinstance(got, dict), f"read_gguf_metadata returned {type(got).__name__}, needs a dict"
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        assert not missing and not extra, (
            f"GGUF v{version} header: keys missing {missing[:5]}, keys not in the file {extra[:5]}: read all kv_count entries")
        wrong = [k for k in expected if got[k] != expected[k] or type(got[k]) is not type(expected[k])]
        assert not wrong, (f"GGUF v{version} header: wrong values for {wrong[:4]}, e.g. {wrong[0]}: got "
                           f"{str(got[wrong[0]])[:80]!r} ({type(got[wrong[0]]).__name__}), the file holds "
                           f"{str(expected[wrong[0]])[:80]!r} ({type(expected[wrong[0]]).__name__})")
    started = time.perf_counter()
    got = _call("read_gguf_metadata(the SmolLM2 GGUF)", learner.read_gguf_metadata, gguf_path())
    elapsed = time.perf_counter() - started
    expected = read_gguf(gguf_path())
    record_metric("smollm2_keys", len(expected))
    record_metric("smollm2_read_s", round(elapsed, 3))
    wrong = sorted(k for k in expected if k not in got or got[k] != expected[k])
    assert not wrong and set(got) == set(expected), (
        f"SmolLM2 GGUF: {len(wrong)} keys wrong or missing (e.g. {wrong[:3]}), {len(set(got) - set(expected))} extra")


# -- 2. the chat template -------------------------------------------------------------------------

_HELD_OUT_TEMPLATES = {
    "header-ids": ("{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
                   "{{ message['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"),
    "inst-alternating": ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{% continue %}{% endif %}"
                         "{% if (message['role'] == 'user') != (loop.index0 % 2 == (1 if messages[0]['role'] == 'system' else 0)) %}"
                         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
                         "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                         "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"),
    "turns-multiline": ("{% for message in messages %}\n"
                        "    {% if message['role'] == 'assistant' %}\n        {% set role = 'model' %}\n"
                        "    {% else %}\n        {% set role = message['role'] %}\n    {% endif %}\n"
                        "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
                        "{% endfor %}\n{% if add_generation_prompt %}\n<start_of_turn>model\n{% endif %}\n"),
    "json-lines": ("{% for message in messages %}{{ message.role | upper }}: {{ message.content | tojson }}{{ eos_token }}\n"
                   "{% if loop.last and add_generation_prompt %}ASSISTANT:{% endif %}{% endfor %}"),
}


def _check_render(learner, messages: list[dict[str, str]], metadata: dict[str, Any], generation: bool, what: str) -> None:
    expected = render_reference(messages, metadata, generation)
    got = _call(f"render_chat ({what})", learner.render_chat, messages, metadata, generation)
    if got != expected:
        at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected)))
        pytest.fail(f"render_chat ({what}, add_generation_prompt={generation}) differs from llama.cpp's rendering at "
                    f"character {at}: yours {got[max(0, at - 25):at + 25]!r}, expected {expected[max(0, at - 25):at + 25]!r} "
                    f"(lengths {len(got)} vs {len(expected)})", pytrace=False)


@pytest.fixture(scope="session")
def smollm2_metadata() -> dict[str, Any]:
    """The SmolLM2 header as the grader reads it, with the token list cut after the special tokens."""
    metadata = read_gguf(gguf_path())
    keep = max(metadata["tokenizer.ggml.bos_token_id"], metadata["tokenizer.ggml.eos_token_id"]) + 1
    return {k: (v[:keep] if k == "tokenizer.ggml.tokens" else v) for k, v in metadata.items()
            if not isinstance(v, list) or k == "tokenizer.ggml.tokens"}


@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_chat_template_renders_like_llama_cpp(learner, seed, smollm2_metadata, record_metric):
    """render_chat renders a GGUF's own chat template byte for byte as llama.cpp does, on SmolLM2's and held-out templates"""
    rng = random.Random(seed + 1)
    for system in (True, False):
        for generation in (True, False):
            _check_render(learner, _conversation(rng, system, rng.randint(1, 3)), smollm2_metadata, generation,
                          f"SmolLM2's template, {'with' if system else 'without'} a system message")
    names = list(_HELD_OUT_TEMPLATES)
    rng.shuffle(names)
    for name in names:
        tokens, bos, eos = _tokens(rng, f"<|b{rng.randrange(99)}|>", f"<|e{rng.randrange(99)}|>")
        metadata = {"tokenizer.chat_template": _HELD_OUT_TEMPLATES[name], "tokenizer.ggml.tokens": tokens,
                    "tokenizer.ggml.bos_token_id": bos, "tokenizer.ggml.eos_token_id": eos,
                    "general.architecture": "held-out"}
        for system in (True, False):
            _check_render(learner, _conversation(rng, system, rng.randint(1, 3)), metadata, rng.random() < 0.7,
                          f"held-out template {name!r}")
    tokens, bos, eos = _tokens(rng, "<s>", "</s>")
    metadata = {"tokenizer.chat_template": _HELD_OUT_TEMPLATES["inst-alternating"], "tokenizer.ggml.tokens": tokens,
                "tokenizer.ggml.bos_token_id": bos, "tokenizer.ggml.eos_token_id": eos}
    bad = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    try:
        learner.render_chat(bad, metadata, True)
    except Exception as exc:  # noqa: BLE001 - the template's raise_exception must reach the caller as ValueError
        name = getattr(exc, "type_name", type(exc).__name__)
        assert isinstance(exc, ValueError), (
            f"a template's raise_exception(...) surfaced as {name}, needs ValueError (what llama.cpp raises)")
    else:
        pytest.fail("render_chat rendered two user turns in a row with a template that calls raise_exception for that: "
                    "give the template a raise_exception(message) that raises ValueError", pytrace=False)
    record_metric("templates", 2 + len(names))


def _post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    base = os.environ["WORKBENCH_LLM_API_BASE"].rstrip("/")
    response = httpx.post(f"{base}{path}", json=body, timeout=120,
                          headers={"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'local')}"})
    response.raise_for_status()
    return response.json()


@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_prompt_is_byte_equal_to_the_servers(learner, llm, seed, smollm2_metadata, record_metric):
    """For a system-first conversation, render_chat gives the embedded server's exact prompt: same bytes, tokens and reply"""
    rng = random.Random(seed + 2)
    split = split_rows(seed)
    for i in range(2):
        shots = [row for row in split.pool[:2 * (i + 1)]]
        messages = [{"role": "system", "content": "Classify the sentiment of the sentence: positive or negative."}]
        for text, label in shots:
            messages += [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
        messages.append({"role": "user", "content": rng.choice(split.test)[0] + " " + _words(rng, 3)})
        got = _call("render_chat (SmolLM2, a few-shot conversation)", learner.render_chat, messages, smollm2_metadata, True)
        expected = server_prompt(messages)
        assert got == expected, (
            f"render_chat differs from the embedded server's prompt (length {len(got)} vs {len(expected)}); "
            f"yours ends {got[-60:]!r}, the server's ends {expected[-60:]!r}")
        chat = _post("/chat/completions", {"model": "smollm2", "messages": messages, "max_tokens": 6, "temperature": 0,
                                           "seed": 0})
        raw = _post("/completions", {"model": "smollm2", "prompt": got, "max_tokens": 6, "temperature": 0, "seed": 0,
                                     "stop": ["<|im_end|>"]})
        chat_tokens, raw_tokens = chat["usage"]["prompt_tokens"], raw["usage"]["prompt_tokens"]
        assert chat_tokens == raw_tokens, (
            f"the server counted {chat_tokens} prompt tokens for the chat call and {raw_tokens} for your rendered prompt")
        assert chat["choices"][0]["message"]["content"] == raw["choices"][0]["text"], (
            f"greedy replies differ: chat {chat['choices'][0]['message']['content']!r}, your prompt {raw['choices'][0]['text']!r}")
        record_metric(f"prompt_tokens_{i}", chat_tokens)


# -- 3. few-shot prompts -----------------------------------------------------------------------------

def _shots_reference(pool: list[list[str]], k: int) -> list[list[str]]:
    by_label = {label: [list(r) for r in pool if r[1] == label] for label in LABELS}
    return [by_label[label][i] for i in range(k // 2) for label in LABELS]


@pytest.mark.check(skill="generative-ai", points=1, hint=2, required=True)
def test_few_shot_prompts_are_balanced_turns(learner, seed, record_metric):
    """choose_shots takes half of each label, alternating; build_messages puts each shot in a user/assistant pair"""
    rng = random.Random(seed + 3)
    split = split_rows(seed + 3)
    for k in (2, 4, 6):
        pool = [list(r) for r in split.pool]
        rng.shuffle(pool)
        got = _call(f"choose_shots(pool, {k})", learner.choose_shots, pool, k)
        expected = _shots_reference(pool, k)
        assert [list(r) for r in got] == expected, (
            f"choose_shots(pool, {k}) returned labels {[r[1] for r in got]}; needs {[r[1] for r in expected]}: half per label, "
            "alternating negative/positive, each label's examples in pool order")
    try:
        learner.choose_shots(split.pool, 3)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, ValueError), f"choose_shots(pool, 3) raised {getattr(exc, 'type_name', type(exc).__name__)}, needs ValueError"
    else:
        pytest.fail("choose_shots(pool, 3) returned: an odd k cannot be balanced, raise ValueError", pytrace=False)
    sentence = split.test[0][0]
    shots = _shots_reference(split.pool, 4)
    naive = _call("build_messages(sentence, [])", learner.build_messages, sentence, [])
    few = _call("build_messages(sentence, shots)", learner.build_messages, sentence, shots)
    roles = [m["role"] for m in few]
    assert roles == ["system"] + ["user", "assistant"] * 4 + ["user"], f"few-shot roles {roles}: system, 4 x (user, assistant), user"
    assert [m["role"] for m in naive] == ["system", "user"], f"naive prompt roles {[m['role'] for m in naive]}: system, user"
    assert naive[0] == few[0], "the naive and few-shot prompts must share the same system message (only the shots differ)"
    for i, (text, label) in enumerate(shots):
        assert few[2 + 2 * i]["content"] == label, (
            f"shot {i}: the assistant turn is {few[2 + 2 * i]['content']!r}, needs the bare label word {label!r}")
        assert text in few[1 + 2 * i]["content"], f"shot {i}: the user turn does not contain the example sentence"
    assert sentence in few[-1]["content"] and sentence in naive[-1]["content"], "the last user turn must hold the sentence"
    assert few[-1]["content"] == naive[-1]["content"], "the question turn must be the same with and without shots"
    template = few[1]["content"].replace(shots[0][0], "{}")
    assert few[-1]["content"] == template.replace("{}", sentence), "shots and the question must use the same wording"


# -- 4. label scores and the threshold ---------------------------------------------------------------

_VARIANTS = {"positive": ["positive", "Positive", " positive", " Positive", "POSITIVE", "\npositive", "positive "],
             "negative": ["negative", "Negative", " negative", " Negative", "NEGATIVE", "\nnegative", "negative "]}
_OTHERS = ["pos", "neg", "posit", "positively", "negatively", "Neutral", "The", " It", "\n", ":", "good", "bad", " not",
           "Sentiment", "postive", "negat", "1", "0", "yes", "no", "mixed", "**"]


def _random_top(rng: random.Random) -> dict[str, float]:
    tokens = rng.sample(_OTHERS, rng.randint(3, 14))
    for label in LABELS:
        tokens += rng.sample(_VARIANTS[label], rng.choice((0, 1, 1, 2, 3)))
    rng.shuffle(tokens)
    values = sorted((math.log(rng.uniform(1e-6, 1.0)) for _ in tokens), reverse=True)
    return dict(zip(tokens, values, strict=False))


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_label_score_from_top_logprobs(learner, seed, record_metric):
    """label_score sums every spelling of a label (log-sum-exp) and floors a missing label at the smallest log-probability"""
    rng = random.Random(seed + 4)
    cases = [_random_top(rng) for _ in range(40)]
    cases.append({"positive": -0.5, "Positive": -1.5, "negative": -2.0})
    cases.append({"The": -0.1, " It": -3.0, "Negative": -4.0})
    for top in cases:
        got = _call("label_score(top_logprobs)", learner.label_score, dict(top))
        expected = label_score_reference(top)
        assert isinstance(got, (int, float)) and math.isclose(float(got), expected, rel_tol=1e-9, abs_tol=1e-9), (
            f"label_score({top}) = {got}, expected {expected:.6f}: log P(positive) - log P(negative), each the "
            "log-sum-exp of the tokens that read as the label once stripped and lower-cased; a label with none "
            "gets the smallest log-probability in the list")
    record_metric("cases", len(cases))


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True)
def test_fit_threshold_maximises_dev_accuracy(learner, seed, record_metric):
    """fit_threshold returns the stated accuracy-maximising threshold (midpoints, ties to the one closest to 0)"""
    rng = random.Random(seed + 5)
    cases = []
    for _ in range(25):
        n = rng.randint(6, 60)
        shift = rng.uniform(-4, 4)
        labels = [rng.choice(LABELS) for _ in range(n)]
        scores = [round(rng.gauss(shift + (1.2 if y == "positive" else -1.2), 1.5), rng.choice((1, 2, 6))) for y in labels]
        cases.append((scores, labels))
    cases.append(([0.5, 0.5, 1.0, 2.0], ["negative", "positive", "positive", "positive"]))
    cases.append(([3.0, 4.0, 5.0], ["positive"] * 3))
    cases.append(([-3.0, -2.5], ["negative"] * 2))
    cases.append(([-1.0, 1.0, 2.0, 3.0], ["positive", "negative", "positive", "negative"]))
    for scores, labels in cases:
        got = _call("fit_threshold(scores, labels)", learner.fit_threshold, scores, labels)
        expected = fit_threshold_reference(scores, labels)
        assert isinstance(got, (int, float)), f"fit_threshold returned {type(got).__name__}, needs a float"
        best, mine = accuracy_at(scores, labels, expected), accuracy_at(scores, labels, float(got))
        assert mine == best, (f"fit_threshold({scores[:8]}..., {len(scores)} rows) = {got}: dev accuracy {mine}/{len(scores)}, "
                              f"the best threshold reaches {best}/{len(scores)}")
        assert math.isclose(float(got), expected, rel_tol=1e-9, abs_tol=1e-9), (
            f"fit_threshold({scores}, {labels}) = {got}, expected {expected}: same accuracy, but the contract picks the "
            "midpoint candidate closest to 0 (then the smaller one)")
    record_metric("cases", len(cases))


# -- 5. constrained JSON -----------------------------------------------------------------------------

@dataclass
class MeteredChat:
    """The model handed to extract_json: the embedded server through the grader's proxy (or a script)."""

    script: list[str] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        self.calls.append({"messages": messages, **kwargs})
        if len(self.calls) > 4:
            raise RuntimeError("more than 4 model calls for one object")
        if self.script is not None:
            content = self.script[min(len(self.calls) - 1, len(self.script) - 1)]
            self.calls[-1]["reply"] = content
            return {"content": content, "finish_reason": "stop"}
        allowed = {k: kwargs[k] for k in ("response_format", "temperature", "max_tokens", "seed") if k in kwargs}
        body = {"model": "smollm2", "messages": messages, **allowed}
        body.setdefault("max_tokens", 256)
        reply = _post("/chat/completions", body)
        content = reply["choices"][0]["message"]["content"]
        self.calls[-1]["reply"] = content
        return {"content": content, "finish_reason": reply["choices"][0].get("finish_reason")}


def _instance(rng: random.Random, schema: dict[str, Any], valid: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in schema["properties"].items():
        if spec["type"] == "string":
            out[name] = rng.choice(spec["enum"])
        elif spec["type"] == "integer":
            out[name] = rng.randint(spec["minimum"], spec["maximum"])
        elif spec["type"] == "boolean":
            out[name] = rng.random() < 0.5
        elif spec["type"] == "array":
            out[name] = rng.sample(spec["items"]["enum"], rng.randint(0, 2))
        else:
            level = spec["properties"]["level"]
            out[name] = {"level": rng.randint(level["minimum"], level["maximum"])}
    if not valid:
        ints = [n for n, s in schema["properties"].items() if s["type"] == "integer"]
        out[ints[0]] = schema["properties"][ints[0]]["maximum"] + rng.randint(1, 6)
    return out


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True)
def test_json_is_constrained_and_validated(learner, llm, seed, record_metric):
    """extract_json constrains decoding with the grammar-safe schema, validates every reply, retries once, never returns an invalid object"""
    rng = random.Random(seed + 6)
    split = split_rows(seed + 6)
    calls = 0
    for i in range(JSON_ITEMS):
        schema = random_schema(rng)
        text = split.test[i][0]
        chat = MeteredChat()
        got = _call("extract_json(chat, sentence, schema)", learner.extract_json, chat, text, json.loads(json.dumps(schema)))
        calls += len(chat.calls)
        for call in chat.calls:
            assert call.get("response_format") == {"type": "json_object", "schema": constrain_reference(schema)}, (
                f"a call's response_format was {str(call.get('response_format'))[:200]}; needs "
                "{'type': 'json_object', 'schema': <the schema with each bounded integer as an enum>} so the grammar "
                "constrains every field")
        assert 1 <= len(chat.calls) <= 2, f"extract_json made {len(chat.calls)} calls for one object; at most 2"
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(got)]
        assert not errors, f"extract_json returned {got}, which breaks the schema: {errors[:2]}"
        assert got == json.loads(chat.calls[-1]["reply"]), (
            f"extract_json returned {got}, but the model's last reply was {chat.calls[-1]['reply']!r}: return the model's object")
    schema = random_schema(rng)
    good, bad = _instance(rng, schema, True), _instance(rng, schema, False)
    scripts = [([json.dumps(bad), json.dumps(good)], good, 2), ([json.dumps(good)], good, 1),
               (['{"' + next(iter(schema["properties"])) + '": ', json.dumps(good)], good, 2),
               ([json.dumps(bad), json.dumps(_instance(rng, schema, False))], None, 2)]
    rng.shuffle(scripts)
    for script, expected, n_calls in scripts:
        chat = MeteredChat(script=script)
        what = f"extract_json with replies {[s[:40] for s in script]}"
        if expected is None:
            try:
                value = learner.extract_json(chat, "a sentence", json.loads(json.dumps(schema)))
            except Exception as exc:  # noqa: BLE001
                name = getattr(exc, "type_name", type(exc).__name__)
                assert isinstance(exc, ValueError), f"{what}: raised {name}, needs ValueError after 2 invalid replies"
            else:
                pytest.fail(f"{what}: returned {value} although both replies break the schema: raise ValueError", pytrace=False)
        else:
            value = _call(what, learner.extract_json, chat, "a sentence", json.loads(json.dumps(schema)))
            assert value == expected, f"{what}: returned {value}, expected the first valid reply {expected}"
        assert len(chat.calls) == n_calls, f"{what}: {len(chat.calls)} model calls, expected {n_calls}"
    record_metric("live_calls", calls)


# -- 6. the experiment ----------------------------------------------------------------------------------

@dataclass
class Experiment:
    result: dict[str, Any] | None
    error: str | None
    scorer: Scorer
    split: Any
    seconds: float


@pytest.fixture(scope="session")
def experiment(learner, seed) -> Experiment:
    split = split_rows(seed, n_dev=N_DEV, n_test=N_TEST)
    scorer = Scorer(budget=CALL_BUDGET)
    started = time.perf_counter()
    try:
        result = learner.run_experiment(scorer, gguf_path(), [list(r) for r in split.pool], [list(r) for r in split.dev],
                                        [r[0] for r in split.test])
        error = None
    except Exception as exc:  # noqa: BLE001
        result, error = None, f"{getattr(exc, 'type_name', type(exc).__name__)}: {str(exc)[:300]}"
    return Experiment(result, error, scorer, split, time.perf_counter() - started)


def _result(experiment: Experiment) -> dict[str, Any]:
    if experiment.error is not None:
        if "NotImplementedError" in experiment.error:
            pytest.fail(f"run_experiment is not implemented yet ({experiment.error})", pytrace=False)
        pytest.fail(f"run_experiment raised {experiment.error}", pytrace=False)
    result = experiment.result
    keys = ("shots", "answer_prefix", "naive_scores", "naive_predictions", "dev_scores", "threshold", "test_scores", "predictions")
    assert isinstance(result, dict) and all(k in result for k in keys), (
        f"run_experiment returned {str(result)[:200]}; needs a dict with {keys}")
    return result


def _scores_match(learner, what: str, prompts: list[str], scores: list[float], experiment: Experiment) -> None:
    seen = dict(zip(experiment.scorer.prompts, experiment.scorer.replies, strict=False))
    for prompt, score in zip(prompts, scores, strict=False):
        if prompt not in seen:
            pytest.fail(f"{what}: the model was never asked for the prompt {prompt[-120:]!r}: each score must come "
                        "from next_token_logprobs(render_chat(build_messages(sentence, shots), metadata))", pytrace=False)
        expected = label_score_reference(seen[prompt])
        assert math.isclose(float(score), expected, abs_tol=1e-9), (
            f"{what}: score {score} for a prompt whose model reply gives label_score {expected}")


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True)
def test_experiment_is_wired_right(learner, experiment, smollm2_metadata, record_metric):
    """run_experiment scores the naive and the engineered prompts as rendered, within the call budget, with a threshold fitted on dev only"""
    result = _result(experiment)
    scorer, split = experiment.scorer, experiment.split
    record_metric("model_calls", len(scorer.prompts))
    record_metric("evaluated_tokens", scorer.evaluated_tokens)
    record_metric("seconds", round(experiment.seconds, 1))
    assert scorer.refused == 0 and len(scorer.prompts) <= CALL_BUDGET, (
        f"{len(scorer.prompts) + scorer.refused} model calls asked, the budget is {CALL_BUDGET} (one per prompt)")
    shots = [list(r) for r in result["shots"]]
    assert len(shots) % 2 == 0 and shots == _shots_reference(split.pool, len(shots)), (
        f"shots {shots} are not choose_shots(pool, {len(shots)})")
    prefix = result["answer_prefix"]
    assert isinstance(prefix, str) and len(prefix) <= 200, f"answer_prefix must be a string of at most 200 characters, got {prefix!r}"
    record_metric("shots", len(shots))
    test = [r[0] for r in split.test]
    dev_labels = [r[1] for r in split.dev]
    assert len(result["naive_scores"]) == len(test) == len(result["test_scores"]) and len(result["dev_scores"]) == len(split.dev), (
        "naive_scores and test_scores need one score per test sentence, dev_scores one per dev row")

    def prompts(sentences: list[str]) -> list[str]:
        return [render_reference(_call("build_messages", learner.build_messages, s, shots), smollm2_metadata) + prefix
                for s in sentences]

    naive_prompts = [render_reference(naive_messages(s), smollm2_metadata) for s in test]
    _scores_match(learner, "naive_scores (the lab's naive prompt)", naive_prompts, result["naive_scores"], experiment)
    _scores_match(learner, "dev_scores", prompts([r[0] for r in split.dev]), result["dev_scores"], experiment)
    _scores_match(learner, "test_scores", prompts(test), result["test_scores"], experiment)
    expected = fit_threshold_reference([float(s) for s in result["dev_scores"]], dev_labels)
    record_metric("threshold", round(float(result["threshold"]), 4))
    assert math.isclose(float(result["threshold"]), expected, abs_tol=1e-9), (
        f"threshold {result['threshold']}; fit_threshold on the dev scores and dev labels gives {expected}: fit it on dev only")
    naive = ["positive" if s > 0 else "negative" for s in result["naive_scores"]]
    few = ["positive" if s > result["threshold"] else "negative" for s in result["test_scores"]]
    assert list(result["naive_predictions"]) == naive, "naive_predictions must be positive iff naive score > 0"
    assert list(result["predictions"]) == few, "predictions must be positive iff test score > the dev threshold"


@pytest.mark.check(skill="generative-ai", points=3, hint=3, required=True)
def test_few_shot_and_threshold_beat_the_naive_prompt(experiment, record_metric):
    """On held-out sentences, the engineered prompt with the dev threshold reaches the accuracy bar and beats the naive prompt"""
    result = _result(experiment)
    truth = [r[1] for r in experiment.split.test]
    naive = sum(p == y for p, y in zip(result["naive_predictions"], truth, strict=False)) / len(truth)
    few = sum(p == y for p, y in zip(result["predictions"], truth, strict=False)) / len(truth)
    few_at_zero = sum((s > 0) == (y == "positive") for s, y in zip(result["test_scores"], truth, strict=False)) / len(truth)
    record_metric("naive_accuracy", round(naive, 4))
    record_metric("engineered_accuracy_threshold_0", round(few_at_zero, 4))
    record_metric("engineered_accuracy", round(few, 4))
    record_metric("gain", round(few - naive, 4))
    assert few >= ACCURACY_MIN, (f"your prompt + dev threshold: accuracy {few:.3f} on {len(truth)} held-out sentences, "
                                 f"needs >= {ACCURACY_MIN} (naive {naive:.3f})")
    assert few - naive >= GAIN_MIN, f"gain over the naive prompt {few - naive:+.3f} ({naive:.3f} -> {few:.3f}), needs >= {GAIN_MIN:+.2f}"
