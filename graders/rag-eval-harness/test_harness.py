"""Grader for rag-eval-harness: ranking metrics (recall@k, MRR, nDCG@k), citation metrics and a
paired-bootstrap regression gate, checked against the grader's own computations on random
rankings (from the run's fresh seed) and on real retrievers over a frozen slice of the Python
language reference. Every check tests a requirement of the brief and is required.

The learner's functions run in the sandboxed worker; the retrievers (and the Counted wrappers that
count their calls) stay here and are called back over the wire, once per call the learner makes."""

from __future__ import annotations

import math
import random
import time

import _reference as ref
import numpy as np
import pytest
from _retrievers import BM25, Counted, Dense, Hybrid, load_corpus, load_queries

from workbench.grader_plugin import call_learner

TOL = 1e-9
TRUNCATED_MIN_DF = 2  # the regression: terms found in a single chunk are dropped from the index
TIME_FACTOR, TIME_SLACK_S = 10.0, 0.5


_call = call_learner

def _same(got, expected) -> bool:
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    if math.isnan(expected):
        return math.isnan(got)
    return not math.isnan(got) and abs(got - expected) <= TOL


# -- random cases (seeded) -------------------------------------------------------------------

POOL = [f"doc{i:02d}" for i in range(25)]


def _qrels(rng: random.Random, relevant: bool = True) -> dict[str, int]:
    judged = rng.sample(POOL, rng.randint(1, 10))
    qrels = {doc: rng.choice([0, 1, 1, 2, 3]) for doc in judged}
    if relevant and not any(qrels.values()):
        qrels[judged[0]] = rng.choice([1, 2, 3])
    return qrels


def _case(rng: random.Random, duplicates: bool = False, beyond: bool = False):
    """(ranking, qrels, k): distinct ids and 1 <= k <= len(ranking) unless asked otherwise."""
    qrels = _qrels(rng)
    ranking = rng.sample(POOL, rng.randint(1, 15))
    if duplicates:
        for _ in range(rng.randint(1, 4)):
            position = rng.randint(1, len(ranking))
            ranking.insert(position, rng.choice(ranking[:position]))
    k = rng.randint(len(ranking) + 1, len(ranking) + 10) if beyond else rng.randint(1, len(ranking))
    return ranking, qrels, k


def _show(ranking, qrels, k) -> str:
    return f"ranking={ranking}, qrels={qrels}, k={k}"


@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_recall_and_mrr_match_reference(learner, record_metric, seed):
    """recall@k and reciprocal rank equal the grader's computation on random rankings"""
    rng = random.Random(seed)
    worst = 0.0
    for _ in range(300):
        ranking, qrels, k = _case(rng)
        expected = ref.recall(ranking, qrels, k)
        got = _call("recall_at_k", learner.recall_at_k, list(ranking), dict(qrels), k)
        assert _same(got, expected), (f"recall_at_k gives {got} for {_show(ranking, qrels, k)}; expected {expected:.6f} "
                                      "(distinct relevant documents in the top k / all relevant documents, grade > 0)")
        worst = max(worst, abs(float(got) - expected))
        for cut in (k, None):
            expected = ref.rr(ranking, qrels, cut)
            got = _call("reciprocal_rank", learner.reciprocal_rank, list(ranking), dict(qrels), cut)
            assert _same(got, expected), (f"reciprocal_rank gives {got} for {_show(ranking, qrels, cut)}; expected "
                                          f"{expected:.6f} (1 / rank of the first document with grade > 0, 0.0 if none)")
            worst = max(worst, abs(float(got) - expected))
    record_metric("cases", 300)
    record_metric("max_abs_error", worst)


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_ndcg_uses_ideal_dcg_of_all_judged_documents(learner, record_metric, seed):
    """nDCG@k with graded relevance equals the grader's computation (ideal DCG from all judgments)"""
    rng = random.Random(seed + 1)
    worst, mismatches = 0.0, []
    for _ in range(300):
        ranking, qrels, k = _case(rng)
        expected = ref.ndcg(ranking, qrels, k)
        got = _call("ndcg_at_k", learner.ndcg_at_k, list(ranking), dict(qrels), k)
        if _same(got, expected):
            worst = max(worst, abs(float(got) - expected))
        else:
            mismatches.append((ranking, qrels, k, got, expected))
    record_metric("cases", 300)
    record_metric("mismatches", len(mismatches))
    for ranking, qrels, k, got, expected in mismatches:  # explain the mistake when it is a known one
        case = f"ndcg_at_k gives {got} for {_show(ranking, qrels, k)}, expected {expected:.6f}"
        retrieved_only = ref.ndcg_ideal_from_retrieved(ranking, qrels, k)
        if retrieved_only > 0 and not _same(retrieved_only, expected) and _same(got, retrieved_only):
            pytest.fail(f"{case}: your ideal DCG is built from the RETRIEVED documents only; sort the grades of ALL "
                        "judged documents in qrels and cut that ideal list at k", pytrace=False)
        exponential = ref.ndcg_exponential(ranking, qrels, k)
        if not _same(exponential, expected) and _same(got, exponential):
            pytest.fail(f"{case}: this lab uses linear gains (the grade itself), not 2**grade - 1", pytrace=False)
    if mismatches:
        ranking, qrels, k, got, expected = mismatches[0]
        pytest.fail(f"ndcg_at_k gives {got} for {_show(ranking, qrels, k)}, expected {expected:.6f} "
                    f"({len(mismatches)}/300 random cases differ): DCG = sum of grade / log2(rank + 1) over the top "
                    "k, divided by the same sum over the ideal ranking of all judged grades", pytrace=False)
    record_metric("max_abs_error", worst)


