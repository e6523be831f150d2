"""Grader for int8-quantization: (A) per-channel int8 of a digits MLP by hand, (B) onnxruntime
dynamic int8 of paraphrase-MiniLM-L3-v2 measured by size, stored layout, cosine, speed and
retrieval, (C) a GGUF Q4_1 dequantizer checked bit for bit against gguf.

Networks, sentences, digits splits and GGUF samples come from the `seed` fixture (fresh each
run). The `gguf` package is hidden from the learner's code (lab.toml `hide_modules`): the Q4_1
decoder is theirs, and gguf_bits_per_weight gets a data-only stand-in of a GGUFReader."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from _qdata import (
    Encoder,
    digits_baseline,
    file_size,
    hit_at_k,
    load_tokenizer,
    minilm_l3_onnx,
    ort_session,
    outlier_mlp,
    predict_fp32,
    reader_bits_per_weight,
    reference_int8_linear,
    reference_per_channel,
    reference_predict_int8,
    retrieval_set,
    smollm2_gguf,
    speed_ratio,
    stand_in,
    synthetic_tensors,
    weight_layout,
)

from workbench.core.wire import RemoteError
from workbench.grader_plugin import call_learner

BYTES_RATIO_MIN = 3.5
ACCURACY_DROP_MAX = 0.01
ONNX_SIZE_RATIO_MAX = 0.30
COSINE_MIN = 0.99
SPEEDUP_MIN = 1.5
HIT5_DROP_MAX = 0.02
WEIGHT_MATMULS = 18  # MiniLM-L3's Linear layers: 3 x (query, key, value, attention output, intermediate, output)


_call = call_learner

def _shared_dir(lab_dir: Path, prefix: str) -> Path:
    """A fresh folder in the lab copy: the learner's sandboxed code can write there and the grader read it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=lab_dir))


