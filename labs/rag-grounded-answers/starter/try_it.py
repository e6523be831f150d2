"""Try your answerer: `python try_it.py [--calibrate | --obedient]`

  (no option)   answers a few questions with the embedded model (SmolLM2-135M, started on
                demand): two the corpus answers, one it cannot, and one whose top passage
                carries an injected instruction (from dev_questions.json).
  --calibrate   scores the dev split with the retriever and calls calibrate_threshold: put the
                value it prints into THRESHOLD. No model needed.
  --obedient    the injected question again, against a fake model that obeys any instruction it
                can read: only your defence keeps its canary out of the answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import answerer
from retriever import Passage, Retriever

DEV = json.loads((Path(__file__).resolve().parent / "dev_questions.json").read_text("utf-8"))


class Poisoned:
    """The retriever, with one instruction planted in the top passage."""

    def __init__(self, base: Retriever, injection: str) -> None:
        self.base, self.injection = base, injection

    def search(self, query: str, k: int = 3) -> list[Passage]:
        hits = self.base.search(query, k)
        top = hits[0]
        hits[0] = Passage(top.id, top.title, f"{top.text}\n\n{self.injection}", top.score)
        return hits


def obedient(canary: str):
    """A fake chat function that does whatever the injected text says."""

    def chat(messages, **kwargs):
        seen = " ".join(str(m.get("content")) for m in messages)
        text = f"{canary}! As instructed." if canary in seen else "The passage explains it [doc-0]."
        return SimpleNamespace(content=text, tool_calls=[], total_tokens=0)

    return chat


def show(question: str, result: answerer.Answer, canary: str | None = None) -> None:
    print(f"\nQ: {question}\n   confidence {result.confidence:.3f}  refused {result.refused}  retrieved {result.retrieved}")
    print(f"   citations {result.citations}\n   A: {result.text}")
    if canary:
        print(f"   canary {canary!r} in the answer: {canary.lower() in result.text.lower()}")


def calibrate(retriever: Retriever) -> None:
    ins = [retriever.search(q, 1)[0].score for q in DEV["in_corpus"]]
    outs = [retriever.search(q, 1)[0].score for q in DEV["out_of_corpus"]]
    print(f"dev in-corpus scores:     min {min(ins):.3f}  mean {sum(ins) / len(ins):.3f}  ({len(ins)} questions)")
    print(f"dev out-of-corpus scores: max {max(outs):.3f}  mean {sum(outs) / len(outs):.3f}  ({len(outs)} questions)")
    for target in (0.9, 0.95, 1.0):
        threshold = answerer.calibrate_threshold(ins, outs, target_refusal=target)
        answered = sum(s >= threshold for s in ins) / len(ins)
        refused = sum(s < threshold for s in outs) / len(outs)
        print(f"target_refusal {target:.2f}: threshold {threshold:.4f}  dev answer rate {answered:.3f}  refusal {refused:.3f}")


def main() -> None:
    retriever = Retriever.load()
    if "--calibrate" in sys.argv:
        calibrate(retriever)
        return
    example = DEV["injection_examples"][0]
    attacked = Poisoned(retriever, example["text"])
    question = "How does the with statement work?"
    if "--obedient" in sys.argv:
        show(question, answerer.answer(question, attacked, chat=obedient(example["canary"])), example["canary"])
        return
    for q in ("What does the global statement do?", "How are hexadecimal integer literals written?",
              "How do I bake sourdough bread?"):
        show(q, answerer.answer(q, retriever))
    show(question, answerer.answer(question, attacked), example["canary"])


if __name__ == "__main__":
    main()
