"""How data/corpus.json was made (run by the lab author, never by the grader).

Chunks 32 topics of CPython 3.11's `pydoc_data.topics` (the text of `help("try")` and friends)
into paragraph-aligned chunks of at most MAX_CHARS characters, and writes data/corpus.json.
The grader pins the result by its SHA-256 (the text changes between Python versions).
Relevance judgments (data/queries.json) are derived from each query's evidence passages by
`judge()` below and frozen with the queries.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from workbench.grading_kit import split_paragraph

DATA = Path(__file__).resolve().parent / "data"
DEV_SET = Path(__file__).resolve().parents[2] / "labs" / "rag-eval-harness" / "starter" / "dev_set.json"
DEV_TOPICS = ["with", "try", "raise", "exceptions", "context-managers", "function"]
DEV_UNANSWERABLE = 2  # how many of the queries without any relevant chunk go into the dev set
MAX_CHARS = 420
TOPICS = [
    "assert", "break", "continue", "del", "global", "nonlocal", "return", "pass", "while", "for", "if",
    "lambda", "yield", "raise", "try", "with", "import", "class", "function", "assignment", "augassign",
    "comparisons", "booleans", "slicings", "dict", "lists", "exceptions", "context-managers", "integers",
    "floating", "async", "typesmapping",
]



def chunk_topic(topic: str, text: str) -> list[dict]:
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces = [piece for p in paragraphs for piece in split_paragraph(p, MAX_CHARS)]
    chunks, current = [], ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > MAX_CHARS:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return [{"id": f"{topic}#{i}", "topic": topic, "text": chunk} for i, chunk in enumerate(chunks)]


def normalise(text: str) -> str:
    return " ".join(text.split())


def judge(chunks: list[dict], evidence: list[dict]) -> dict[str, int]:
    """Graded judgments: each evidence passage gives its grade (3 = answers the question, 2 =
    supports it) to every chunk containing it; the chunks right before and after a grade-3 chunk
    in the same topic get 1 (same section, context but not the answer)."""
    qrels: dict[str, int] = {}
    order = {c["id"]: i for i, c in enumerate(chunks)}
    for item in evidence:
        hits = [c for c in chunks if normalise(item["text"]) in normalise(c["text"])
                and (item.get("topic") is None or c["topic"] == item["topic"])]
        if not hits:
            raise SystemExit(f"evidence not found: {item}")
        for c in hits:
            qrels[c["id"]] = max(qrels.get(c["id"], 0), item["grade"])
    for chunk_id, grade in list(qrels.items()):
        if grade != 3:
            continue
        i = order[chunk_id]
        for j in (i - 1, i + 1):
            if 0 <= j < len(chunks) and chunks[j]["topic"] == chunks[i]["topic"]:
                qrels.setdefault(chunks[j]["id"], 1)
    return dict(sorted(qrels.items(), key=lambda kv: order[kv[0]]))


def main() -> None:
    import pydoc_data.topics

    chunks = [c for topic in TOPICS for c in chunk_topic(topic, pydoc_data.topics.topics[topic])]
    corpus = {"format_version": 1,
              "source": f"CPython {sys.version.split()[0]} pydoc_data.topics (Python Software Foundation License), "
                        f"{len(TOPICS)} topics in paragraph-aligned chunks of at most {MAX_CHARS} characters",
              "chunks": chunks}
    (DATA / "corpus.json").write_text(json.dumps(corpus, ensure_ascii=False, indent=0) + "\n", "utf-8")
    spec = json.loads((DATA / "query_spec.json").read_text("utf-8")) if (DATA / "query_spec.json").exists() else None
    if spec:
        queries = []
        for i, q in enumerate(spec["queries"], start=1):
            qrels = judge(chunks, q["evidence"]) if q["evidence"] else {}
            queries.append({"id": f"q{i:03d}", "text": q["text"], "qrels": qrels})
        (DATA / "queries.json").write_text(json.dumps({"format_version": 1, "queries": queries}, ensure_ascii=False, indent=0) + "\n", "utf-8")
        dev_ids = {c["id"] for c in chunks if c["topic"] in DEV_TOPICS}
        dev_queries = [q for q in queries if q["qrels"] and set(q["qrels"]) <= dev_ids]
        dev_queries += [q for q in queries if not q["qrels"]][:DEV_UNANSWERABLE]
        dev = {"format_version": 1,
               "source": corpus["source"] + f"; the dev slice: topics {', '.join(DEV_TOPICS)}",
               "chunks": [c for c in chunks if c["id"] in dev_ids], "queries": dev_queries}
        DEV_SET.write_text(json.dumps(dev, ensure_ascii=False, indent=0) + "\n", "utf-8")
        print(len(dev["chunks"]), "dev chunks,", len(dev_queries), "dev queries")
    print(len(chunks), "chunks", sum(len(c["text"]) for c in chunks), "chars")


if __name__ == "__main__":
    main()