def _array(what: str, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        pytest.fail(f"{what} returned {type(value).__name__}, expected a numpy array", pytrace=False)
    return value


# -- Part A: digits MLP ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def digits(seed):
    return digits_baseline(seed % 100_000)


def _quantize_mlp(learner, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    qparams = _call("quantize_mlp(params)", learner.quantize_mlp, {k: v.copy() for k, v in params.items()})
    if not isinstance(qparams, dict) or not qparams:
        pytest.fail(f"quantize_mlp returned {type(qparams).__name__}, expected a non-empty dict of numpy arrays", pytrace=False)
    for name, value in qparams.items():
        if not isinstance(value, np.ndarray):
            pytest.fail(f"quantize_mlp()[{name!r}] is a {type(value).__name__}: the shipped model must be numpy arrays only "
                        "(their bytes are what is counted)", pytrace=False)
    return qparams


@pytest.fixture(scope="session")
def digits_int8(learner, digits):
    params, _, _ = digits
    return _quantize_mlp(learner, params)


@pytest.mark.check(skill="deep-learning", points=2, hint=1, required=True)
def test_per_channel_scales(learner, record_metric, seed):
    """quantize_per_channel: one scale per output column, every weight within half a step"""
    rng = np.random.default_rng(seed)
    fan_in, fan_out = int(rng.integers(24, 80)), int(rng.integers(12, 40))
    column_size = np.geomspace(0.01, 4.0, fan_out).astype(np.float32)
    rng.shuffle(column_size)
    w = (rng.normal(size=(fan_in, fan_out)) * column_size).astype(np.float32)
    outlier_col, zero_col = (int(c) for c in rng.choice(fan_out, 2, replace=False))
    w[int(rng.integers(fan_in)), outlier_col] = 9.0 * column_size[outlier_col]  # one outlier weight
    w[:, zero_col] = 0.0                                                        # an all-zero column must not give NaN
    out = _call("quantize_per_channel(w)", learner.quantize_per_channel, w.copy())
    assert isinstance(out, tuple) and len(out) == 2, "quantize_per_channel must return a (q, scale) tuple"
    q, scale = _array("quantize_per_channel (q)", out[0]), np.asarray(out[1])
    assert q.dtype == np.int8, f"q has dtype {q.dtype}, needs int8"
    assert q.shape == w.shape, f"q has shape {q.shape}, needs the weights' shape {w.shape}"
    assert scale.shape == (fan_out,), (f"scale has shape {scale.shape}; per-channel needs one scale per output column, "
                                       f"shape ({fan_out},) for a ({fan_in}, {fan_out}) matrix")
    assert scale.dtype == np.float32, f"scale has dtype {scale.dtype}, needs float32"
    assert np.all(np.isfinite(scale)) and np.all(scale > 0), "every scale must be finite and > 0 (use 1.0 for an all-zero column)"
    assert scale[zero_col] == 1.0, f"the all-zero column {zero_col} got scale {float(scale[zero_col])}; the brief asks for 1.0"
    assert int(np.abs(q.astype(np.int16)).max()) <= 127, "symmetric int8 uses [-127, 127]; -128 makes the range lopsided"
    nonzero = [j for j in range(fan_out) if j != zero_col]
    peak = np.abs(q[:, nonzero].astype(np.int16)).max(axis=0)
    assert np.all(peak == 127), (f"{int(np.sum(peak != 127))} of {len(nonzero)} columns do not use the full range: the "
                                 "largest |w| of each column must map to 127 (scale[j] = max|w[:, j]| / 127, one per column)")
    expected_scale = np.abs(w).max(axis=0) / 127
    scale_error = float(np.max(np.abs(scale[nonzero] - expected_scale[nonzero]) / expected_scale[nonzero]))
    assert scale_error <= 1e-5, f"scale differs from max|w[:, j]| / 127 by {scale_error:.2e} (relative)"
    recon = _call("dequantize_per_channel(q, scale)", learner.dequantize_per_channel, q, scale)
    recon = _array("dequantize_per_channel", recon)
    assert recon.shape == w.shape and recon.dtype == np.float32, (
        f"dequantize_per_channel returned {recon.dtype} {recon.shape}, needs float32 {w.shape}")
    expected = q.astype(np.float32) * scale[None, :]
    assert np.allclose(recon, expected, rtol=1e-6, atol=0), "dequantize_per_channel must return q * scale (scale per column)"
    step_error = np.abs(recon.astype(np.float64) - w).max(axis=0) / scale.astype(np.float64)
    worst = float(step_error.max())
    record_metric("worst_error_in_steps", round(worst, 4))
    assert worst <= 0.5 + 1e-3, f"a weight is {worst:.3f} quantization steps from its original; rounding allows at most 0.5"
    assert np.all(recon[:, zero_col] == 0), "an all-zero column must come back as zeros"
    rel = float(np.linalg.norm(recon - w) / np.linalg.norm(w))
    t_scale = np.abs(w).max() / 127
    rel_tensor = float(np.linalg.norm(np.round(w / t_scale) * t_scale - w) / np.linalg.norm(w))
    record_metric("relative_error_per_channel", round(rel, 5))
    record_metric("relative_error_per_tensor", round(rel_tensor, 5))


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True)
def test_int8_linear_matches_dynamic_quantization(learner, record_metric, seed):
    """int8_linear quantizes activations per row and accumulates in int32"""
    rng = np.random.default_rng(seed + 1)
    fan_in, fan_out, rows = int(rng.integers(48, 128)), int(rng.integers(16, 64)), int(rng.integers(30, 80))
    w = (rng.normal(size=(fan_in, fan_out)) * rng.uniform(0.05, 3, size=fan_out)).astype(np.float32)
    q, scale = reference_per_channel(w)
    bias = rng.normal(size=fan_out).astype(np.float32)
    x = rng.normal(size=(rows, fan_in)).astype(np.float32)
    x[::7, int(rng.integers(fan_in))] *= 40.0  # activation outliers: small values in those rows round to 0
    x[int(rng.integers(1, rows))] = 0.0        # an all-zero row
    expected = reference_int8_linear(x, q, scale, bias)
    got = _array("int8_linear", _call("int8_linear(x, q, scale, bias)", learner.int8_linear, x.copy(), q, scale, bias))
    assert got.shape == expected.shape, f"int8_linear returned shape {got.shape}, needs {expected.shape}"
    assert got.dtype == np.float32, f"int8_linear returned {got.dtype}, needs float32"
    assert np.all(np.isfinite(got)), "int8_linear returned NaN or inf (an all-zero row needs a scale of 1.0, not 0)"
    size = float(np.abs(expected).max())
    error = float(np.abs(got.astype(np.float64) - expected).max() / size)
    float_path = float(np.abs((x @ (q * scale) + bias) - expected).max() / size)
    record_metric("relative_error", error)
    record_metric("float_activation_path_error", round(float_path, 5))
    assert error < 2e-3, (f"int8_linear differs from the dynamic int8 reference by {error:.2e} of the output range (needs < 2e-3); "
                          f"keeping activations in float differs by {float_path:.2e}. Quantize each row of x with "
                          "scale max|x[i]| / 127, multiply int8 x int8 into int32, then rescale by x_scale[i] * scale[j]")


def _find(qparams: dict[str, np.ndarray], dtype_kind: str, shape: tuple[int, ...]) -> list[str]:
    return [k for k, v in qparams.items() if v.dtype.kind == dtype_kind and v.shape == shape]


@pytest.mark.check(skill="mlops", points=1, hint=1, required=True)
def test_digits_model_bytes(digits, digits_int8, record_metric):
    """The int8 digits MLP ships per-channel int8 weights and at least 3.5x fewer bytes than fp32"""
    params, _, _ = digits
    fp32_bytes = sum(v.astype(np.float32).nbytes for v in params.values())
    int8_bytes = sum(v.nbytes for v in digits_int8.values())
    ratio = fp32_bytes / max(int8_bytes, 1)
    record_metric("fp32_bytes", fp32_bytes)
    record_metric("int8_bytes", int8_bytes)
    record_metric("bytes_ratio", round(ratio, 3))
    dtypes = {name: f"{v.dtype} {v.shape}" for name, v in digits_int8.items()}
    for layer in ("W1", "W2"):
        W = params[layer]
        ref_q, ref_scale = reference_per_channel(W)
        stored = [k for k, v in digits_int8.items() if v.dtype == np.int8 and v.shape == W.shape]
        assert stored, (f"the shipped model has no int8 array shaped like {layer} {W.shape}; ship the weights as int8 "
                        f"codes (arrays: {dtypes})")
        off = min(int(np.sum(digits_int8[k].astype(np.int16) != ref_q)) for k in stored)
        assert off <= W.size // 1000, (
            f"the int8 codes shipped for {layer} differ from round(W / scale) with one scale per output column "
            f"(max|W[:, j]| / 127) in {off} of {W.size} entries; quantize per channel, not per tensor")
        scales = [k for k, v in digits_int8.items() if v.dtype.kind == "f" and v.shape == ref_scale.shape
                  and np.allclose(v, ref_scale, rtol=1e-3, atol=0)]
        assert scales, (f"the shipped model has no per-channel scale vector for {layer} (shape {ref_scale.shape}, "
                        f"max|W[:, j]| / 127); arrays: {dtypes}")
        copies = [k for k, v in digits_int8.items() if v.dtype.kind == "f" and v.size >= W.size // 2]
        assert not copies, f"the shipped model keeps float arrays as large as the weights ({copies}): ship int8 only"
    assert ratio >= BYTES_RATIO_MIN, (f"the quantized model holds {int8_bytes} bytes vs {fp32_bytes} for fp32 ({ratio:.2f}x fewer; "
                                      f"needs >= {BYTES_RATIO_MIN}x). Arrays: {dtypes}")


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True)
def test_digits_accuracy_within_one_point(learner, digits, digits_int8, record_metric):
    """The int8 digits MLP stays within 1 accuracy point of fp32"""
    params, X_test, y_test = digits
    fp32 = float(np.mean(predict_fp32(params, X_test) == y_test))
    labels = _array("predict_int8", _call("predict_int8(qparams, X)", learner.predict_int8, digits_int8, X_test.copy()))
    assert labels.shape == y_test.shape, f"predict_int8 returned shape {labels.shape}, needs {y_test.shape} (one label per row)"
    int8 = float(np.mean(labels == y_test))
    record_metric("fp32_accuracy", round(fp32, 4))
    record_metric("int8_accuracy", round(int8, 4))
    record_metric("test_samples", len(y_test))
    assert int8 >= fp32 - ACCURACY_DROP_MAX, (f"int8 accuracy {int8:.2%} vs fp32 {fp32:.2%} on {len(y_test)} held-out digits: "
                                              f"a drop of {100 * (fp32 - int8):.1f} points (at most {100 * ACCURACY_DROP_MAX:.0f} allowed)")


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True)
def test_predict_int8_runs_the_int8_model(learner, digits, digits_int8, record_metric, seed):
    """predict_int8 computes with the int8 arrays it is given, not a kept float copy"""
    params, X_test, _ = digits
    other, X, int8_labels, fp32_labels = outlier_mlp(seed + 2)
    q_other = _quantize_mlp(learner, other)  # quantized after the digits model: a cached copy would now be this one
    labels = _array("predict_int8", _call("predict_int8(qparams, X)", learner.predict_int8, q_other, X.copy()))
    assert labels.shape == int8_labels.shape, f"predict_int8 returned shape {labels.shape}, needs {int8_labels.shape}"
    differ = int8_labels != fp32_labels
    match_int8 = float(np.mean(labels[differ] == int8_labels[differ]))
    match_all = float(np.mean(labels == int8_labels))
    record_metric("rows_where_int8_and_fp32_differ", int(differ.sum()))
    record_metric("agreement_with_int8_there", round(match_int8, 4))
    record_metric("agreement_with_int8_overall", round(match_all, 4))
    assert match_int8 >= 0.95 and match_all >= 0.97, (
        f"on a random 64-128-10 network with activation outliers, on {int(differ.sum())} rows where its int8 model and its "
        f"fp32 model predict different classes, predict_int8 agrees with the int8 model on {match_int8:.0%} (overall "
        f"{match_all:.0%}); needs >= 95% (97% overall): run two int8_linear layers on the arrays quantize_mlp returned")
    again = _array("predict_int8", _call("predict_int8(qparams, X)", learner.predict_int8, digits_int8, X_test.copy()))
    expected = reference_predict_int8(params, X_test)
    digits_match = float(np.mean(again == expected))
    record_metric("digits_agreement_with_int8", round(digits_match, 4))
    assert digits_match >= 0.99, (
        f"after quantizing a second network, predict_int8 on the digits model's arrays agrees with its int8 labels on "
        f"only {digits_match:.1%} of rows: predict from the qparams argument, not from state kept in the module")
    flipped = {k: (-v if v.dtype == np.int8 else v) for k, v in q_other.items()}
    changed = float(np.mean(_call("predict_int8(qparams, X)", learner.predict_int8, flipped, X.copy()) != labels))
    record_metric("labels_changed_by_negated_codes", round(changed, 4))
    assert changed >= 0.2, (
        f"negating every int8 array of the model changed only {changed:.0%} of predict_int8's labels: the predictions "
        "do not come from the int8 codes you were given")