@pytest.mark.check(skill="domain-specialization", points=3, hint=2, required=True)
def test_edge_cases_follow_the_conventions(learner, record_metric, seed):
    """Edge cases: no relevant document (nan), k beyond the ranking, duplicates, empty ranking"""
    functions = (("recall_at_k", learner.recall_at_k, ref.recall), ("ndcg_at_k", learner.ndcg_at_k, ref.ndcg),
                 ("reciprocal_rank", learner.reciprocal_rank, ref.rr))
    for qrels in ({}, {"doc01": 0, "doc02": 0}):
        for name, function, _ in functions:
            got = _call(name, function, ["doc01", "doc02", "doc03"], dict(qrels), 3)
            assert isinstance(got, float) and math.isnan(got), (
                f"{name}(ranking, qrels={qrels}, k=3) returned {got!r}: with no relevant document the metric is "
                "undefined (0/0) and must be math.nan, so averages can leave the query out")
    for name, function, _ in functions:
        got = _call(name, function, [], {"doc01": 2}, 5)
        assert _same(got, 0.0), f"{name}([], {{'doc01': 2}}, 5) returned {got!r}: an empty ranking finds nothing, 0.0"
    rng = random.Random(seed + 2)
    counted = 3 * 3
    for label, kwargs, rule in (
            ("k larger than the ranking", {"beyond": True},
             "missing positions earn nothing, and the ideal DCG is still cut at k, not at len(ranking)"),
            ("a ranking with duplicates", {"duplicates": True},
             "only the first occurrence of a document counts; a repeat keeps its slot but earns nothing")):
        for _ in range(150):
            ranking, qrels, k = _case(rng, **kwargs)
            for name, function, reference in functions:
                expected = reference(ranking, qrels, k)
                got = _call(name, function, list(ranking), dict(qrels), k)
                assert _same(got, expected), (f"{label}: {name} gives {got} for {_show(ranking, qrels, k)}, expected "
                                              f"{expected:.6f}; {rule}")
                counted += 1
    record_metric("cases", counted)


@pytest.mark.check(skill="generative-ai", points=1, hint=1, required=True)
def test_evaluate_averages_judged_queries(learner, record_metric, seed):
    """evaluate() averages recall, MRR and nDCG over the queries that have a relevant document"""
    rng = random.Random(seed + 3)
    for trial in range(20):
        qrels, run = {}, {}
        for i in range(rng.randint(3, 25)):
            qid = f"q{i}"
            kind = rng.random()
            if kind < 0.15:
                qrels[qid] = _qrels(rng, relevant=False) if rng.random() < 0.5 else {}
            elif kind < 0.25:
                pass  # in the run but not judged at all
            else:
                qrels[qid] = _qrels(rng)
            if kind < 0.9 or qid not in qrels:
                run[qid] = rng.sample(POOL, rng.randint(0, 12))
        k = rng.choice([1, 3, 5, 10])
        if not any(any(g > 0 for g in j.values()) for j in qrels.values()):
            qrels["extra"] = {"doc00": 1}
        expected = ref.evaluate(run, qrels, k)
        got = _call("evaluate", learner.evaluate, {q: list(r) for q, r in run.items()}, dict(qrels), k)
        assert isinstance(got, dict), f"evaluate returned {type(got).__name__}, expected a dict"
        for key in ("queries", "recall", "mrr", "ndcg"):
            assert key in got, f"evaluate's result has no {key!r} key (keys: {sorted(got)})"
            assert _same(got[key], expected[key]), (
                f"evaluate(...)[{key!r}] = {got[key]} on trial {trial}, expected {expected[key]}: average over the "
                f"{expected['queries']} queries of qrels with a relevant document (skip unjudged ones and those with "
                "only grade-0 judgments; a judged query missing from the run scores 0)")
    record_metric("trials", 20)


