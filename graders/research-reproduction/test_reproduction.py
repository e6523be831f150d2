"""Grader for research-reproduction: reproduce "hybrid retrieval beats lexical and dense" on a frozen
slice of the Python language reference, report it with machine-readable front matter, and record a
tool decision on measured figures.

Every check tests a requirement the brief states and is required. Toy corpora, verdict and decision
tables, document subsets and generated "passage" queries come from the run's fresh seed. The
grader re-runs the learner's script twice: on a held-out query file (WordLlama only, compared
exactly with the grader's reference) and on the shipped files (both embedders), and every number
in report.md and decision.md must match that re-run within 5%."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _reference import (
    CORPUS_SHA256,
    METHODS,
    METRICS,
    bm25_scores,
    decide,
    documents,
    evaluate_wordllama,
    front_matter,
    held_out_set,
    queries,
    rrf,
    synthetic_figures,
    synthetic_numbers,
    toy_corpus,
    verdict,
)

from workbench.core.worker import kill_tree
from workbench.grader_plugin import call_learner

MATCH_REL = 0.05            # every reported number within 5% of the re-run
EXACT = 1e-9                # held-out metrics against the grader's reference
RERUN_TIMEOUT_S = 150
MIN_LOG_ENTRIES = 3
# MiniLM int8 on the shipped 52 questions (reference run); a re-run may differ by one question's rank
MINILM_REFERENCE = {"bm25": {"recall_at_5": 44 / 52, "mrr_at_5": 0.6019230769230769},
                    "dense": {"recall_at_5": 48 / 52, "mrr_at_5": 0.6477564102564102},
                    "hybrid": {"recall_at_5": 46 / 52, "mrr_at_5": 0.6496794871794871}}
ONE_QUESTION = 1 / 52 + 1e-9
VERDICTS = ("reproduced", "partial", "refuted")

_call = call_learner


@pytest.fixture(scope="session")
def work(lab_dir) -> Path:
    folder = lab_dir / ".grader-rerun"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    return folder


class Reruns:
    """The learner's script, run in the sandbox on demand (a mutant stops at its first failing check)."""

    def __init__(self, learner_process, work: Path, seed: int) -> None:
        self._start, self._work, self._seed = learner_process, work, seed
        self._done: dict[str, tuple[dict | None, str]] = {}

    def _run(self, name: str, extra: list[str]) -> tuple[dict | None, str]:
        out = self._work / f"{name}.json"
        argv = [sys.executable, "experiment.py", "--out", str(out), *extra]
        proc = self._start(argv, env={"PYTHONDONTWRITEBYTECODE": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = proc.communicate(timeout=RERUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            return None, f"python experiment.py ran over {RERUN_TIMEOUT_S} s"
        tail = " | ".join((output or b"").decode("utf-8", "replace").strip().splitlines()[-3:])
        if proc.returncode != 0:
            return None, f"python experiment.py {' '.join(extra)} exited {proc.returncode}: {tail}"
        if not out.is_file():
            return None, f"python experiment.py --out {out.name} wrote no file there"
        try:
            return json.loads(out.read_text("utf-8")), tail
        except ValueError as exc:
            return None, f"the file experiment.py wrote is not JSON: {exc}"

    def held_out(self) -> tuple[dict | None, str, dict]:
        """(results, message, reference) of a re-run on a seeded held-out query file, WordLlama only."""
        if "held_out" not in self._done:
            docs, items = held_out_set(self._seed + 101)
            (self._work / "corpus.json").write_text(json.dumps({"documents": docs}), "utf-8")
            (self._work / "queries.json").write_text(json.dumps({"queries": items}), "utf-8")
            self._done["held_out"] = self._run("held_out", ["--corpus", str(self._work / "corpus.json"), "--queries",
                                                            str(self._work / "queries.json"), "--embedders", "wordllama"])
            self._reference = evaluate_wordllama(docs, items)
        return (*self._done["held_out"], self._reference)

    def shipped(self) -> tuple[dict | None, str]:
        """The re-run on the shipped corpus.json and queries.json, both embedders (the report's numbers)."""
        if "shipped" not in self._done:
            self._done["shipped"] = self._run("shipped", [])
        return self._done["shipped"]


@pytest.fixture(scope="session")
def reruns(learner_process, work, seed) -> Reruns:
    return Reruns(learner_process, work, seed)


@pytest.fixture(scope="session")
def shipped(reruns) -> dict:
    results, message = reruns.shipped()
    if results is None:
        pytest.fail(message, pytrace=False)
    return results


def _run_numbers(results: dict, embedder: str, what: str) -> dict:
    try:
        run = results["runs"][embedder]
        return {m: {x: float(run[m][x]) for x in METRICS} for m in METHODS} | {"embed_s": float(run["embed_s"])}
    except (KeyError, TypeError, ValueError):
        pytest.fail(f"{what}: results.json needs runs.{embedder}.<bm25|dense|hybrid>.<recall_at_5|mrr_at_5> and "
                    f"runs.{embedder}.embed_s as numbers (see the brief's schema)", pytrace=False)


def _close(reported: float, measured: float) -> bool:
    return abs(reported - measured) <= MATCH_REL * max(abs(measured), 1e-9)


def _read_doc(lab_dir: Path, name: str) -> tuple[dict, str]:
    path = lab_dir / name
    if not path.is_file():
        pytest.fail(f"{name} is missing from your lab folder", pytrace=False)
    try:
        meta, body = front_matter(path.read_text("utf-8"))
    except Exception as exc:  # yaml errors carry the line
        pytest.fail(f"{name}: the front matter is not valid YAML: {exc}", pytrace=False)
    if meta is None:
        pytest.fail(f"{name} must start with YAML front matter between two '---' lines", pytrace=False)
    return meta, body


# -- 1. BM25 ---------------------------------------------------------------------------------------------

@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_bm25_matches_okapi(learner, seed, record_metric):
    """bm25_scores equals Okapi BM25 (k1=1.5, b=0.75, distinct query terms, idf with the 1 +) on seeded toy chunks"""
    worst, checked = 0.0, 0
    for round_ in range(3):
        chunks, items = toy_corpus(seed + round_)
        for query in items:
            want = bm25_scores(chunks, query)
            got = [float(x) for x in _call("bm25_scores", learner.bm25_scores, chunks, query)]
            assert len(got) == len(chunks), f"bm25_scores returned {len(got)} scores for {len(chunks)} chunks"
            for index, (g, w) in enumerate(zip(got, want, strict=True)):
                error = abs(g - w) / max(abs(w), 1e-12) if w else abs(g)
                worst = max(worst, error)
                checked += 1
                assert error < 1e-6, (
                    f"bm25_scores(chunks, {query!r})[{index}] = {g:.6f}, Okapi BM25 gives {w:.6f} (chunk "
                    f"{chunks[index][:50]!r}...): tokens re.findall(r'\\w+', text.lower()), each distinct query term "
                    "once, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), k1 = 1.5, b = 0.75")
    record_metric("scores_checked", checked)
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="generative-ai", points=1, hint=3, required=True)
def test_rrf_matches_reference(learner, seed, record_metric):
    """rrf() fuses the top 50 of each ranking with 1 / (60 + rank), rank from 1, on seeded rankings of 60-200 chunks"""
    rng = random.Random(seed + 5)
    worst = 0.0
    for _ in range(4):
        n_chunks = rng.randint(60, 200)
        rankings = [rng.sample(range(n_chunks), n_chunks) for _ in range(rng.choice((2, 3)))]
        want = rrf(rankings, n_chunks)
        got = [float(x) for x in _call("rrf", learner.rrf, rankings, n_chunks)]
        assert len(got) == n_chunks, f"rrf(rankings, {n_chunks}) returned {len(got)} scores, one per chunk needed"
        for index, (g, w) in enumerate(zip(got, want, strict=True)):
            worst = max(worst, abs(g - w))
            assert abs(g - w) < 1e-12, (
                f"rrf() gives chunk {index} {g:.8f}, reciprocal-rank fusion gives {w:.8f} "
                f"({len(rankings)} rankings of {n_chunks}): only the top 50 of each ranking count, 1 / (60 + rank), "
                "rank from 1, chunks in no top 50 score 0")
    record_metric("max_abs_error", worst)


# -- 2. the verdict rule -------------------------------------------------------------------------------

@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True)
def test_verdict_follows_from_numbers(learner, seed, record_metric):
    """verdict() applies the stated rule on seeded tables of every shape (ahead, behind, mixed, tied; BM25 or dense the stronger)"""
    tables = synthetic_numbers(seed)
    for table in tables:
        want = verdict(table)
        got = _call("verdict", learner.verdict, table)
        assert got == want, (
            f"verdict({json.dumps(table)}) = {got!r}, the rule gives {want!r}: compare hybrid with the BETTER of bm25 "
            "and dense on each metric; reproduced = >= on both and > on one, refuted = < on both, else partial")
    record_metric("tables", len(tables))


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=2, required=True)
def test_decision_rule(learner, seed, record_metric):
    """decide() picks the higher hybrid MRR@5, and the faster tool when the two are within 0.02"""
    tables = synthetic_figures(seed)
    for table in tables:
        want = decide(table)
        got = _call("decide", learner.decide, table)
        assert got == want, (f"decide({json.dumps(table)}) = {got!r}, the rule gives {want!r}: the higher "
                             "hybrid_mrr_at_5 wins unless the gap is under 0.02, then the lower embed_s")
    record_metric("tables", len(tables))