# -- Part B: MiniLM-L3 with onnxruntime --------------------------------------------------------

@pytest.fixture(scope="session")
def onnx_source(lab_dir) -> Path:
    """A copy of the fp32 model where the learner's code can read it and write beside it
    (quantize_dynamic writes a shape-inferred copy next to its input; the installed package
    is read-only in the sandbox)."""
    copy = _shared_dir(lab_dir, ".graded-onnx-src-") / "paraphrase-MiniLM-L3-v2.onnx"
    shutil.copyfile(minilm_l3_onnx(), copy)
    return copy


@pytest.fixture(scope="session")
def onnx_models(learner, lab_dir, onnx_source):
    """(fp32 path, learner's per-channel int8 path, seconds it took)."""
    src = minilm_l3_onnx()
    dst = _shared_dir(lab_dir, ".graded-onnx-") / "minilm-l3-int8.onnx"
    started = time.perf_counter()
    _call("quantize_onnx(src, dst)", learner.quantize_onnx, str(onnx_source), str(dst))
    seconds = time.perf_counter() - started
    if not dst.is_file():
        pytest.fail(f"quantize_onnx(src, dst) wrote nothing at {dst}", pytrace=False)
    return src, dst, seconds


@pytest.fixture(scope="session")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="session")
def sentences(seed):
    return retrieval_set(seed)


