"""MiniLM int8 embeddings (onnxruntime, no torch), the doctor, and the RAG lab's frozen data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

try:
    from workbench.llm.embeddings import model_files

    model_files()
    HAVE_EMBEDDINGS = True
except Exception:  # noqa: BLE001
    HAVE_EMBEDDINGS = False


@pytest.mark.skipif(not HAVE_EMBEDDINGS, reason="embedding model not installed ('just setup')")
def test_embeddings_are_unit_length_and_meaningful() -> None:
    code = (
        "import sys, numpy as np\nfrom workbench.llm import embed\n"
        "v = embed(['How do I open a file?', 'Reading a file from disk', 'The weather is sunny today.', ''])\n"
        "print(v.shape, v.dtype, round(float(np.abs(np.linalg.norm(v[:3], axis=1) - 1).max()), 5), "
        "float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2, 'torch' in sys.modules, 'litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.split() == ["(4,", "384)", "float32", "0.0", "True", "False", "False"], out


def test_rag_corpus_copies_are_identical_and_hashed() -> None:
    grader_copy = REPO / "graders" / "rag-retrieval" / "data" / "corpus.json"
    learner_copy = REPO / "labs" / "rag-retrieval" / "starter" / "corpus.json"
    digest = hashlib.sha256(grader_copy.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(learner_copy.read_bytes()).hexdigest()
    assert digest in (REPO / "labs" / "rag-retrieval" / "README.md").read_text()
    assert digest in (REPO / "graders" / "rag-retrieval" / "_rag_data.py").read_text()
    dev = json.loads((REPO / "labs" / "rag-retrieval" / "starter" / "dev_queries.json").read_text())["queries"]
    held = json.loads((REPO / "graders" / "rag-retrieval" / "data" / "queries.json").read_text())["queries"]
    assert len(dev) < len(held) / 3 and all(item in held for item in dev)
    corpus = {d["id"]: " ".join(d["text"].split()) for d in json.loads(grader_copy.read_text())["documents"]}
    for item in held:
        assert " ".join(item["evidence"].split()) in corpus[item["doc"]], item


def test_doctor_reports_each_problem_with_a_fix(tmp_path: Path) -> None:
    from conftest import run_cli

    result = run_cli("doctor", "--json", env={"WORKBENCH_STATE_DIR": str(tmp_path / "state"), "WORKBENCH_MODEL": "local"},
                     timeout=240)
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["python"]["status"] == "ok" and "package litellm" in checks
    assert checks["embedded server"]["status"] in ("warn", "fail")
    assert all(c["fix"] for c in checks.values() if c["status"] != "ok")
    if HAVE_EMBEDDINGS:
        assert checks["embeddings"]["status"] == "ok"