# -- 3. the experiment generalises -----------------------------------------------------------------

@pytest.mark.check(skill="generative-ai", points=3, hint=3, required=True)
def test_evaluate_matches_reference_on_held_out(learner, seed, record_metric):
    """evaluate() on a seeded document subset with generated passage queries equals the reference (WordLlama)"""
    docs, items = held_out_set(seed)
    want = evaluate_wordllama(docs, items)
    got = _call("evaluate", learner.evaluate, docs, items, "wordllama")
    record_metric("queries", len(items))
    for method in METHODS:
        for metric in METRICS:
            try:
                value = float(got[method][metric])
            except (KeyError, TypeError, ValueError):
                pytest.fail(f"evaluate() must return {{method: {{metric: number}}}} for bm25, dense, hybrid and "
                            f"recall_at_5, mrr_at_5; {method}.{metric} is missing", pytrace=False)
            assert abs(value - want[method][metric]) < EXACT, (
                f"on {len(docs)} documents and {len(items)} held-out questions, evaluate() gives {method} {metric} = "
                f"{value:.4f}, the reference {want[method][metric]:.4f}: ranks from 1, first relevant chunk in the "
                "top 5 (evidence in the whitespace-collapsed chunk), RRF of the top 50, ties in chunk order")
    record_metric("hybrid_mrr", round(want["hybrid"]["mrr_at_5"], 4))


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True)
def test_script_reruns_on_held_out_queries(reruns, record_metric):
    """`python experiment.py --corpus C --queries Q --embedders wordllama --out F` computes on the files it is given"""
    results, message, want = reruns.held_out()
    assert results is not None, message
    got = _run_numbers(results, "wordllama", "the held-out re-run")
    for method in METHODS:
        for metric in METRICS:
            assert abs(got[method][metric] - want[method][metric]) < EXACT, (
                f"re-run on a held-out query file: {method} {metric} = {got[method][metric]:.4f}, the reference on "
                f"those files gives {want[method][metric]:.4f}: compute from --corpus/--queries, never from cached "
                "numbers")
    assert set(results.get("runs", {})) == {"wordllama"}, (
        f"--embedders wordllama must run only WordLlama, the results hold {sorted(results.get('runs', {}))}")
    record_metric("hybrid_recall", round(want["hybrid"]["recall_at_5"], 4))


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True)
def test_script_reproduces_the_shipped_run(shipped, record_metric):
    """The shipped run (both embedders) re-runs: setup is right and MiniLM's numbers agree with the reference run"""
    setup = shipped.get("setup", {})
    assert setup.get("corpus_sha256") == CORPUS_SHA256, (
        f"results.json setup.corpus_sha256 = {setup.get('corpus_sha256')!r}, the corpus file hashes to {CORPUS_SHA256}")
    assert setup.get("queries") == len(queries()) and setup.get("documents") == len(documents()), (
        f"setup says {setup.get('documents')} documents / {setup.get('queries')} queries; the files hold "
        f"{len(documents())} / {len(queries())}")
    assert setup.get("k") == 5, f"setup.k = {setup.get('k')!r}, the experiment measures at k = 5"
    minilm = _run_numbers(shipped, "minilm", "the shipped re-run")
    _run_numbers(shipped, "wordllama", "the shipped re-run")
    for method in METHODS:
        for metric in METRICS:
            assert abs(minilm[method][metric] - MINILM_REFERENCE[method][metric]) <= ONE_QUESTION, (
                f"the re-run gives MiniLM {method} {metric} = {minilm[method][metric]:.4f}; the reference run measured "
                f"{MINILM_REFERENCE[method][metric]:.4f} (one question of 52 is the tolerance)")
    record_metric("minilm_embed_s", round(minilm["embed_s"], 2))