@pytest.fixture(scope="session")
def fp32_encoder(tokenizer):
    return Encoder(ort_session(minilm_l3_onnx()), tokenizer)


@pytest.fixture(scope="session")
def int8_encoder(onnx_models, tokenizer):
    _, dst, _ = onnx_models
    try:
        return Encoder(ort_session(dst), tokenizer)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"onnxruntime cannot run the quantized model: {type(exc).__name__}: {str(exc)[:300]}", pytrace=False)


@pytest.fixture(scope="session")
def fp32_vectors(fp32_encoder, sentences):
    docs, queries, _ = sentences
    return fp32_encoder.encode(docs), fp32_encoder.encode(queries)


@pytest.fixture(scope="session")
def int8_vectors(int8_encoder, sentences):
    docs, queries, _ = sentences
    return int8_encoder.encode(docs), int8_encoder.encode(queries)


def _cosines(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.concatenate([(a[0] * b[0]).sum(axis=1), (a[1] * b[1]).sum(axis=1)])


def _layout_problem(path: Path, per_channel: bool) -> str | None:
    layout = weight_layout(path)
    want, got = ("per_channel", layout.per_channel) if per_channel else ("per_tensor", layout.per_tensor)
    if layout.float_matmuls:
        return (f"{len(layout.float_matmuls)} of the {WEIGHT_MATMULS} weight MatMuls still multiply by float weights "
                f"(e.g. {layout.float_matmuls[0]}): quantize every one, exclude none")
    if layout.int8_matmuls < WEIGHT_MATMULS:
        return (f"only {layout.int8_matmuls} of the {WEIGHT_MATMULS} weight MatMuls store int8 weights (weight dtypes: "
                f"{layout.weight_dtypes}); use weight_type=QuantType.QInt8")
    if got != layout.int8_matmuls:
        kind = "one scale per output column" if per_channel else "a single scale per tensor"
        return (f"with per_channel={per_channel} only {got} of the {layout.int8_matmuls} int8 weight MatMuls store "
                f"{kind} ({layout.per_channel} per channel, {layout.per_tensor} per tensor): pass per_channel through "
                "to quantize_dynamic")
    return None


@pytest.mark.check(skill="mlops", points=1, hint=1, required=True)
def test_onnx_model_is_small(onnx_models, int8_encoder, record_metric):
    """quantize_onnx writes a runnable model with per-channel int8 weights, at most 0.3x the fp32 file"""
    src, dst, seconds = onnx_models
    layout = weight_layout(dst)
    record_metric("int8_weight_matmuls", layout.int8_matmuls)
    record_metric("per_channel_matmuls", layout.per_channel)
    problem = _layout_problem(dst, per_channel=True)
    assert problem is None, f"the model quantize_onnx(src, dst) wrote: {problem}"
    ratio = file_size(dst) / file_size(src)
    record_metric("fp32_mb", round(file_size(src) / 2**20, 2))
    record_metric("int8_mb", round(file_size(dst) / 2**20, 2))
    record_metric("size_ratio", round(ratio, 4))
    record_metric("quantize_seconds", round(seconds, 2))
    assert ratio <= ONNX_SIZE_RATIO_MAX, (f"the quantized file is {ratio:.3f}x the fp32 one ({file_size(dst) / 2**20:.1f} MB vs "
                                          f"{file_size(src) / 2**20:.1f} MB); needs <= {ONNX_SIZE_RATIO_MAX}x: int8 weights "
                                          "everywhere, the embedding table (Gather) included")


@pytest.mark.check(skill="mlops", points=2, hint=1, required=True)
def test_onnx_cosine_to_fp32(fp32_vectors, int8_vectors, sentences, record_metric):
    """Int8 MiniLM-L3 sentence vectors keep a mean cosine >= 0.99 to fp32"""
    cos = _cosines(fp32_vectors, int8_vectors)
    mean, low = float(cos.mean()), float(cos.min())
    record_metric("mean_cosine", round(mean, 5))
    record_metric("min_cosine", round(low, 5))
    record_metric("sentences", len(cos))
    assert mean >= COSINE_MIN, (f"mean cosine between int8 and fp32 vectors is {mean:.4f} over {len(cos)} sentences "
                                f"(min {low:.4f}); needs >= {COSINE_MIN}. Per-tensor scales lose too much here: use per_channel=True")


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True)
def test_per_tensor_falls_short(learner, fp32_vectors, tokenizer, sentences, lab_dir, onnx_source, record_metric):
    """per_channel=False stores one scale per tensor, and that model falls short of per-channel"""
    dst = _shared_dir(lab_dir, ".graded-onnx-pt-") / "minilm-l3-int8-per-tensor.onnx"
    _call("quantize_onnx(src, dst, per_channel=False)", learner.quantize_onnx, str(onnx_source), str(dst),
          per_channel=False)
    if not dst.is_file():
        pytest.fail("quantize_onnx(src, dst, per_channel=False) wrote nothing", pytrace=False)
    layout = weight_layout(dst)
    record_metric("per_tensor_matmuls", layout.per_tensor)
    problem = _layout_problem(dst, per_channel=False)
    assert problem is None, f"the model quantize_onnx(src, dst, per_channel=False) wrote: {problem}"
    encoder = Encoder(ort_session(dst), tokenizer)
    _, queries, _ = sentences
    vectors = encoder.encode(queries)
    cos = float((vectors * fp32_vectors[1]).sum(axis=1).mean())
    record_metric("per_tensor_mean_cosine", round(cos, 5))
    assert cos < COSINE_MIN, (f"with per_channel=False the mean cosine to fp32 is {cos:.4f}, at or above {COSINE_MIN}: "
                              "quantize_onnx must pass per_channel through to quantize_dynamic (one scale per tensor "
                              "when False), so you can measure what per-channel buys")


