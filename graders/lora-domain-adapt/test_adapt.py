"""Grader for lora-domain-adapt: LoRA (peft) on all-MiniLM-L6-v2, fp32, on the CPU.

The learner's adapt.py runs in the sandboxed worker; adapters cross as plain data (r, alpha,
targets, peft-named A/B arrays). Every number compared here comes from the grader's own model:
LoRA arithmetic by hand (W + alpha / r * B @ A), held-out topics and hit@5 from a fresh seed,
hashes of the pristine safetensors, and gensim's Lee corpus with its human similarity scores."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from _lora_ref import (
    Encoder,
    adapter_pairs,
    domain_split,
    hit_at_k,
    in_batch_loss,
    lee_benchmark,
    lee_correlation,
    load_questions,
    merge_reference,
    question_gold,
    random_adapter,
    swapped_pairs,
    tensor_sha256,
)

from workbench.grader_plugin import call_learner

SHARE_MAX = 0.01            # trainable (adapter) parameters / base parameters
TRAIN_SECONDS_MAX = 120.0
HIT5_GAIN_MIN = 0.03        # held-out topics, keyword queries
QUESTIONS_DROP_MAX = 2      # hand-written questions (of 52) the adapted model may lose
LEE_DROP_MAX = 0.03         # Pearson correlation with human similarity, Lee corpus
SWAPPED_LOSS_DROP_MIN = 0.10
MATCH_ATOL = 1e-4           # unit vectors: learner vs reference
IDENTITY_ATOL = 1e-5

_call = call_learner
_state: dict = {}

PROBE_TEXTS = [
    "How do I make a class usable in a with statement?",
    "The quarterly report shows revenue grew in every region.",
    "yield from delegates to a subgenerator",
    "A lambda expression creates an anonymous function.",
    "The river burst its banks after three days of heavy rain.",
    "What does a bare except clause catch?",
]


@pytest.fixture(scope="session")
def reference():
    return Encoder()


@pytest.fixture(scope="session")
def probes(seed):
    """Probe sentences: a fixed few plus a seeded sample of the corpus's passages and Lee sentences."""
    rng = random.Random(seed)
    split = domain_split(seed)
    lee_docs, _ = lee_benchmark()
    return PROBE_TEXTS + rng.sample(split.index_texts, 6) + [d.split(". ")[0] for d in rng.sample(lee_docs, 4)]