# -- 4. the report -------------------------------------------------------------------------------------------

@pytest.mark.check(skill="generative-ai", points=3, hint=4, required=True)
def test_report_numbers_match_the_rerun(lab_dir, shipped, record_metric):
    """report.md front matter: claim, source, setup, numbers within 5% of the re-run, and the verdict the numbers give"""
    meta, _ = _read_doc(lab_dir, "report.md")
    for key in ("claim", "source"):
        assert isinstance(meta.get(key), str) and len(meta[key].split()) >= 5, (
            f"report.md front matter needs `{key}`: a sentence (>= 5 words), found {meta.get(key)!r}")
    setup = meta.get("setup")
    assert isinstance(setup, dict), "report.md front matter needs a `setup` mapping (embedder, corpus_sha256, queries, k)"
    embedder = setup.get("embedder")
    assert embedder in shipped.get("runs", {}), (
        f"report.md setup.embedder = {embedder!r}: name the embedder of the dense leg, one of {sorted(shipped['runs'])}")
    assert setup.get("corpus_sha256") == CORPUS_SHA256 and setup.get("queries") == len(queries()) and setup.get("k") == 5, (
        f"report.md setup must state corpus_sha256 {CORPUS_SHA256[:12]}..., queries {len(queries())} and k 5; found "
        f"{setup.get('corpus_sha256')!r} / {setup.get('queries')!r} / {setup.get('k')!r}")
    rerun = _run_numbers(shipped, embedder, "the shipped re-run")
    numbers = meta.get("numbers")
    assert isinstance(numbers, dict), "report.md front matter needs `numbers`: {bm25|dense|hybrid: {recall_at_5, mrr_at_5}}"
    reported: dict = {}
    for method in METHODS:
        reported[method] = {}
        for metric in METRICS:
            try:
                value = float(numbers[method][metric])
            except (KeyError, TypeError, ValueError):
                pytest.fail(f"report.md numbers.{method}.{metric} is missing or not a number", pytrace=False)
            assert _close(value, rerun[method][metric]), (
                f"report.md says {method} {metric} = {value}, the grader's re-run of experiment.py measured "
                f"{rerun[method][metric]:.4f} with {embedder}: every number must match the re-run within 5%")
            reported[method][metric] = value
    want = verdict(reported)
    assert meta.get("verdict") == want, (
        f"report.md verdict = {meta.get('verdict')!r}; your numbers give {want!r} by the stated rule (one of {VERDICTS})")
    assert verdict(rerun) == want, (f"the re-run's numbers give {verdict(rerun)!r}, the report's {want!r}: report the "
                                    "numbers the script measures, rounded to no more than 5%")
    record_metric("verdict", want)