@pytest.mark.check(skill="mlops", points=2, hint=1, required=True)
def test_onnx_speedup_batch1(fp32_encoder, int8_encoder, sentences, record_metric):
    """Int8 MiniLM-L3 runs at least 1.5x faster than fp32 at batch 1 (one thread)"""
    _, queries, _ = sentences
    ratio, fp32_ms, int8_ms = speed_ratio(int8_encoder, fp32_encoder, queries[:12])
    record_metric("speedup", round(ratio, 3))
    record_metric("fp32_ms", round(fp32_ms, 3))
    record_metric("int8_ms", round(int8_ms, 3))
    # for the record only: a full 128-token input is compute-bound, a short query weight-bound
    long_text = [" ".join(queries)]
    long_ratio, long_fp32_ms, long_int8_ms = speed_ratio(int8_encoder, fp32_encoder, long_text, rounds=4, reps=3)
    record_metric("speedup_128_tokens", round(long_ratio, 3))
    record_metric("fp32_ms_128_tokens", round(long_fp32_ms, 3))
    record_metric("int8_ms_128_tokens", round(long_int8_ms, 3))
    assert ratio >= SPEEDUP_MIN, (f"int8 median latency {int8_ms:.2f} ms vs fp32 {fp32_ms:.2f} ms at batch 1, one thread: "
                                  f"{ratio:.2f}x; needs >= {SPEEDUP_MIN}x (int8 MatMuls: MatMulInteger / DynamicQuantizeLinear)")