def _vectors(what: str, value, count: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        pytest.fail(f"{what} returned {type(value).__name__}, expected a numpy array", pytrace=False)
    if value.shape != (count, 384):
        pytest.fail(f"{what} returned shape {value.shape}, expected ({count}, 384)", pytrace=False)
    return value.astype(np.float32)


def _check_adapter(what: str, adapter, base: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The adapter is a dict in the contract's format whose A/B pairs fit the base model's Linears."""
    if not isinstance(adapter, dict) or not {"r", "alpha", "targets", "weights"} <= set(adapter):
        pytest.fail(f"{what} must return a dict with r, alpha, targets and weights; got "
                    f"{sorted(adapter) if isinstance(adapter, dict) else type(adapter).__name__}", pytrace=False)
    try:
        pairs = adapter_pairs(adapter)
    except ValueError as exc:
        pytest.fail(f"{what}: {exc}", pytrace=False)
    assert pairs, f"{what} returned an adapter with no LoRA weights"
    r = int(adapter["r"])
    for module, (a, b) in pairs.items():
        weight = base.get(f"{module}.weight")
        assert weight is not None and weight.ndim == 2, f"{what}: {module} is not a Linear layer of all-MiniLM-L6-v2"
        out_features, in_features = weight.shape
        assert a.shape == (r, in_features) and b.shape == (out_features, r), (
            f"{what}: {module} has A {a.shape} and B {b.shape}; with r = {r} a LoRA pair for a "
            f"({out_features} x {in_features}) weight is A ({r}, {in_features}) and B ({out_features}, {r})")
    return pairs


def _share(pairs, base) -> float:
    adapter_parameters = sum(a.size + b.size for a, b in pairs.values())
    base_parameters = sum(v.size for k, v in base.items() if k != "embeddings.position_ids" and not k.startswith("pooler."))
    return adapter_parameters / base_parameters


def _learner_merge(learner, adapter, reference) -> dict[str, np.ndarray]:
    merged = _call("merge(adapter)", learner.merge, adapter)
    if not isinstance(merged, dict):
        pytest.fail(f"merge returned {type(merged).__name__}, expected a state dict (name -> numpy array)", pytrace=False)
    leftovers = [k for k in merged if "lora" in k.lower() or k.startswith("base_model.")]
    assert not leftovers, (f"merge returned LoRA or peft-wrapped names ({leftovers[:3]}): fold the adapter into the base "
                           "weights and return a plain BertModel state dict (peft: merge_and_unload())")
    missing = [k for k in reference.state_names() if k not in merged]
    assert not missing, f"merge's state dict lacks {len(missing)} of the base model's tensors, e.g. {missing[:3]}"
    return {k: np.asarray(v) for k, v in merged.items()}


# -- the adapter's arithmetic -------------------------------------------------------------------

@pytest.mark.check(skill="deep-learning", points=2, hint=1, required=True, competency="Transformers")
def test_fresh_adapter_is_identity(learner, reference, probes, seed, record_metric):
    """A fresh adapter has B = 0, random A, and gives exactly the base model's vectors"""
    adapter = _call("new_adapter(seed)", learner.new_adapter, seed % 10_000)
    pairs = _check_adapter("new_adapter", adapter, reference.base)
    nonzero_b = [m for m, (_, b) in pairs.items() if np.any(b != 0)]
    assert not nonzero_b, (f"{len(nonzero_b)} of {len(pairs)} fresh LoRA pairs have B != 0 (e.g. {nonzero_b[0]}): "
                           "LoRA starts with B = 0 so that B @ A = 0 and training starts from the base model")
    flat_a = [m for m, (a, _) in pairs.items() if float(np.std(a)) == 0.0]
    assert not flat_a, (f"{len(flat_a)} fresh LoRA pairs have a constant A (e.g. {flat_a[0]}): with A = 0 too the "
                        "gradient of B is zero and nothing ever trains; A starts random")
    base_vectors = reference.encode(probes)
    plain = _vectors("encode(texts)", _call("encode(texts)", learner.encode, probes), len(probes))
    fresh = _vectors("encode(texts, adapter)", _call("encode(texts, adapter)", learner.encode, probes, adapter), len(probes))
    plain_error = float(np.abs(plain - base_vectors).max())
    fresh_error = float(np.abs(fresh - base_vectors).max())
    record_metric("base_max_abs_diff", plain_error)
    record_metric("fresh_adapter_max_abs_diff", fresh_error)
    record_metric("lora_pairs", len(pairs))
    assert plain_error <= MATCH_ATOL, (
        f"encode(texts) differs from all-MiniLM-L6-v2 (mean pooling over the attention mask, L2-normalised, 128 tokens) "
        f"by {plain_error:.2e}; needs <= {MATCH_ATOL:g}")
    assert fresh_error <= IDENTITY_ATOL, (
        f"with a fresh adapter encode differs from the base model by {fresh_error:.2e}; needs <= {IDENTITY_ATOL:g}")


@pytest.fixture(scope="session")
def graders_adapter(reference, seed):
    """A grader-made adapter: random r, alpha (never alpha == r) and targets, with B != 0."""
    rng = np.random.default_rng(seed + 11)
    r = int(rng.choice([4, 6, 12, 16]))
    alpha = float(rng.choice([a for a in (3.0, 8.0, 24.0, 32.0) if a != r]))
    targets = [["query", "value"], ["query", "key", "value"], ["key", "dense"], ["value", "dense"]][int(rng.integers(4))]
    return random_adapter(rng, reference.base, r, alpha, targets, b_scale=0.05 * r / alpha)


@pytest.mark.check(skill="deep-learning", points=2, hint=1, required=True, competency="Transformers")
def test_adapter_inference_matches_lora(learner, reference, probes, graders_adapter, record_metric):
    """encode with an adapter computes W x + alpha / r * B A x (any r, alpha and targets)"""
    reference.load(merge_reference(reference.base, graders_adapter))
    expected = reference.encode(probes)
    reference.load(reference.base)
    moved = float(1 - np.min(np.sum(expected * reference.encode(probes), axis=1)))
    got = _vectors("encode(texts, adapter)", _call("encode(texts, adapter)", learner.encode, probes, graders_adapter),
                   len(probes))
    error = float(np.abs(got - expected).max())
    record_metric("r", graders_adapter["r"])
    record_metric("alpha", graders_adapter["alpha"])
    record_metric("targets", ",".join(graders_adapter["targets"]))
    record_metric("max_abs_diff", error)
    record_metric("largest_cosine_move_from_base", round(moved, 4))
    assert error <= MATCH_ATOL, (
        f"with the grader's adapter (r={graders_adapter['r']}, alpha={graders_adapter['alpha']:g}, "
        f"targets={graders_adapter['targets']}) encode differs from W x + alpha / r * B A x by {error:.2e} "
        f"(the adapter moves vectors by up to {moved:.3f} in cosine); needs <= {MATCH_ATOL:g}. Build the LoRA model "
        "from the adapter's own r, alpha and targets")


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True, competency="Transformers")
def test_merged_weights_equal_adapter_inference(learner, reference, probes, graders_adapter, record_metric):
    """merge folds B A into W: the merged plain model gives the adapter's vectors"""
    merged = _learner_merge(learner, graders_adapter, reference)
    expected = merge_reference(reference.base, graders_adapter)
    adapted = set(adapter_pairs(graders_adapter))
    worst_target, worst_other = 0.0, []
    for name in reference.state_names():
        got = merged[name].astype(np.float32)
        if got.shape != expected[name].shape:
            pytest.fail(f"merge returned {name} with shape {got.shape}, expected {expected[name].shape}", pytrace=False)
        if name.removesuffix(".weight") in adapted:
            delta = float(np.abs(got - expected[name]).max() / np.abs(expected[name] - reference.base[name]).max())
            worst_target = max(worst_target, delta)
        elif tensor_sha256(got) != tensor_sha256(reference.base[name]):
            worst_other.append(name)
    record_metric("worst_target_error_relative_to_delta", worst_target)
    assert not worst_other, (f"merge changed {len(worst_other)} tensors the adapter does not touch (e.g. {worst_other[0]}): "
                             "only the adapted Linear weights may differ from the base")
    assert worst_target <= 1e-3, (f"a merged weight differs from W + alpha / r * B @ A by {worst_target:.2e} of the "
                                  "adapter's change; needs <= 1e-3")
    reference.load(merged)
    from_merged = reference.encode(probes)
    reference.load(reference.base)
    unmerged = _vectors("encode(texts, adapter)", _call("encode(texts, adapter)", learner.encode, probes, graders_adapter),
                        len(probes))
    error = float(np.abs(from_merged - unmerged).max())
    record_metric("merged_vs_adapter_max_abs_diff", error)
    assert error <= MATCH_ATOL, (f"the merged model's vectors differ from encode(texts, adapter) by {error:.2e}; "
                                 f"needs <= {MATCH_ATOL:g}")


def _base_unchanged(learner, reference, probes, adapter, record_metric, when: str) -> None:
    zeroed = {**adapter, "weights": {k: (np.zeros_like(v) if ".lora_B." in k else v) for k, v in adapter["weights"].items()}}
    merged = _learner_merge(learner, zeroed, reference)
    changed = [k for k in reference.state_names() if tensor_sha256(merged[k]) != tensor_sha256(reference.base[k])]
    record_metric("tensors_hashed", len(reference.state_names()))
    record_metric("tensors_changed", len(changed))
    assert not changed, (f"{when}, merging an adapter with B = 0 gives {len(changed)} tensors whose SHA-256 differs from "
                         f"the pristine safetensors (e.g. {changed[0]}): the base weights were modified in place. Keep the "
                         "base frozen and wrap or merge a copy")
    plain = _vectors("encode(texts)", _call("encode(texts)", learner.encode, probes), len(probes))
    error = float(np.abs(plain - reference.encode(probes)).max())
    record_metric("base_max_abs_diff", error)
    assert error <= MATCH_ATOL, f"{when}, encode(texts) without an adapter differs from the base model by {error:.2e}"


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_base_unchanged_after_merging(learner, reference, probes, graders_adapter, record_metric):
    """After encoding and merging, the base weights still hash to the pristine safetensors"""
    _base_unchanged(learner, reference, probes, graders_adapter, record_metric, "after encode and merge")


@pytest.mark.check(skill="generative-ai", points=1, hint=1, required=True, competency="Fine-tuning")
def test_trainable_share(learner, reference, seed, record_metric):
    """The adapter is parameter-efficient: at most 1% of the base model's parameters"""
    adapter = _call("new_adapter(seed)", learner.new_adapter, seed % 10_000 + 1)
    share = _share(_check_adapter("new_adapter", adapter, reference.base), reference.base)
    record_metric("trainable_share", round(share, 5))
    assert share <= SHARE_MAX, (f"the adapter holds {share:.2%} of the base model's parameters; needs <= {SHARE_MAX:.0%} "
                                "(lower r or fewer target modules)")


# -- training --------------------------------------------------------------------------------------

@pytest.mark.check(skill="domain-specialization", points=2, hint=3, required=True, competency="Fine-tuning")
def test_training_learns_the_pairs_it_is_given(learner, reference, seed, record_metric):
    """train learns from its pairs: on 64 pairs that match no real relation, their loss drops"""
    pairs = swapped_pairs(seed + 5)
    queries, texts = [p["query"] for p in pairs], [p["passage"] for p in pairs]
    before = in_batch_loss(reference.encode(queries), reference.encode(texts))
    adapter = _call("train(pairs, seed)", learner.train, pairs, seed % 10_000)
    _check_adapter("train", adapter, reference.base)
    reference.load(merge_reference(reference.base, adapter))
    after = in_batch_loss(reference.encode(queries), reference.encode(texts))
    reference.load(reference.base)
    record_metric("loss_before", round(before, 4))
    record_metric("loss_after", round(after, 4))
    assert before - after >= SWAPPED_LOSS_DROP_MIN, (
        f"trained on 64 pairs whose queries are another passage's keywords, the adapter moves their in-batch loss "
        f"(cross-entropy over cosine x 20) from {before:.3f} to {after:.3f}; needs a drop >= {SWAPPED_LOSS_DROP_MIN}. "
        "train must learn from the pairs it is given (a stored adapter does not)")


def _trained(learner, seed):
    """train(split.train_pairs) once per run: (split, adapter, seconds) or the failure message."""
    if "trained" not in _state:
        split = domain_split(seed)
        started = time.perf_counter()
        try:
            adapter = _call("train(pairs, seed)", learner.train, split.train_pairs, seed % 10_000)
        except BaseException:
            _state["trained"] = None
            raise
        _state["trained"] = (split, adapter, time.perf_counter() - started)
    if _state["trained"] is None:
        pytest.fail("train(pairs, seed) failed in an earlier check", pytrace=False)
    return _state["trained"]


@pytest.mark.check(skill="domain-specialization", points=1, hint=3, required=True, competency="Fine-tuning")
def test_training_time(learner, reference, seed, record_metric):
    """train on the domain pairs finishes within 120 s and returns a small adapter"""
    split, adapter, seconds = _trained(learner, seed)
    pairs = _check_adapter("train", adapter, reference.base)
    share = _share(pairs, reference.base)
    record_metric("train_seconds", round(seconds, 1))
    record_metric("train_pairs", len(split.train_pairs))
    record_metric("trainable_share", round(share, 5))
    assert share <= SHARE_MAX, f"the trained adapter holds {share:.2%} of the base model's parameters; needs <= {SHARE_MAX:.0%}"
    assert not all(np.all(b == 0) for _, b in pairs.values()), "the trained adapter still has B = 0 everywhere: nothing trained"
    assert seconds <= TRAIN_SECONDS_MAX, (f"train took {seconds:.0f} s on {len(split.train_pairs)} pairs; needs <= "
                                          f"{TRAIN_SECONDS_MAX:.0f} s (fewer epochs, shorter inputs or a smaller r)")


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_base_unchanged_after_training(learner, reference, probes, seed, record_metric):
    """After training, the base weights still hash to the pristine safetensors"""
    _, adapter, _ = _trained(learner, seed)
    _base_unchanged(learner, reference, probes, adapter, record_metric, "after training")


def _evaluation(learner, reference, seed):
    """Base and adapted vectors of the index, the held-out queries, the questions and the Lee documents
    (computed once per run; a training failure fails each check that needs them)."""
    if "evaluation" in _state:
        return _state["evaluation"]
    split, adapter, _ = _trained(learner, seed)
    _check_adapter("train", adapter, reference.base)
    questions = [q["query"] for q in load_questions()]
    lee_docs, human = lee_benchmark()
    out = {}
    for name, state in (("base", reference.base), ("adapted", merge_reference(reference.base, adapter))):
        reference.load(state)
        out[name] = {"index": reference.encode(split.index_texts), "held_out": reference.encode(split.held_out_queries),
                     "questions": reference.encode(questions), "lee": reference.encode(lee_docs)}
    reference.load(reference.base)
    _state["evaluation"] = (split, out, human)
    return _state["evaluation"]


@pytest.mark.check(skill="domain-specialization", points=4, hint=3, required=True, competency="Fine-tuning")
def test_held_out_topics_hit_at_5(learner, reference, seed, record_metric):
    """hit@5 on topics training never saw improves by at least 0.03"""
    split, vectors, _ = _evaluation(learner, reference, seed)
    gold = [{g} for g in split.held_out_gold]
    base = hit_at_k(vectors["base"]["held_out"], vectors["base"]["index"], split.index_ids, gold)
    adapted = hit_at_k(vectors["adapted"]["held_out"], vectors["adapted"]["index"], split.index_ids, gold)
    record_metric("held_out_topics", ",".join(split.held_out_docs))
    record_metric("held_out_queries", len(gold))
    record_metric("hit5_base", round(base, 4))
    record_metric("hit5_adapted", round(adapted, 4))
    assert adapted - base >= HIT5_GAIN_MIN, (
        f"hit@5 on {len(gold)} keyword queries from held-out topics ({', '.join(split.held_out_docs)}) over "
        f"{len(split.index_ids)} passages: base {base:.3f}, adapted {adapted:.3f} ({adapted - base:+.3f}); needs a gain "
        f">= {HIT5_GAIN_MIN}")


@pytest.mark.check(skill="domain-specialization", points=1, hint=3, required=True, competency="Evaluation design")
def test_hand_written_questions_kept(learner, reference, seed, record_metric):
    """Natural-language questions (a query family training never shows) lose at most 2 of 52"""
    split, vectors, _ = _evaluation(learner, reference, seed)
    questions = load_questions()
    gold = question_gold(split.index_ids, split.index_texts, questions)
    base = hit_at_k(vectors["base"]["questions"], vectors["base"]["index"], split.index_ids, gold)
    adapted = hit_at_k(vectors["adapted"]["questions"], vectors["adapted"]["index"], split.index_ids, gold)
    record_metric("hit5_base", round(base, 4))
    record_metric("hit5_adapted", round(adapted, 4))
    lost = round((base - adapted) * len(questions))
    assert lost <= QUESTIONS_DROP_MAX, (
        f"hit@5 on {len(questions)} hand-written questions: base {base:.3f}, adapted {adapted:.3f} ({lost} questions lost); "
        f"at most {QUESTIONS_DROP_MAX} may be lost: the adapter overfits the keyword form of the training queries")


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True, competency="Fine-tuning")
def test_general_similarity_kept(learner, reference, seed, record_metric):
    """General-domain similarity (Lee corpus vs human scores) drops by at most 0.03"""
    _, vectors, human = _evaluation(learner, reference, seed)
    base = lee_correlation(vectors["base"]["lee"], human)
    adapted = lee_correlation(vectors["adapted"]["lee"], human)
    record_metric("pearson_base", round(base, 4))
    record_metric("pearson_adapted", round(adapted, 4))
    assert base - adapted <= LEE_DROP_MAX, (
        f"Pearson correlation of cosine with human similarity on the 1,225 Lee document pairs: base {base:.4f}, "
        f"adapted {adapted:.4f} (drop {base - adapted:.4f}); at most {LEE_DROP_MAX} allowed: the adapter forgot "
        "general English (too high a learning rate, too many steps or too large an r)")