@pytest.mark.check(skill="programming", points=1, hint=4, required=True)
def test_report_has_an_experiment_log(lab_dir, record_metric):
    """report.md has an `## Experiment log` with at least 3 dated entries (YYYY-MM-DD), each saying what was done"""
    _, body = _read_doc(lab_dir, "report.md")
    match = re.search(r"^##\s+Experiment log\s*$(.*?)(?=^##\s|\Z)", body, re.M | re.S | re.I)
    assert match, "report.md needs a `## Experiment log` section under the front matter"
    entries = [line for line in match.group(1).splitlines()
               if re.match(r"^\s*[-*]\s+\d{4}-\d{2}-\d{2}\b", line)]
    texts = [re.sub(r"^\s*[-*]\s+\d{4}-\d{2}-\d{2}\W*", "", e).strip() for e in entries]
    real = [t for t in texts if len(t.split()) >= 5 and "TODO" not in t]
    record_metric("log_entries", len(real))
    assert len(set(real)) >= MIN_LOG_ENTRIES, (
        f"the experiment log has {len(set(real))} distinct dated entries of >= 5 words (`- 2026-01-31 what you did "
        f"and saw`); needs >= {MIN_LOG_ENTRIES}")


# -- 5. the decision record ---------------------------------------------------------------------------