@pytest.mark.check(skill="mlops", points=1, hint=1, required=True)
def test_onnx_retrieval_hit5(fp32_vectors, int8_vectors, sentences, record_metric):
    """Retrieval hit@5 drops by at most 0.02 after quantization"""
    _, _, answers = sentences
    fp32_hit = hit_at_k(*fp32_vectors, answers, k=5)
    int8_hit = hit_at_k(*int8_vectors, answers, k=5)
    record_metric("fp32_hit5", round(fp32_hit, 4))
    record_metric("int8_hit5", round(int8_hit, 4))
    record_metric("fp32_hit1", round(hit_at_k(*fp32_vectors, answers, k=1), 4))
    record_metric("int8_hit1", round(hit_at_k(*int8_vectors, answers, k=1), 4))
    record_metric("queries", len(answers))
    record_metric("documents", len(fp32_vectors[0]))
    assert fp32_hit - int8_hit <= HIT5_DROP_MAX, (f"hit@5 fell from {fp32_hit:.3f} (fp32) to {int8_hit:.3f} (int8) on {len(answers)} "
                                                  f"paraphrase queries; at most {HIT5_DROP_MAX} drop allowed")


# -- Part C: GGUF Q4_1 -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def gguf_reader():
    from gguf import GGUFReader

    return GGUFReader(str(smollm2_gguf()))