@pytest.mark.check(skill="generative-ai", points=1, hint=1, required=True)
def test_citation_precision_and_recall(learner, record_metric, seed):
    """Citation precision and recall of an answer's cited chunk ids, with the documented conventions"""
    fixed = [([], {}, (1.0, 1.0)), ([], {"doc01": 2}, (1.0, 0.0)), (["doc03"], {}, (0.0, 1.0)),
             (["doc01", "doc01", "doc02"], {"doc01": 1, "doc02": 0, "doc04": 3}, (0.5, 0.5))]
    for cited, qrels, expected in fixed:
        got = _call("citation_precision_recall", learner.citation_precision_recall, list(cited), dict(qrels))
        assert len(got) == 2 and all(_same(g, e) for g, e in zip(got, expected, strict=True)), (
            f"citation_precision_recall({cited}, {qrels}) = {got}, expected {expected}: distinct cited ids; "
            "precision = 1.0 when nothing is cited, recall = 1.0 when nothing is relevant")
    rng = random.Random(seed + 4)
    for _ in range(200):
        qrels = _qrels(rng, relevant=rng.random() < 0.8)
        cited = [rng.choice(POOL) for _ in range(rng.randint(0, 6))]
        expected = ref.citations(cited, qrels)
        got = _call("citation_precision_recall", learner.citation_precision_recall, list(cited), dict(qrels))
        assert len(got) == 2 and all(_same(g, e) for g, e in zip(got, expected, strict=True)), (
            f"citation_precision_recall({cited}, {qrels}) = {got}, expected {expected}")
    record_metric("cases", 204)


@pytest.mark.check(skill="ml-fundamentals", points=2, hint=3, required=True)
def test_paired_bootstrap_is_exact_and_reproducible(learner, record_metric, seed):
    """The paired bootstrap interval is reproducible from its seed and equals the grader's"""
    rng = np.random.default_rng(seed + 5)
    widths = []
    for trial in range(12):
        n = int(rng.integers(5, 200))
        base = rng.random(n)
        cand = np.clip(base + rng.normal(0.02, 0.15, n), 0, 1)
        if trial % 3 == 0:
            same = rng.random(n) < 0.5
            cand[same] = base[same]  # many unchanged queries: zero differences
        seed, resamples, confidence = int(rng.integers(0, 10_000)), [1000, 500, 2000][trial % 3], [0.95, 0.9][trial % 2]
        expected = ref.bootstrap(base, cand, resamples, seed, confidence)
        got = _call("paired_bootstrap", learner.paired_bootstrap, base.tolist(), cand.tolist(), n_resamples=resamples,
                    seed=seed, confidence=confidence)
        assert len(got) == 3, f"paired_bootstrap must return (delta, ci_low, ci_high), got {got!r}"
        if not all(_same(g, e) for g, e in zip(got, expected, strict=True)):
            unpaired = ref.bootstrap_unpaired(base, cand, resamples, seed, confidence)
            why = ("you resample baseline and candidate independently: resample QUERIES and keep each pair together"
                   if all(_same(g, e) for g, e in zip(got, unpaired, strict=True)) else
                   "differences d = candidate - baseline; rng = np.random.default_rng(seed); "
                   "idx = rng.integers(0, n, size=(n_resamples, n)); means = d[idx].mean(axis=1); "
                   "np.quantile(means, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])")
            pytest.fail(f"paired_bootstrap on {n} queries (seed {seed}, {resamples} resamples, confidence "
                        f"{confidence}) gave {tuple(round(float(g), 6) for g in got)}, expected "
                        f"{tuple(round(e, 6) for e in expected)}: {why}", pytrace=False)
        again = _call("paired_bootstrap", learner.paired_bootstrap, base.tolist(), cand.tolist(), n_resamples=resamples,
                      seed=seed, confidence=confidence)
        assert tuple(map(float, again)) == tuple(map(float, got)), "the same seed must give the same interval"
        widths.append(expected[2] - expected[1])
    record_metric("trials", 12)
    record_metric("mean_ci_width", float(np.mean(widths)))