@pytest.mark.check(skill="systems-design", points=2, hint=4, required=True)
def test_decision_record_on_measured_figures(lab_dir, shipped, record_metric):
    """decision.md compares minilm and wordllama on re-run figures (within 5%; the faster is the faster) and decides by the rule"""
    meta, _ = _read_doc(lab_dir, "decision.md")
    assert isinstance(meta.get("question"), str) and meta["question"].strip(), "decision.md needs a `question`"
    options = meta.get("options")
    assert isinstance(options, list) and sorted(options) == ["minilm", "wordllama"], (
        f"decision.md options = {options!r}, needs [minilm, wordllama]")
    figures = meta.get("figures")
    assert isinstance(figures, dict) and sorted(figures) == ["minilm", "wordllama"], (
        "decision.md needs `figures` for minilm and wordllama")
    recorded: dict = {}
    for tool in options:
        rerun = _run_numbers(shipped, tool, "the shipped re-run")
        recorded[tool] = {}
        for key, measured in (("hybrid_recall_at_5", rerun["hybrid"]["recall_at_5"]),
                              ("hybrid_mrr_at_5", rerun["hybrid"]["mrr_at_5"])):
            try:
                value = float(figures[tool][key])
            except (KeyError, TypeError, ValueError):
                pytest.fail(f"decision.md figures.{tool}.{key} is missing or not a number", pytrace=False)
            assert _close(value, measured), (f"decision.md says {tool} {key} = {value}, the re-run measured "
                                              f"{measured:.4f}: within 5% needed")
            recorded[tool][key] = value
        try:
            recorded[tool]["embed_s"] = float(figures[tool]["embed_s"])
        except (KeyError, TypeError, ValueError):
            pytest.fail(f"decision.md figures.{tool}.embed_s is missing or not a number", pytrace=False)
        assert recorded[tool]["embed_s"] > 0, f"decision.md figures.{tool}.embed_s must be a measured time > 0"
    rerun_fast = min(options, key=lambda t: _run_numbers(shipped, t, "the shipped re-run")["embed_s"])
    said_fast = min(options, key=lambda t: recorded[t]["embed_s"])
    assert said_fast == rerun_fast, (f"decision.md says {said_fast} embeds faster; the re-run measured {rerun_fast} "
                                     "faster: record measured timings")
    want = decide(recorded)
    assert meta.get("decision") == want, (
        f"decision.md decision = {meta.get('decision')!r}; its figures give {want!r} by the rule (higher hybrid MRR@5 "
        "unless within 0.02, then the faster)")
    record_metric("decision", want)