def _decode(learner, what: str, raw: np.ndarray) -> np.ndarray:
    try:
        out = learner.dequantize_q4_1(raw)
    except RemoteError as exc:
        if "gguf" in str(exc) or exc.type_name in ("ModuleNotFoundError", "ImportError"):
            pytest.fail(f"dequantize_q4_1({what}) raised {exc.type_name}: {exc}. The gguf package is hidden while "
                        "grading: decode the 20-byte blocks yourself with numpy", pytrace=False)
        pytest.fail(f"dequantize_q4_1({what}) raised {exc.type_name}: {exc}", pytrace=False)
    return np.asarray(out)


def _blocks(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random Q4_1 blocks with finite float16 d and m: shape (..., n_blocks * 20) uint8."""
    n = int(np.prod(shape))
    d = (rng.standard_normal(n) * rng.choice([1e-3, 1e-2, 0.1, 1.0], n)).astype(np.float16)
    m = (rng.standard_normal(n) * rng.choice([1e-3, 1e-2, 0.1, 1.0], n)).astype(np.float16)
    codes = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    blocks = np.concatenate([d[:, None].view(np.uint8), m[:, None].view(np.uint8), codes], axis=1)
    return blocks.reshape(*shape[:-1], shape[-1] * 20)


@pytest.mark.check(skill="deep-learning", points=3, hint=2, required=True)
def test_q4_1_bit_exact(learner, gguf_reader, record_metric, seed):
    """dequantize_q4_1 is bit-exact with gguf on random blocks and SmolLM2's Q4_1 tensors, decoded by hand"""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    # one hand-made block first: clear messages for the usual mistakes
    d, m = np.float16(0.5), np.float16(-2.0)
    codes = np.arange(32, dtype=np.uint8) % 16
    packed = (codes[:16] | (codes[16:] << 4)).astype(np.uint8)
    block = np.concatenate([np.array([d]).view(np.uint8), np.array([m]).view(np.uint8), packed])
    toy = _decode(learner, "one block", block.copy())
    expected_toy = codes.astype(np.float32) * np.float32(0.5) - np.float32(2.0)
    assert toy.shape == (32,), f"one 20-byte block must give 32 weights, got shape {toy.shape}"
    assert toy.dtype == np.float32, f"dequantize_q4_1 returned {toy.dtype}, needs float32"
    if not np.array_equal(toy, expected_toy):
        interleaved = np.stack([packed & 15, packed >> 4], axis=1).reshape(-1).astype(np.float32) * 0.5 - 2.0
        if np.array_equal(toy, interleaved):
            pytest.fail("nibble order: byte j holds weight j in its low 4 bits and weight j + 16 in its high 4 bits "
                        "(all low nibbles first, then all high nibbles), not interleaved", pytrace=False)
        pytest.fail(f"a block with d=0.5, m=-2 and codes 0..15,0..15 decoded to {toy[:6].tolist()}..., expected "
                    f"{expected_toy[:6].tolist()}... (weight = d * code + m)", pytrace=False)

    rng = np.random.default_rng(seed)
    cases = [(f"random blocks of shape {shape}", _blocks(rng, shape))
             for shape in ((int(rng.integers(1, 9)),), (int(rng.integers(2, 6)), int(rng.integers(1, 9))),
                           (2, int(rng.integers(2, 5)), int(rng.integers(1, 7))))]
    tensors = [t for t in gguf_reader.tensors if t.tensor_type.name == "Q4_1"]
    cases += [(t.name, np.asarray(t.data)) for t in random.Random(seed).sample(tensors, 8)]
    checked = 0
    for what, raw in cases:
        reference = dequantize(raw, GGMLQuantizationType.Q4_1)
        got = _decode(learner, what, raw)
        assert got.shape == reference.shape, (f"{what}: raw {raw.shape} uint8 must decode to {reference.shape}, got {got.shape} "
                                              "(the last axis grows from n_blocks * 20 bytes to n_blocks * 32 weights; "
                                              "the leading axes stay)")
        assert got.dtype == np.float32, f"{what}: returned {got.dtype}, needs float32"
        differing = int(np.sum(got.view(np.uint32) != reference.view(np.uint32)))
        assert differing == 0, (f"{what}: {differing} of {reference.size} weights differ bit-wise from gguf "
                                f"(max abs difference {float(np.abs(got - reference).max()):.3g}); compute d * code + m "
                                "in float32")
        checked += reference.size
    record_metric("cases_checked", len(cases))
    record_metric("weights_checked", checked)


@pytest.mark.check(skill="mlops", points=1, hint=2, required=True)
def test_gguf_bits_per_weight(learner, gguf_reader, record_metric, seed):
    """gguf_bits_per_weight reports bits per weight per tensor type and overall, for any tensor mix"""
    total_weights = sum(int(t.n_elements) for t in gguf_reader.tensors)
    record_metric("file_bits_per_weight", round(8 * os.path.getsize(smollm2_gguf()) / total_weights, 4))
    # the learner's function gets the reader's tensor fields as data (gguf is hidden from its code)
    for what, reader in (("SmolLM2's tensors", stand_in(gguf_reader.tensors)),
                         ("a random mix of tensors and GGUF types", stand_in(synthetic_tensors(gguf_reader, seed)))):
        expected = reader_bits_per_weight(reader)
        if what.startswith("SmolLM2"):
            for name, value in expected.items():
                record_metric(f"bpw_{name}", round(value, 4))
        got = _call("gguf_bits_per_weight(reader)", learner.gguf_bits_per_weight, reader)
        assert isinstance(got, dict), f"gguf_bits_per_weight returned {type(got).__name__}, expected a dict"
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        assert not missing and not extra, (f"{what}: keys {sorted(got)}; expected one per tensor type present plus 'all': "
                                           f"{sorted(expected)}")
        for name, value in expected.items():
            assert abs(float(got[name]) - value) < 1e-3, (
                f"{what}: bits per weight for {name!r}: you report {float(got[name]):.4f}, the tensors store {value:.4f} "
                "(8 * sum of tensor.n_bytes / sum of tensor.n_elements)")