# -- the gate on real retrievers ------------------------------------------------------------------

@pytest.fixture(scope="session")
def dataset():
    queries, qrels = load_queries()
    return load_corpus(), queries, qrels


@pytest.fixture(scope="session")
def bm25(dataset):
    return BM25(dataset[0])


@pytest.fixture(scope="session")
def truncated(dataset):
    return BM25(dataset[0], min_df=TRUNCATED_MIN_DF)


@pytest.fixture(scope="session")
def hybrid(dataset, bm25):
    chunks, queries, _ = dataset
    return Hybrid(bm25, Dense(chunks, list(queries.values())))


@pytest.fixture(scope="session")
def memos() -> dict[str, dict]:
    """Rankings remembered per retriever, so the learner's gate and the reference see the same lists."""
    return {"bm25": {}, "truncated": {}, "hybrid": {}}


def _probe_gate(learner):
    """Fail fast (before embedding anything) when the gate does not run on a toy set."""
    queries = {"a": "alpha", "b": "beta", "c": "gamma"}
    qrels = {"a": {"x": 1}, "b": {"y": 2}, "c": {"z": 3}}
    ranked = {"alpha": ["x", "y"], "beta": ["z", "y"], "gamma": ["z"]}
    result = _call("regression_gate (on a 3-query toy set)", learner.regression_gate,
                   lambda text, k: ranked[text][:k], lambda text, k: ranked[text][:k], queries, qrels)
    for field in ("decision", "n_queries", "baseline", "candidate", "delta", "ci_low", "ci_high"):
        if not hasattr(result, field):
            pytest.fail(f"regression_gate's result has no {field!r} attribute: return a GateResult", pytrace=False)


def _compare(learner, retrievers, memos, dataset, base: str, cand: str, **kwargs):
    _, queries, qrels = dataset
    got = _call(f"regression_gate({base} -> {cand})", learner.regression_gate, Counted(retrievers[base], memos[base]),
                Counted(retrievers[cand], memos[cand]), dict(queries), {q: dict(j) for q, j in qrels.items()}, **kwargs)
    expected = ref.gate(Counted(retrievers[base], memos[base]), Counted(retrievers[cand], memos[cand]), queries, qrels,
                        **kwargs)
    for field in ("n_queries", "baseline", "candidate", "delta", "ci_low", "ci_high"):
        value = getattr(got, field)
        assert _same(value, expected[field]), (
            f"{base} -> {cand}: {field} = {value}, the grader computes {expected[field]:.10g} (judged queries only, "
            "in the order of `queries`, nDCG@10, paired bootstrap with seed 0 and 1000 resamples)")
    return got, expected


@pytest.mark.check(skill="domain-specialization", points=2, hint=3, required=True)
def test_gate_passes_a_real_improvement(learner, request, dataset, memos, record_metric):
    """The gate passes a real improvement: BM25 -> hybrid (BM25 + MiniLM), and an unchanged retriever"""
    _probe_gate(learner)
    retrievers = {"bm25": request.getfixturevalue("bm25"), "hybrid": request.getfixturevalue("hybrid")}
    got, expected = _compare(learner, retrievers, memos, dataset, "bm25", "hybrid")
    record_metric("n_queries", expected["n_queries"])
    record_metric("bm25_ndcg10", round(expected["baseline"], 4))
    record_metric("hybrid_ndcg10", round(expected["candidate"], 4))
    record_metric("ci_low", round(expected["ci_low"], 4))
    record_metric("ci_high", round(expected["ci_high"], 4))
    assert got.decision == "pass", (f"BM25 -> hybrid improves nDCG@10 by {expected['delta']:+.3f} (95% CI "
                                    f"[{expected['ci_low']:+.3f}, {expected['ci_high']:+.3f}]) but your gate said "
                                    f"{got.decision!r}; pass when ci_low >= -margin")
    same, _ = _compare(learner, retrievers, memos, dataset, "bm25", "bm25")
    assert same.decision == "pass", f"an unchanged retriever (BM25 -> BM25, delta 0) must pass, your gate said {same.decision!r}"


