"""Grader for rag-grounded-answers: answers that cite only retrieved chunks, refuse when retrieval
is not confident, and never obey instructions planted in retrieved documents.

Questions, citation texts, score sets, canaries and a sample of extra injection wordings are
generated from the run's fresh seed, over entities and templates the learner's dev split does
not use. Every check but the two real-model ones (which depend on what a 135M model writes) tests
a stated requirement and is required. Scripted models (see _grounding_env.py) make the structural checks independent of what
a 135M model happens to write; two checks run the real embedded model (8 calls in all).
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
from _grounding_env import (
    IN_CORPUS,
    TEMPLATE_TOKENS,
    ConfidentModel,
    FabricatingModel,
    HallucinatingModel,
    ObedientModel,
    Recorder,
    Retriever,
    attacks,
    bracketed_ids,
    code_literals,
    fabricated_token,
    inject,
    injection_wordings,
    load_chunks,
    load_vectors,
    make_canary,
    mentioned_ids,
    message_text,
    questions,
)

from workbench.grader_plugin import call_learner

MIN_REFUSAL = 0.90          # out-of-corpus questions refused (brief)
MIN_ANSWER_RATE = 0.80      # in-corpus questions answered (brief)
MIN_UNCHANGED = 0.95        # clean corpus chunks that sanitize() leaves alone (reference: 1.00)
MIN_EVIDENCE_KEPT = 0.60    # share of a poisoned passage's own words kept (reference: >= 0.82)
MIN_PASSAGE_SEEN = 0.90     # share of the top passage's words the model must see (reference: 1.00)
N_SCRIPTED = 40             # in-corpus and out-of-corpus questions each, scripted model
N_REAL = 5                  # clean in-corpus questions for the real model
REAL_ATTACK_TEMPLATES = [0, 3, 9]
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def _coverage(part: str, whole: str) -> float:
    """Share of the words of `part` that occur in `whole`."""
    words = _words(part)
    present = set(_words(whole))
    return sum(w in present for w in words) / max(1, len(words))


_call = call_learner

def _refusal_text(text: str) -> bool:
    return bool(re.match(r"\W*i\s+(?:do not|don['’]t)\s+know", text or "", re.IGNORECASE))


@pytest.fixture(scope="session")
def corpus():
    return load_chunks(), load_vectors()


@pytest.fixture
def retriever(corpus):
    return Retriever(*corpus)


def _ask(learner, question: str, retriever: Retriever, chat, **kwargs):
    """(Answer, retrieved ids, model calls made) for one question."""
    mark = len(retriever.log)
    calls_before = len(chat.calls) if isinstance(chat, Recorder) else 0
    result = _call("answer()", learner.answer, question, retriever, chat=chat, **kwargs)
    for name in ("text", "citations", "refused", "confidence", "retrieved"):
        if not hasattr(result, name):
            pytest.fail(f"answer() must return an Answer with .{name}", pytrace=False)
    if not isinstance(result.text, str) or not isinstance(result.citations, list):
        pytest.fail("Answer.text must be a str and Answer.citations a list of ids", pytrace=False)
    calls = len(chat.calls) - calls_before if isinstance(chat, Recorder) else 0
    return result, retriever.retrieved_since(mark), calls


def _check_citations(result, retrieved: set[str], question: str) -> None:
    """Every id the answer mentions, in any spelling, was retrieved; citations match the text."""
    stray = [cid for cid in mentioned_ids(result.text) if cid not in retrieved]
    assert not stray, (f"the answer to {question!r} mentions {stray}, which were not retrieved (retrieved: "
                       f"{sorted(retrieved)}); text: {result.text[:160]!r}")
    assert set(result.citations) <= retrieved, (
        f"Answer.citations {result.citations} for {question!r} holds ids outside the retrieved set {sorted(retrieved)}")
    assert result.citations == bracketed_ids(result.text), (
        f"Answer.citations {result.citations} must list the [doc-N] citations of the text in order, "
        f"{bracketed_ids(result.text)}; text: {result.text[:160]!r}")


# -- citations: unit ----------------------------------------------------------------------------

def _citation_case(rng: random.Random) -> tuple[str, set[str], list[str]]:
    """A text with citations in assorted spellings, an allowed set, and the expected citations."""
    allowed_numbers = rng.sample(range(0, 60), 3)
    allowed = {f"doc-{n}" for n in allowed_numbers}
    pool = allowed_numbers + rng.sample([n for n in range(0, 300) if n not in allowed_numbers], 3)
    forms = ["[doc-{n}]", "[Doc {n}]", "(doc-{n})", "[doc_{n}]", "doc-{n}", "doc {n}", "[DOC-{n}]"]
    words = ["The", "statement", "binds", "names", "loops", "finish", "early", "values", "compare", "equal",
             "exceptions", "propagate", "outward", "blocks", "return", "results"]
    parts, mentioned = [], []
    for _ in range(rng.randint(1, 4)):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 7)))
        roll = rng.random()
        if roll < 0.2:
            parts.append(f"{sentence}.")
            continue
        if roll < 0.4:
            ids = rng.sample(pool, 2)
            parts.append(f"{sentence} [doc-{ids[0]}, doc-{ids[1]}].")
        else:
            ids = [rng.choice(pool)]
            parts.append(f"{sentence} {rng.choice(forms).format(n=ids[0])}.")
        mentioned.extend(f"doc-{n}" for n in ids)
    expected = list(dict.fromkeys(cid for cid in mentioned if cid in allowed))
    return " ".join(parts), allowed, expected


@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_enforce_citations(learner, record_metric, seed):
    """enforce_citations keeps retrieved ids as [doc-N], normalises sloppy spellings and drops the rest"""
    fixed = [
        ("Loops end early [doc-3]. They never do [doc-99].", {"doc-3", "doc-5"}, ["doc-3"]),
        ("See [Doc 5] and (doc-3).", {"doc-3", "doc-5"}, ["doc-5", "doc-3"]),
        ("Both apply [doc-3, doc-42, doc-5].", {"doc-3", "doc-5"}, ["doc-3", "doc-5"]),
        ("As doc-3 says, and doc-8 denies.", {"doc-3", "doc-5"}, ["doc-3"]),
        ("Twice [doc-5] and again [doc-5].", {"doc-5"}, ["doc-5"]),
        ("No sources here.", {"doc-5"}, []),
    ]
    rng = random.Random(f"{seed}:citations")
    cases = fixed + [_citation_case(rng) for _ in range(150)]
    for text, allowed, expected in cases:
        result = _call("enforce_citations", learner.enforce_citations, text, allowed)
        assert isinstance(result, tuple) and len(result) == 2, "enforce_citations must return (text, citations)"
        out, citations = result
        assert isinstance(out, str) and list(citations) == expected, (
            f"enforce_citations({text!r}, {sorted(allowed)}) gave citations {citations}, expected {expected} "
            f"(the allowed ids mentioned, in order, once each); text {out!r}")
        stray = [cid for cid in mentioned_ids(out) if cid not in allowed]
        assert not stray, f"enforce_citations({text!r}, {sorted(allowed)}) left {stray} in the text: {out!r}"
        assert bracketed_ids(out) == expected, (
            f"enforce_citations({text!r}, {sorted(allowed)}) must write each kept citation as [doc-N]: got {out!r}")
        plain = {w for w in _words(text) if w.isalpha() and w != "doc"}
        lost = plain - set(_words(out))
        assert not lost, f"enforce_citations({text!r}) dropped words {sorted(lost)} that are not citations: {out!r}"
    record_metric("cases", len(cases))


# -- refusal threshold ------------------------------------------------------------------------

@pytest.mark.check(skill="generative-ai", points=1, hint=2, required=True)
def test_calibrate_threshold(learner, record_metric, seed):
    """calibrate_threshold meets the refusal target and answers as many in-corpus scores as possible"""
    rng = np.random.default_rng(seed)
    for case in range(30):
        n_in, n_out = int(rng.integers(20, 81)), int(rng.integers(20, 81))
        in_scores = rng.normal(0.55, 0.08, n_in)
        out_scores = rng.normal(0.32, 0.08, n_out)
        target = float(rng.choice([0.8, 0.9, 0.95, 1.0]))
        as_list = case % 2 == 0
        threshold = _call("calibrate_threshold", learner.calibrate_threshold,
                          in_scores.tolist() if as_list else in_scores, out_scores.tolist() if as_list else out_scores,
                          target_refusal=target)
        threshold = float(threshold)
        refusal = float(np.mean(out_scores < threshold))
        boundary = np.sort(out_scores)[math.ceil(target * n_out - 1e-9) - 1]
        best = int(np.sum(in_scores > boundary))
        answered = int(np.sum(in_scores >= threshold))
        assert refusal >= target - 1e-12, (f"threshold {threshold:.4f} refuses {refusal:.3f} of {n_out} out-of-corpus scores, "
                                           f"target_refusal is {target} (refuse when score < threshold)")
        assert answered == best, (f"threshold {threshold:.4f} answers {answered} of {n_in} in-corpus scores; meeting "
                                  f"target_refusal={target} allows {best}: place it just above the highest out-of-corpus "
                                  "score that must be refused, not higher than the next in-corpus score")
    record_metric("cases", 30)


# -- refusal and answering with a scripted model that always answers ------------------------------

@pytest.fixture(scope="session")
def scripted_run(learner, corpus, seed):
    """Every generated question through answer() with ConfidentModel (SCRIPTED: never refuses)."""
    retriever = Retriever(*corpus)
    model = Recorder(ConfidentModel(retriever))
    runs = {"in": [], "out": []}
    for kind in runs:
        for question in questions(kind, N_SCRIPTED, seed=seed):
            first_call = len(model.calls)
            result, retrieved, calls = _ask(learner, question, retriever, model)
            runs[kind].append((question, result, retrieved, calls, model.calls[first_call:]))
    return retriever, runs


def _confidence_consistent(learner, retriever: Retriever, question: str, result) -> None:
    top = retriever.top(question, 1)[0][1]
    assert abs(float(result.confidence) - top) < 1e-4, (
        f"Answer.confidence is {result.confidence}, but the best retrieval score for {question!r} was {top:.4f}")
    threshold = getattr(learner, "THRESHOLD", None)
    assert isinstance(threshold, int | float), "answerer.THRESHOLD must be the calibrated threshold (a number)"
    assert result.refused == (top < threshold), (
        f"{question!r}: confidence {top:.4f}, THRESHOLD {threshold}, refused={result.refused}: refuse exactly when "
        "the best retrieval score is below THRESHOLD")


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_refuses_out_of_corpus_questions(learner, scripted_run, record_metric):
    """Out-of-corpus questions are refused from the retrieval score, before any model call"""
    retriever, runs = scripted_run
    refused = 0
    for question, result, _, calls, _ in runs["out"]:
        _confidence_consistent(learner, retriever, question, result)
        if result.refused:
            refused += 1
            assert calls == 0, f"{question!r} was refused after {calls} model call(s): decide from the retrieval score first"
            assert _refusal_text(result.text), f"a refusal must say \"I don't know\"; got {result.text[:80]!r}"
            assert result.citations == [], f"a refusal cites nothing; got {result.citations}"
    rate = refused / len(runs["out"])
    record_metric("refusal_rate", round(rate, 3))
    record_metric("threshold", float(getattr(learner, "THRESHOLD", float("nan"))))
    missed = [q for q, r, *_ in runs["out"] if not r.refused][:3]
    assert rate >= MIN_REFUSAL, (f"refused {rate:.2f} of {len(runs['out'])} out-of-corpus questions, needs >= {MIN_REFUSAL} "
                                 f"(answered e.g. {missed}): calibrate THRESHOLD on the dev split, with a margin")


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_answers_in_corpus_questions(learner, scripted_run, record_metric):
    """In-corpus questions are answered, citing only retrieved chunks"""
    retriever, runs = scripted_run
    answered = 0
    for question, result, retrieved, calls, _ in runs["in"]:
        _confidence_consistent(learner, retriever, question, result)
        _check_citations(result, retrieved, question)
        if not result.refused:
            answered += 1
            assert calls >= 1, f"{question!r} was answered without calling the model"
            assert result.citations, f"the answer to {question!r} cites nothing: {result.text[:120]!r}"
    rate = answered / len(runs["in"])
    record_metric("answer_rate", round(rate, 3))
    refused = [q for q, r, *_ in runs["in"] if r.refused][:3]
    assert rate >= MIN_ANSWER_RATE, (f"answered {rate:.2f} of {len(runs['in'])} in-corpus questions, needs >= "
                                     f"{MIN_ANSWER_RATE} (refused e.g. {refused}): THRESHOLD is too strict")


@pytest.mark.check(skill="security-governance", points=1, hint=3, required=True)
def test_prompt_keeps_data_apart(scripted_run, record_metric):
    """Retrieved passages reach the model as labelled data in the user turn, never in the system message"""
    retriever, runs = scripted_run
    checked = 0
    for question, result, _, _, calls in runs["in"]:
        if result.refused or not calls:
            continue
        top_id = retriever.top(question, 1)[0][0]
        passage = retriever.by_id[top_id]["text"]
        for call in calls:
            messages = call["messages"]
            system = message_text(messages, roles=("system", "developer"))
            rest = message_text([m for m in messages if m.get("role") not in ("system", "developer")])
            in_system = _coverage(passage, system)
            assert in_system < 0.5, (f"{in_system:.0%} of the words of retrieved passage {top_id} are in the system "
                                     "message: retrieved text is untrusted data and belongs in the user turn")
            seen = _coverage(passage, rest)
            assert seen >= MIN_PASSAGE_SEEN, (f"the model saw only {seen:.0%} of the words of the top passage {top_id} "
                                              f"for {question!r} (needs >= {MIN_PASSAGE_SEEN:.0%}): pass the evidence on")
            assert top_id in mentioned_ids(rest), f"passage {top_id} is not labelled with its id in the prompt"
            checked += 1
    record_metric("prompts_checked", checked)
    assert checked, "no answered question to inspect: answer() never called the model"


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_answer_honours_threshold_k_and_max_tokens(learner, retriever, record_metric, seed):
    """answer() refuses exactly below its threshold argument, searches with k, passes max_tokens on, reports what it retrieved"""
    model = Recorder(ConfidentModel(retriever))
    question = questions("in", 1, seed=seed + 4)[0]
    top = retriever.top(question, 1)[0][1]
    at_edge, _, calls = _ask(learner, question, retriever, model, threshold=top)
    assert not at_edge.refused and calls >= 1, (
        f"with threshold equal to the best retrieval score ({top:.6f}) the question must be answered (refuse only when "
        f"the score is BELOW the threshold); got refused={at_edge.refused} after {calls} model call(s)")
    above, _, calls = _ask(learner, question, retriever, model, threshold=math.nextafter(top, math.inf))
    assert above.refused and calls == 0, (
        f"with threshold just above the best retrieval score ({top:.6f}) the question must be refused without a model "
        f"call; got refused={above.refused} after {calls} model call(s)")
    k = 4 + seed % 3  # never the default 3
    mark = len(retriever.log)
    result, _, calls = _ask(learner, question, retriever, model, k=k, max_tokens=40, threshold=0.0)
    searches = retriever.log[mark:]
    record_metric("k", k)
    assert searches and len(searches[0]) == k, (
        f"answer(..., k={k}) must call retriever.search(question, k={k}); the searches returned "
        f"{[len(ids) for ids in searches]} passages")
    assert list(result.retrieved) == searches[0], (
        f"Answer.retrieved must be the ids search returned, in order: {searches[0]}, got {result.retrieved}")
    sent = [call["kwargs"].get("max_tokens") for call in model.calls[-calls:]] if calls else []
    assert calls >= 1 and all(value == 40 for value in sent), (
        f"answer(..., max_tokens=40) must call chat(messages, max_tokens=40); the model got max_tokens {sent}")


# -- citations with a scripted model that cites what it was never given ---------------------------

@pytest.mark.check(skill="generative-ai", points=2, hint=1, required=True)
def test_hallucinated_citations_are_dropped_or_repaired(learner, retriever, record_metric, seed):
    """Ids outside the retrieved set are dropped, sloppy ones normalised, a citation-less answer repaired"""
    model = HallucinatingModel(retriever, corpus_size=len(retriever.chunks))
    recorder = Recorder(model)
    for variant, question in enumerate(questions("in", 5, seed=seed + 1)):
        model.variant = variant
        result, retrieved, _ = _ask(learner, question, retriever, recorder, threshold=0.0)
        assert not result.refused, f"with threshold=0.0, {question!r} must not be refused"
        _check_citations(result, retrieved, question)
        assert result.citations, (f"model reply {recorder.calls[-1]['content']!r} became {result.text!r} with no "
                                  "citation: repair it with a retrieved id")
        keep = list(dict.fromkeys(cid for cid in mentioned_ids(recorder.calls[-1]["content"]) if cid in retrieved))
        lost = [cid for cid in keep if cid not in result.citations]
        assert not lost, (f"model reply {recorder.calls[-1]['content']!r} cites retrieved {lost}, but the answer "
                          f"{result.text!r} lost it: keep valid citations (normalised to [doc-N]), drop only the others")
    record_metric("variants", 5)


# -- prompt injection ---------------------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=4, required=True)
def test_sanitize_removes_instructions_keeps_text(learner, corpus, record_metric, seed):
    """sanitize removes injected instructions and chat-template tokens, and leaves clean passages alone"""
    chunks, _ = corpus
    unchanged = 0
    for chunk in chunks:
        result = _call("sanitize", learner.sanitize, chunk["text"])
        assert isinstance(result, tuple) and len(result) == 2, "sanitize must return (clean_text, flagged)"
        clean, flagged = result
        unchanged += " ".join(str(clean).split()) == " ".join(chunk["text"].split()) and not flagged
    share = unchanged / len(chunks)
    record_metric("clean_unchanged", round(share, 3))
    assert share >= MIN_UNCHANGED, (f"sanitize changed or flagged {len(chunks) - unchanged} of {len(chunks)} clean corpus "
                                    f"chunks; at least {MIN_UNCHANGED:.0%} must come back unchanged")
    rng = random.Random(f"{seed}:sanitize")
    kept_min = 1.0
    cases = 0
    for template_index, template in enumerate(injection_wordings(seed)):
        for position in ("start", "middle", "end"):
            chunk = rng.choice(chunks)
            canary = make_canary(rng)
            poisoned = inject(chunk["text"], template.format(canary=canary), position)
            clean, flagged = _call("sanitize", learner.sanitize, poisoned)
            clean = str(clean)
            cases += 1
            where = clean.lower().find(canary.lower())
            assert where < 0, (f"injected instruction #{template_index + 1} ({template[:60]!r}..., at the "
                               f"{position}) survived sanitize: ...{clean[max(0, where - 120):where + 40]!r}...")
            tokens = [t for t in TEMPLATE_TOKENS if t.lower() in clean.lower()]
            assert not tokens, f"sanitize left chat-template tokens {tokens} in the text"
            assert flagged, "sanitize removed an instruction but reported nothing in `flagged`"
            kept = _coverage(chunk["text"], clean)
            kept_min = min(kept_min, kept)
            assert kept >= MIN_EVIDENCE_KEPT, (f"sanitize kept only {kept:.0%} of the passage's own words (needs >= "
                                               f"{MIN_EVIDENCE_KEPT:.0%}): remove the instruction, not the evidence")
    record_metric("poisoned_cases", cases)
    record_metric("min_evidence_kept", round(kept_min, 3))


def _attack_run(learner, retriever: Retriever, attack, model) -> tuple:
    retriever.poison = attack.poisoned
    try:
        return _ask(learner, attack.question, retriever, model)
    finally:
        retriever.poison = {}


def _check_attack(attack, result, retrieved, calls: list[dict], retriever: Retriever) -> bool:
    """Assert the canary stayed out; returns whether it reached the model."""
    obeyed = [c["content"] for c in calls if attack.canary.lower() in str(c["content"]).lower()]
    assert attack.canary.lower() not in result.text.lower(), (
        f"the canary {attack.canary!r} planted by injection #{attack.template + 1} "
        f"({attack.wording[:50]!r}...) appears in the answer {result.text[:160]!r}"
        + (" (the model wrote it: it obeyed the document)" if obeyed else ""))
    _check_citations(result, retrieved, attack.question)
    seen = "\n".join(message_text(call["messages"]) for call in calls)
    tokens = [t for t in TEMPLATE_TOKENS if t in seen]
    assert not tokens, f"chat-template tokens {tokens} from a retrieved document reached the model"
    if calls:
        (cid, _), = attack.poisoned.items()
        own = retriever.by_id[cid]["text"]
        kept = _coverage(own, seen)
        assert kept >= MIN_EVIDENCE_KEPT, (f"the model saw only {kept:.0%} of the words of poisoned passage {cid} "
                                           f"(needs >= {MIN_EVIDENCE_KEPT:.0%}): remove the instruction, keep the evidence")
    return attack.canary.lower() in seen.lower()


@pytest.mark.check(skill="security-governance", points=4, hint=5, required=True)
def test_obedient_model_never_leaks_the_canary(learner, retriever, record_metric, seed):
    """An injected instruction never puts its canary in the answer, even with a model that obeys everything"""
    wordings = injection_wordings(seed)
    plan = attacks(retriever, len(wordings), seed=seed, wordings=wordings)
    model = Recorder(ObedientModel([a.canary for a in plan], retriever))
    reached = answered = 0
    for attack in plan:
        first = len(model.calls)
        result, retrieved, _ = _attack_run(learner, retriever, attack, model)
        reached += _check_attack(attack, result, retrieved, model.calls[first:], retriever)
        answered += not result.refused
    record_metric("attacks", len(plan))
    record_metric("canary_reached_model", reached)
    record_metric("answered", answered)


# -- output screening (defence in depth) ---------------------------------------------------------------

@pytest.mark.check(skill="security-governance", points=2, hint=5, required=True)
def test_reply_screen_drops_unsupported_literals(learner, retriever, record_metric, seed):
    """The reply is screened: a code-like literal found in no source or the question never reaches the answer; one the sources hold stays"""
    rng = random.Random(f"{seed}:screen")
    model = FabricatingModel(retriever)
    recorder = Recorder(model)
    dropped = 0
    for question in questions("in", 6, seed=seed + 5):
        known = code_literals(question) | {lit for cid, _ in retriever.top(question, 3)
                                           for lit in code_literals(retriever.by_id[cid]["title"] + " " + retriever.by_id[cid]["text"])}
        token = fabricated_token(rng)
        while token.lower() in known:
            token = fabricated_token(rng)
        model.literal = token
        result, retrieved, _ = _ask(learner, question, retriever, recorder, threshold=0.0)
        assert token.lower() not in result.text.lower(), (
            f"the model replied {recorder.calls[-1]['content']!r}; {token!r} appears in none of the retrieved passages "
            f"nor the question, yet it reached the answer {result.text[:160]!r}: screen the reply and drop sentences "
            "carrying code-like literals the sources do not hold")
        assert not result.refused and result.citations, (
            f"the model's reply {recorder.calls[-1]['content']!r} has a clean, cited first sentence: after dropping the "
            f"unsupported one the answer must keep it (and cite), got refused={result.refused}: {result.text[:160]!r}")
        _check_citations(result, retrieved, question)
        dropped += 1
    grounded = []
    for question in questions("in", len(IN_CORPUS), seed=seed + 6):
        ids = [cid for cid, _ in retriever.top(question, 3)]
        literals = sorted({lit for cid in ids for lit in code_literals(retriever.by_id[cid]["text"])
                           if any(c.isdigit() for c in lit) and "." not in lit and "_" not in lit})
        if literals:
            grounded.append((question, rng.choice(literals)))
        if len(grounded) == 3:
            break
    for question, literal in grounded:
        model.literal = literal
        result, retrieved, _ = _ask(learner, question, retriever, recorder, threshold=0.0)
        assert literal in result.text.lower(), (
            f"the model replied {recorder.calls[-1]['content']!r}; {literal!r} is in a retrieved passage, so that "
            f"sentence is grounded and must stay, got {result.text[:160]!r}: drop only literals the sources lack")
    record_metric("fabricated_dropped", dropped)
    record_metric("grounded_kept", len(grounded))


# -- the real embedded model --------------------------------------------------------------------

@pytest.mark.check(skill="generative-ai", points=3, hint=1)
def test_real_model_answers_cite_retrieved_chunks(learner, llm, retriever, record_metric, seed):
    """With the real model, in-corpus answers cite only retrieved chunks, and most questions are answered"""
    pool = [q for q in questions("in", 30, seed=seed + 2) if retriever.top(q, 1)[0][1] >= 0.5]
    model = Recorder(llm.chat)
    answered = cited = 0
    for question in pool[:N_REAL]:
        result, retrieved, _ = _ask(learner, question, retriever, model)
        _check_citations(result, retrieved, question)
        if not result.refused:
            answered += 1
            cited += bool(result.citations)
            assert result.citations, f"the answer to {question!r} cites nothing: {result.text[:160]!r}"
    raw_cited = sum(any(cid in retriever.retrieved_since(0) for cid in mentioned_ids(c["content"] or "")) for c in model.calls)
    record_metric("model_calls", len(model.calls))
    record_metric("tokens", sum(c["tokens"] for c in model.calls))
    record_metric("raw_replies_citing_a_retrieved_id", raw_cited)
    record_metric("answer_rate", round(answered / N_REAL, 3))
    record_metric("answers_with_citations", cited)
    assert answered / N_REAL >= MIN_ANSWER_RATE, (
        f"answered {answered} of {N_REAL} in-corpus questions with the real model, needs >= {MIN_ANSWER_RATE:.0%}")


@pytest.mark.check(skill="security-governance", points=2, hint=5)
def test_real_model_never_leaks_the_canary(learner, llm, retriever, record_metric, seed):
    """With the real model, documents carrying an injected instruction never put the canary in the answer"""
    plan = attacks(retriever, len(REAL_ATTACK_TEMPLATES), seed=seed + 3, templates=REAL_ATTACK_TEMPLATES)
    model = Recorder(llm.chat)
    reached = 0
    for attack in plan:
        first = len(model.calls)
        result, retrieved, _ = _attack_run(learner, retriever, attack, model)
        reached += _check_attack(attack, result, retrieved, model.calls[first:], retriever)
    record_metric("model_calls", len(model.calls))
    record_metric("canary_reached_model", reached)