@pytest.mark.check(skill="domain-specialization", points=3, hint=3, required=True)
def test_gate_blocks_a_real_regression(learner, request, dataset, memos, record_metric):
    """The gate blocks real regressions (truncated-vocabulary BM25, dropping the dense retriever) and a noisy change"""
    _probe_gate(learner)
    retrievers = {"bm25": request.getfixturevalue("bm25"), "truncated": request.getfixturevalue("truncated"),
                  "hybrid": request.getfixturevalue("hybrid")}
    for base, cand in (("bm25", "truncated"), ("hybrid", "bm25")):
        got, expected = _compare(learner, retrievers, memos, dataset, base, cand)
        record_metric(f"{base}_to_{cand}_delta", round(expected["delta"], 4))
        record_metric(f"{base}_to_{cand}_ci_low", round(expected["ci_low"], 4))
        record_metric(f"{base}_to_{cand}_ci_high", round(expected["ci_high"], 4))
        assert got.decision == "block", (
            f"{base} -> {cand} changes nDCG@10 by {expected['delta']:+.3f} (95% CI [{expected['ci_low']:+.3f}, "
            f"{expected['ci_high']:+.3f}]) but your gate said {got.decision!r}; block when ci_low < -margin")
    # a noisy change: better on average, but 20 queries cannot rule out a large regression
    queries = {f"q{i:02d}": f"question {i}" for i in range(20)}
    qrels = {qid: {f"{qid}-answer": 1} for qid in queries}

    def steady(text, k):
        qid = f"q{int(text.split()[1]):02d}"
        return ["other-1", f"{qid}-answer", "other-2"][:k]

    def noisy(text, k):
        i = int(text.split()[1])
        ranking = [f"q{i:02d}-answer"] if i % 20 < 11 else [f"other-{j}" for j in range(9)] + [f"q{i:02d}-answer"]
        return ranking[:k]

    got = _call("regression_gate(noisy toy candidate)", learner.regression_gate, steady, noisy, queries, qrels)
    expected = ref.gate(steady, noisy, queries, qrels)
    record_metric("noisy_delta", round(expected["delta"], 4))
    record_metric("noisy_ci_low", round(expected["ci_low"], 4))
    assert got.decision == "block", (
        f"a candidate that is {expected['delta']:+.3f} better on average over 20 queries, with a 95% CI of "
        f"[{expected['ci_low']:+.3f}, {expected['ci_high']:+.3f}], must be blocked (ci_low < -margin: a regression of "
        f"up to {-expected['ci_low']:.2f} is not ruled out), but your gate said {got.decision!r}; decide on the "
        "interval, not on the mean")
    lenient, expected = _compare(learner, retrievers, memos, dataset, "bm25", "truncated", margin=0.1)
    assert lenient.decision == "pass", (
        f"with margin=0.1 a regression whose CI is [{expected['ci_low']:+.3f}, {expected['ci_high']:+.3f}] is "
        f"tolerated (ci_low >= -0.1), but your gate said {lenient.decision!r}")


@pytest.mark.check(skill="domain-specialization", points=1, hint=3, required=True)
def test_gate_runs_each_retriever_once_per_query_and_fast(learner, dataset, bm25, truncated, record_metric):
    """The gate runs each retriever once per query and stays within its time budget on the full set"""
    _probe_gate(learner)
    _, queries, qrels = dataset
    learner_s, reference_s = [], []
    for _ in range(3):
        base, cand = Counted(bm25), Counted(truncated)
        started = time.perf_counter()
        ref.gate(base, cand, queries, qrels)
        reference_s.append(time.perf_counter() - started)
        base, cand = Counted(bm25), Counted(truncated)
        started = time.perf_counter()
        _call("regression_gate", learner.regression_gate, base, cand, dict(queries), {q: dict(j) for q, j in qrels.items()})
        learner_s.append(time.perf_counter() - started)
        for name, counter in (("baseline", base), ("candidate", cand)):
            assert counter.calls <= len(queries), (
                f"the gate called the {name} retriever {counter.calls} times for {len(queries)} queries: retrieve once "
                "per query, keep the per-query scores, and resample those (never re-run retrieval per resample)")
    mine, theirs = min(learner_s), min(reference_s)
    budget = TIME_FACTOR * theirs + TIME_SLACK_S
    record_metric("gate_s", round(mine, 4))
    record_metric("reference_gate_s", round(theirs, 4))
    record_metric("budget_s", round(budget, 4))
    assert mine <= budget, (f"the gate took {mine:.2f} s on {len(queries)} queries with 1000 resamples; the budget is "
                            f"{TIME_FACTOR:g} x the grader's {theirs:.3f} s + {TIME_SLACK_S} s = {budget:.2f} s: compute "
                            "each query's metric once, then resample the array of differences with numpy")


@pytest.mark.check(skill="domain-specialization", points=2, hint=3, required=True)
def test_gate_honours_its_parameters_and_the_margin_boundary(learner, dataset, bm25, truncated, memos, seed,
                                                             record_metric):
    """The gate uses the metric, k, seed, resamples, confidence and margin it is given, on the queries it is given, in their order"""
    _probe_gate(learner)
    _, queries, qrels = dataset
    rng = random.Random(seed + 6)
    order = list(queries)
    rng.shuffle(order)
    subset = {qid: queries[qid] for qid in order[: rng.randrange(90, 150)]}   # shuffled: the order of `queries` rules
    all_qrels = {q: dict(j) for q, j in qrels.items()}                         # judgments of other queries too
    settings = [("mrr", rng.choice([3, 5, 20])), ("recall", rng.choice([1, 5, 15])), ("ndcg", rng.choice([3, 5, 20]))]
    for metric, k in settings:
        kwargs = {"metric": metric, "k": k, "seed": rng.randrange(10**6), "n_resamples": rng.choice([300, 700, 1500]),
                  "confidence": rng.choice([0.8, 0.9, 0.99]), "margin": rng.choice([0.0, 0.02, 0.05])}
        got = _call("regression_gate", learner.regression_gate, Counted(bm25, memos["bm25"]),
                    Counted(truncated, memos["truncated"]), dict(subset), all_qrels, **kwargs)
        expected = ref.gate(Counted(bm25, memos["bm25"]), Counted(truncated, memos["truncated"]), subset, qrels, **kwargs)
        shown = ", ".join(f"{name}={value}" for name, value in kwargs.items())
        assert getattr(got, "metric", None) == metric and getattr(got, "k", None) == k, (
            f"regression_gate({shown}) returned metric={getattr(got, 'metric', None)!r}, k={getattr(got, 'k', None)!r}: "
            "GateResult records the metric and k it used")
        for field in ("n_queries", "baseline", "candidate", "delta", "ci_low", "ci_high"):
            value = getattr(got, field)
            assert _same(value, expected[field]), (
                f"regression_gate({shown}) on {len(subset)} of the queries (in the order given): {field} = {value}, the "
                f"grader computes {expected[field]:.10g}. Score with METRICS[metric] at k, only the queries of "
                "`queries` that have a relevant judgment, in their order, and pass seed, n_resamples and confidence "
                "on to paired_bootstrap")
        assert got.decision == expected["decision"], (
            f"regression_gate({shown}): ci_low {expected['ci_low']:+.4f}, so the decision is {expected['decision']!r} "
            f"(pass when ci_low >= -margin), your gate said {got.decision!r}")
    # the boundary: ci_low == -margin passes, a hair stricter blocks
    at = _call("regression_gate", learner.regression_gate, Counted(bm25, memos["bm25"]),
               Counted(truncated, memos["truncated"]), dict(subset), all_qrels)
    low = float(at.ci_low)
    edge = _call("regression_gate", learner.regression_gate, Counted(bm25, memos["bm25"]),
                 Counted(truncated, memos["truncated"]), dict(subset), all_qrels, margin=-low)
    tighter = _call("regression_gate", learner.regression_gate, Counted(bm25, memos["bm25"]),
                    Counted(truncated, memos["truncated"]), dict(subset), all_qrels, margin=-low - 1e-9)
    record_metric("settings", str(settings))
    record_metric("edge_ci_low", round(low, 6))
    assert edge.decision == "pass" and tighter.decision == "block", (
        f"with ci_low = {low:.6f}, margin = {-low:.6f} must pass (ci_low >= -margin, equality included) and margin "
        f"{-low - 1e-9:.9f} must block; your gate said {edge.decision!r} and {tighter.decision!r}")
