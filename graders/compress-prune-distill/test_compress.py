"""Grader for compress-prune-distill: magnitude and structured pruning, masked fine-tuning, CSR
storage against dense, structured pruning timed at batch 1, the distillation loss against a
float64 reference, and a distilled student at <= 10% of the teacher's compute.

Networks, digits splits, sparsities, temperatures and logits come from the `seed` fixture
(fresh each run). Held-out families the brief never shows: networks of other depths with
layers of very different scales, random (non-magnitude) masks, matrices with empty rows, -0.0
and more columns than int16 can number, logits hundreds of units apart and one-hot teachers,
and a teacher whose classes are permuted (only a student that learns from the teacher follows
it)."""

from __future__ import annotations

import numpy as np
import pytest
from _cpd import (
    chain_problem,
    cross_entropy,
    csr_bytes,
    digits_split,
    latency_ratio,
    layer_names,
    macs,
    predict,
    random_mlp,
    reference_csr,
    reference_distillation,
    reference_finetune,
    reference_model_bytes,
    reference_structured,
    train_mlp,
    train_teacher,
)

from workbench.grader_plugin import call_learner

ACCURACY_DROP_MAX = 0.01            # magnitude pruning at 70% sparsity, after fine-tuning
STRUCTURED_DROP_MAX = 0.02          # half the hidden neurons removed, after fine-tuning
MAGNITUDE_SPARSITY = 0.7
CSR_RATIO_MAX = 0.65                # CSR (int32 indices) / dense bytes of the 70%-sparse model
SPEEDUP_MIN = 1.5                   # structured (keep half the neurons) vs dense at batch 1
STUDENT_MACS_MAX = 0.10             # student compute / teacher compute
STUDENT_SHARE_MIN = 0.95            # student accuracy / teacher accuracy
FOLLOW_MIN = 0.90                   # agreement with a class-permuted teacher (alpha = 1) / labels (alpha = 0)
FINETUNE_STEPS, FINETUNE_LR = 100, 0.1

_call = call_learner


def _numpy_state(what: str, state) -> dict[str, np.ndarray]:
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        pytest.fail(f"{what} returned {type(state).__name__}; expected a dict of numpy arrays "
                    "(fc1.weight, fc1.bias, ...)", pytrace=False)
    return state


def _avoid_half(rng: np.random.Generator, low: float, high: float, sizes: list[int]) -> float:
    """A ratio in [low, high) whose products with every size are not within 0.01 of .5 (so
    Python's and numpy's rounding cannot disagree)."""
    while True:
        ratio = float(rng.uniform(low, high))
        if all(abs((ratio * n) % 1 - 0.5) > 0.01 for n in sizes):
            return ratio


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def digits(seed):
    return digits_split(seed % 100_000)


@pytest.fixture(scope="session")
def teacher(digits, seed):
    state = train_teacher(digits, seed % 100_000)
    accuracy = float(np.mean(predict(state, digits.X_test) == digits.y_test))
    return state, accuracy


# -- Part A: pruning ---------------------------------------------------------------------------

@pytest.mark.check(skill="deep-learning", points=2, hint=1, required=True, competency="PyTorch/TensorFlow")
def test_magnitude_masks(learner, record_metric, seed):
    """magnitude_masks prunes the smallest |w| of each layer, exactly round(sparsity * size), never a bias"""
    rng = np.random.default_rng(seed)
    networks = [
        ("the brief's 64-256-256-10 shape", [64, 256, 256, 10]),
        ("a network with one hidden layer", [int(rng.integers(20, 60)), int(rng.integers(30, 90)), 7]),
        ("a network with four hidden layers", [int(rng.integers(10, 40))] + [int(rng.integers(16, 64)) for _ in range(4)] + [5]),
    ]
    checked = 0
    for what, sizes in networks:
        scales = list(rng.choice([0.05, 1.0, 20.0], size=len(sizes) - 1))  # a global threshold would be very uneven
        state = random_mlp(rng, sizes, layer_scales=scales)
        weight_sizes = [state[f"{n}.weight"].size for n in layer_names(state)]
        for sparsity in (0.0, _avoid_half(rng, 0.3, 0.6, weight_sizes), _avoid_half(rng, 0.85, 0.97, weight_sizes)):
            masks = _call(f"magnitude_masks(state, {sparsity:.3f})", learner.magnitude_masks,
                          {k: v.copy() for k, v in state.items()}, sparsity)
            assert isinstance(masks, dict), f"magnitude_masks returned {type(masks).__name__}, expected a dict"
            weights = sorted(k for k in state if k.endswith(".weight"))
            assert sorted(masks) == weights, (f"{what}: masks for {sorted(masks)}; expected one per weight matrix "
                                              f"{weights} (biases are not pruned)")
            for key in weights:
                w, mask = state[key], np.asarray(masks[key])
                assert mask.dtype == np.bool_ and mask.shape == w.shape, (
                    f"{what}: mask {key} is {mask.dtype} {mask.shape}, needs bool {w.shape} (True = kept)")
                pruned = int((~mask).sum())
                expected = round(sparsity * w.size)
                assert pruned == expected, (
                    f"{what}, sparsity {sparsity:.3f}: {key} has {pruned} of {w.size} entries pruned, needs "
                    f"round(sparsity * size) = {expected} in every layer (per-layer, not one global threshold)")
                if 0 < pruned < w.size:
                    largest_pruned, smallest_kept = np.abs(w[~mask]).max(), np.abs(w[mask]).min()
                    assert largest_pruned <= smallest_kept, (
                        f"{what}: {key} prunes a weight of |w| = {largest_pruned:.4g} but keeps one of "
                        f"{smallest_kept:.4g}: prune the smallest magnitudes")
                checked += 1
    record_metric("masks_checked", checked)


@pytest.mark.check(skill="deep-learning", points=2, hint=1, required=True, competency="PyTorch/TensorFlow")
def test_structured_prune_removes_neurons(learner, record_metric, seed):
    """structured_prune removes whole hidden neurons (largest-L2 rows kept) and shrinks the next layer, any depth"""
    rng = np.random.default_rng(seed + 1)
    networks = [
        ("the brief's 64-256-256-10 shape", [64, 256, 256, 10]),
        ("a network with one hidden layer", [int(rng.integers(20, 60)), int(rng.integers(30, 90)), 7]),
        ("a network with three hidden layers", [int(rng.integers(10, 40))] + [int(rng.integers(16, 64)) for _ in range(3)] + [4]),
    ]
    for what, sizes in networks:
        state = random_mlp(rng, sizes)
        for ratio in (_avoid_half(rng, 0.3, 0.7, sizes[1:-1]), 0.01):
            expected = reference_structured(state, ratio)
            got = _numpy_state("structured_prune", _call(f"structured_prune(state, {ratio:.3f})", learner.structured_prune,
                                                         {k: v.copy() for k, v in state.items()}, ratio))
            shapes = {k: tuple(v.shape) for k, v in got.items()}
            expected_shapes = {k: tuple(v.shape) for k, v in expected.items()}
            assert shapes == expected_shapes, (
                f"{what}, keep_ratio {ratio:.3f}: shapes {shapes}; expected {expected_shapes}. Keep max(1, round(keep_ratio "
                "* out)) neurons in every layer but the last, remove their rows and biases and the next layer's columns")
            for key, value in expected.items():
                assert got[key].dtype == np.float32, f"{what}: {key} is {got[key].dtype}, needs float32"
                assert np.array_equal(got[key], value), (
                    f"{what}, keep_ratio {ratio:.3f}: {key} holds other values than the neurons whose incoming weight rows "
                    "have the largest L2 norm (scored on the original weights, kept in their original order)")
    record_metric("depths_checked", len(networks))


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_finetune_keeps_pruned_weights_at_zero(learner, record_metric, seed):
    """finetune: full-batch SGD in which masked weights stay exactly zero after every step"""
    rng = np.random.default_rng(seed + 2)
    sizes = [int(rng.integers(12, 30)), int(rng.integers(24, 48)), int(rng.integers(16, 32)), 4]
    state = random_mlp(rng, sizes)
    X = rng.normal(size=(int(rng.integers(150, 250)), sizes[0])).astype(np.float32)
    y = (X[:, :4] @ rng.normal(size=(4, 4))).argmax(axis=1).astype(np.int64)
    # random masks, whole rows included: not the magnitude masks the brief's example builds
    masks = {key: rng.random(state[key].shape) > rng.uniform(0.4, 0.8) for key in state if key.endswith(".weight")}
    masks["fc1.weight"][int(rng.integers(sizes[1]))] = False
    steps, lr = int(rng.integers(20, 40)), float(rng.uniform(0.2, 0.5))
    got = _numpy_state("finetune", _call("finetune(state, X, y, masks, steps, lr)", learner.finetune,
                                         {k: v.copy() for k, v in state.items()}, X, y, masks, steps, lr))
    assert sorted(got) == sorted(state), f"finetune returned keys {sorted(got)}, expected {sorted(state)}"
    for key, mask in masks.items():
        regrown = int(np.count_nonzero(got[key][~mask]))
        assert regrown == 0, (f"after {steps} steps {regrown} of {int((~mask).sum())} pruned weights of {key} are no longer "
                              "zero: apply the masks before the first step and again after every optimizer step (or mask the "
                              "gradients), not only once")
    expected = reference_finetune(state, X, y, masks, steps, lr)
    difference = max(float(np.linalg.norm(got[k] - expected[k]) / max(np.linalg.norm(expected[k]), 1e-12)) for k in expected)
    moved = max(float(np.linalg.norm(state[k] * masks.get(k, 1) - expected[k]) / np.linalg.norm(expected[k])) for k in expected)
    record_metric("relative_difference_to_reference", difference)
    record_metric("reference_weight_change", round(moved, 5))
    before, after = cross_entropy({k: v * masks.get(k, 1) for k, v in state.items()}, X, y), cross_entropy(got, X, y)
    record_metric("loss_before", round(before, 5))
    record_metric("loss_after", round(after, 5))
    assert difference <= 1e-3, (
        f"the fine-tuned weights differ from masked full-batch SGD by {difference:.2e} (relative; needs <= 1e-3, the "
        f"weights move {moved:.2e} in all): mask the weights first, then {steps} times: mean cross-entropy on all of X, "
        "w -= lr * grad, mask again. Fine-tuning dense and masking only at the end is not the same model")
    unmasked = _numpy_state("finetune", _call("finetune(state, X, y, None, steps, lr)", learner.finetune,
                                              {k: v.copy() for k, v in state.items()}, X, y, None, steps, lr))
    expected_dense = reference_finetune(state, X, y, None, steps, lr)
    dense_difference = max(float(np.linalg.norm(unmasked[k] - expected_dense[k]) / np.linalg.norm(expected_dense[k]))
                           for k in expected_dense)
    assert dense_difference <= 1e-3, (f"with masks=None finetune differs from plain full-batch SGD by {dense_difference:.2e} "
                                      "(relative; needs <= 1e-3)")


@pytest.mark.check(skill="mlops", points=2, hint=2, required=True, competency="Model serving")
def test_csr_storage(learner, record_metric, seed):
    """to_csr equals canonical CSR (int16 or int32 indices), round-trips, refuses overflow; model_bytes is exact"""
    rng = np.random.default_rng(seed + 3)
    cases = []
    for sparsity in (0.0, float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.85, 0.99))):
        w = rng.normal(size=(int(rng.integers(5, 40)), int(rng.integers(5, 60)))).astype(np.float32)
        cases.append((f"a random matrix at {sparsity:.0%} sparsity", w * (rng.random(w.shape) >= sparsity)))
    holes = rng.normal(size=(int(rng.integers(8, 20)), int(rng.integers(8, 20)))).astype(np.float32)
    holes[rng.choice(len(holes), 3, replace=False)] = 0.0          # empty rows, the last one included
    holes[-1] = 0.0
    holes[0, 0] = -0.0
    cases += [("a matrix with empty rows and a -0.0", holes),
              ("an all-zero matrix", np.zeros((int(rng.integers(2, 9)), int(rng.integers(2, 9))), np.float32)),
              ("a single row", (rng.normal(size=(1, 30)) * (rng.random(30) > 0.5)).astype(np.float32))]
    for what, w in cases:
        for index_dtype in ("int16", "int32"):
            got = _call(f"to_csr(w, {index_dtype!r})", learner.to_csr, w.copy(), index_dtype)
            expected = reference_csr(w, index_dtype)
            assert isinstance(got, dict) and {"data", "indices", "indptr", "shape"} <= set(got), (
                f"to_csr returned {type(got).__name__} {sorted(got) if isinstance(got, dict) else ''}; expected a dict "
                "with data, indices, indptr and shape")
            assert tuple(got["shape"]) == w.shape, f"{what}: shape {got['shape']}, needs {w.shape}"
            for part, dtype in (("data", "float32"), ("indices", index_dtype), ("indptr", "int32")):
                value = got[part]
                assert isinstance(value, np.ndarray) and value.dtype == np.dtype(dtype), (
                    f"{what}: {part} is {getattr(value, 'dtype', type(value).__name__)}, needs {dtype}")
                assert np.array_equal(value, expected[part]), (
                    f"{what} ({index_dtype}): {part} = {value[:8].tolist()}..., expected {expected[part][:8].tolist()}... "
                    "(non-zeros row by row, columns ascending; indptr has rows + 1 offsets, empty rows repeat the offset)")
            back = np.asarray(_call("csr_to_dense(csr)", learner.csr_to_dense, expected))
            assert back.shape == w.shape and np.array_equal(back, w), f"{what}: csr_to_dense(to_csr(w)) is not w"
    for what, w in (("a 3 x 40,000 matrix (column 39,999 set)", np.eye(3, 40_000, 39_997, dtype=np.float32)),
                    ("a 2 x 32,769 matrix with no non-zero in the last column", np.eye(2, 32_769, dtype=np.float32))):
        try:
            learner.to_csr(w, "int16")
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - a learner error of another type
            pytest.fail(f"to_csr({what}, 'int16') raised {type(exc).__name__}: {exc}; needs ValueError", pytrace=False)
        pytest.fail(f"to_csr({what}, 'int16') did not raise ValueError: int16 holds column indices up to 32,767, so a "
                    "matrix with more columns cannot be stored with int16 indices (they would wrap around)", pytrace=False)
    state = random_mlp(rng, [64, 256, 256, 10])
    for sparsity in (0.5, 0.7, 0.9):
        masked = {k: (v * (np.abs(v) >= np.quantile(np.abs(v), sparsity)) if k.endswith(".weight") else v)
                  for k, v in state.items()}
        for index_dtype, itemsize in (("int32", 4), ("int16", 2)):
            got = _call("model_bytes(state, index_dtype)", learner.model_bytes, masked, index_dtype)
            expected = reference_model_bytes(masked, itemsize)
            assert isinstance(got, dict) and {k: int(got.get(k, -1)) for k in ("dense", "csr")} == expected, (
                f"model_bytes at {sparsity:.0%} sparsity ({index_dtype}) = {got}; expected {expected} (dense: 4 bytes "
                "per float32 entry; csr: data + indices + indptr of each weight matrix, plus the biases dense)")
            record_metric(f"csr_over_dense_{int(sparsity * 100)}_{index_dtype}", round(expected["csr"] / expected["dense"], 4))


@pytest.mark.check(skill="deep-learning", points=2, hint=3, required=True, competency="PyTorch/TensorFlow")
def test_distillation_loss_matches_reference(learner, record_metric, seed):
    """distillation_loss (value and gradient) equals alpha*T^2*KL + (1-alpha)*CE, also for extreme logits"""
    rng = np.random.default_rng(seed + 5)
    cases = []
    for temperature, alpha in ((float(rng.uniform(2, 6)), float(rng.uniform(0.3, 0.9))), (1.0, 1.0), (8.0, 0.0),
                               (float(rng.uniform(0.5, 1)), 0.5)):
        n, k = int(rng.integers(8, 40)), int(rng.integers(3, 12))
        cases.append((f"moderate logits, T={temperature:.2f}, alpha={alpha:.2f}", rng.normal(size=(n, k)) * 3,
                      rng.normal(size=(n, k)) * 3, rng.integers(0, k, n), temperature, alpha))
    n, k = int(rng.integers(8, 40)), 10
    cases.append(("logits hundreds apart", rng.normal(size=(n, k)) * 300, rng.normal(size=(n, k)) * 300,
                  rng.integers(0, k, n), float(rng.uniform(2, 5)), 0.6))
    onehot_teacher = np.full((n, k), -50.0)
    onehot_teacher[np.arange(n), rng.integers(0, k, n)] = 50.0
    cases.append(("a teacher sure of one class (probabilities that underflow to 0)", rng.normal(size=(n, k)) * 2,
                  onehot_teacher, rng.integers(0, k, n), 1.0, 0.8))
    worst_value, worst_grad = 0.0, 0.0
    for what, student, teacher_logits, labels, temperature, alpha in cases:
        student, teacher_logits = student.astype(np.float32), teacher_logits.astype(np.float32)
        labels = labels.astype(np.int64)
        out = _call(f"loss_value_and_grad ({what})", learner.loss_value_and_grad, student, teacher_logits, labels,
                    temperature, alpha)
        assert isinstance(out, tuple | list) and len(out) == 2, "loss_value_and_grad must return (loss, gradient)"
        value, grad = float(out[0]), np.asarray(out[1], dtype=np.float64)
        expected, expected_grad = reference_distillation(student, teacher_logits, labels, temperature, alpha)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (
            f"{what}: the loss or its gradient is NaN/inf: use log_softmax (and a KL that treats 0 * log 0 as 0), "
            "not exp() then log()")
        value_error = abs(value - expected) / max(abs(expected), 1.0)
        assert value_error <= 1e-4, (
            f"{what}: loss {value:.6g}, expected {expected:.6g} = alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) "
            "averaged over the batch (sum over classes, mean over rows: 'batchmean') + (1 - alpha) * cross-entropy at T=1")
        assert grad.shape == expected_grad.shape, f"{what}: gradient shape {grad.shape}, needs {expected_grad.shape}"
        scale = max(float(np.abs(expected_grad).max()), 1e-3)
        grad_error = float(np.abs(grad - expected_grad).max()) / scale
        assert grad_error <= 1e-3, (f"{what}: d loss / d student logits is {grad_error:.2e} of its size away from the "
                                    "reference: the loss must be computed in torch from student_logits (differentiable)")
        worst_value, worst_grad = max(worst_value, value_error), max(worst_grad, grad_error)
    record_metric("worst_relative_value_error", worst_value)
    record_metric("worst_relative_grad_error", worst_grad)


@pytest.mark.check(skill="deep-learning", points=2, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_magnitude_pruning_keeps_accuracy(learner, digits, teacher, record_metric):
    """70% magnitude pruning plus masked fine-tuning stays within 1 point of the teacher, and CSR stores it in <= 0.65x"""
    teacher_state, teacher_accuracy = teacher
    record_metric("teacher_accuracy", round(teacher_accuracy, 4))
    for sparsity in (MAGNITUDE_SPARSITY, 0.9):
        masks = _call(f"magnitude_masks(teacher, {sparsity})", learner.magnitude_masks, teacher_state, sparsity)
        pruned_only = {k: v * masks[k] if k in masks else v for k, v in teacher_state.items()}
        tuned = _numpy_state("finetune", _call("finetune(teacher, X_train, y_train, masks)", learner.finetune, teacher_state,
                                               digits.X_train, digits.y_train, masks, FINETUNE_STEPS, FINETUNE_LR))
        problem = chain_problem(tuned, 64, 10)
        assert problem is None, f"finetune returned a model that is not the teacher's shape: {problem}"
        accuracy = float(np.mean(predict(tuned, digits.X_test) == digits.y_test))
        before = float(np.mean(predict(pruned_only, digits.X_test) == digits.y_test))
        zeros = sum(int(np.sum(tuned[k] == 0)) for k in masks) / sum(tuned[k].size for k in masks)
        dense = sum(4 * v.size for v in tuned.values())
        csr = sum(csr_bytes(v, 4) if k.endswith(".weight") else 4 * v.size for k, v in tuned.items())
        tag = int(sparsity * 100)
        record_metric(f"accuracy_{tag}_before_finetune", round(before, 4))
        record_metric(f"accuracy_{tag}_after_finetune", round(accuracy, 4))
        record_metric(f"weight_zeros_{tag}", round(zeros, 4))
        record_metric(f"csr_over_dense_{tag}", round(csr / dense, 4))
        if sparsity != MAGNITUDE_SPARSITY:
            continue
        assert zeros >= sparsity - 0.001, (f"after fine-tuning only {zeros:.1%} of the weights are zero; "
                                           f"magnitude_masks({sparsity}) plus finetune must leave {sparsity:.0%}")
        assert accuracy >= teacher_accuracy - ACCURACY_DROP_MAX, (
            f"{sparsity:.0%} magnitude-pruned and fine-tuned: {accuracy:.2%} on {len(digits.y_test)} held-out digits vs the "
            f"teacher's {teacher_accuracy:.2%} (at most {ACCURACY_DROP_MAX:.0%} lower allowed; {before:.2%} before fine-tuning)")
        assert csr / dense <= CSR_RATIO_MAX, (f"CSR (int32 indices) stores the pruned model in {csr / dense:.3f}x the dense bytes; "
                                              f"needs <= {CSR_RATIO_MAX}")


@pytest.mark.check(skill="deep-learning", points=1, hint=2, required=True, competency="PyTorch/TensorFlow")
def test_structured_pruning_keeps_accuracy(learner, digits, teacher, record_metric):
    """Half the teacher's hidden neurons removed, then fine-tuned: within 2 points of the teacher"""
    teacher_state, teacher_accuracy = teacher
    small = _numpy_state("structured_prune", _call("structured_prune(teacher, 0.5)", learner.structured_prune,
                                                   teacher_state, 0.5))
    problem = chain_problem(small, 64, 10)
    assert problem is None, f"structured_prune(teacher, 0.5): {problem}"
    before = float(np.mean(predict(small, digits.X_test) == digits.y_test))
    tuned = _numpy_state("finetune", _call("finetune(pruned, X_train, y_train, None)", learner.finetune, small,
                                           digits.X_train, digits.y_train, None, FINETUNE_STEPS, FINETUNE_LR))
    accuracy = float(np.mean(predict(tuned, digits.X_test) == digits.y_test))
    ratio = macs(tuned) / macs(teacher_state)
    record_metric("teacher_accuracy", round(teacher_accuracy, 4))
    record_metric("accuracy_before_finetune", round(before, 4))
    record_metric("accuracy_after_finetune", round(accuracy, 4))
    record_metric("dense_bytes_ratio", round(sum(v.size for v in tuned.values()) / sum(v.size for v in teacher_state.values()), 4))
    record_metric("macs_ratio", round(ratio, 4))
    assert ratio <= 0.35, f"the pruned model keeps {ratio:.0%} of the teacher's multiply-adds; half the neurons leave about 31%"
    assert accuracy >= teacher_accuracy - STRUCTURED_DROP_MAX, (
        f"structured-pruned (half the neurons) and fine-tuned: {accuracy:.2%} vs the teacher's {teacher_accuracy:.2%} "
        f"(at most {STRUCTURED_DROP_MAX:.0%} lower allowed; {before:.2%} before fine-tuning)")


@pytest.mark.check(skill="mlops", points=2, hint=2, required=True, competency="Model serving")
def test_structured_pruning_is_faster_at_batch_1(learner, record_metric, seed):
    """A structured-pruned wide network runs >= 1.5x faster than dense at batch 1"""
    rng = np.random.default_rng(seed + 4)
    wide = random_mlp(rng, [256, 2048, 2048, 10])
    small = _numpy_state("structured_prune", _call("structured_prune(wide, 0.5)", learner.structured_prune, wide, 0.5))
    problem = chain_problem(small, 256, 10)
    assert problem is None, f"structured_prune(wide, 0.5): {problem}"
    assert macs(small) <= 0.3 * macs(wide), (f"structured_prune(wide, 0.5) keeps {macs(small) / macs(wide):.0%} of the "
                                             "multiply-adds; removing half the neurons of both hidden layers leaves 28%")
    speedup, dense_ms, pruned_ms = latency_ratio(wide, small, 256)
    record_metric("speedup", round(speedup, 3))
    record_metric("dense_ms", round(dense_ms, 4))
    record_metric("structured_ms", round(pruned_ms, 4))
    masks = {k: np.abs(v) >= np.median(np.abs(v)) for k, v in wide.items() if k.endswith(".weight")}
    masked = {k: v * masks[k] if k in masks else v for k, v in wide.items()}
    masked_speedup, _, masked_ms = latency_ratio(wide, masked, 256, rounds=5)
    csr_speedup, _, csr_ms = latency_ratio(wide, masked, 256, rounds=3, reps=5, sparse=True)
    record_metric("unstructured_50_dense_ms", round(masked_ms, 4))
    record_metric("unstructured_50_speedup", round(masked_speedup, 3))
    record_metric("torch_csr_50_ms", round(csr_ms, 4))
    record_metric("torch_csr_50_speedup", round(csr_speedup, 3))
    assert speedup >= SPEEDUP_MIN, (f"at batch 1 (one thread) the structured-pruned network takes {pruned_ms:.3f} ms vs "
                                    f"{dense_ms:.3f} ms dense: {speedup:.2f}x; needs >= {SPEEDUP_MIN}x")


# -- Part C: distillation ----------------------------------------------------------------------

@pytest.mark.check(skill="deep-learning", points=2, hint=3, required=True, competency="PyTorch/TensorFlow")
def test_student_reaches_share_of_teacher(learner, digits, teacher, record_metric, seed):
    """The distilled student uses <= 10% of the teacher's compute and reaches >= 95% of its accuracy"""
    teacher_state, teacher_accuracy = teacher
    rng = np.random.default_rng(seed + 6)
    temperature, alpha = float(rng.uniform(2.5, 5)), float(rng.uniform(0.5, 0.9))
    student = _numpy_state("distill", _call("distill(teacher, X_train, y_train, T, alpha, seed)", learner.distill, teacher_state,
                                            digits.X_train, digits.y_train, temperature, alpha, seed % 1000))
    problem = chain_problem(student, 64, 10)
    assert problem is None, f"distill returned no usable student: {problem}"
    compute = macs(student) / macs(teacher_state)
    accuracy = float(np.mean(predict(student, digits.X_test) == digits.y_test))
    share = accuracy / teacher_accuracy
    agreement = float(np.mean(predict(student, digits.X_test) == predict(teacher_state, digits.X_test)))
    record_metric("teacher_macs", macs(teacher_state))
    record_metric("student_macs", macs(student))
    record_metric("compute_share", round(compute, 4))
    record_metric("teacher_accuracy", round(teacher_accuracy, 4))
    record_metric("student_accuracy", round(accuracy, 4))
    record_metric("accuracy_share", round(share, 4))
    record_metric("agreement_with_teacher", round(agreement, 4))
    speedup, teacher_ms, student_ms = latency_ratio(teacher_state, student, 64, rounds=5, reps=100)
    record_metric("batch1_teacher_ms", round(teacher_ms, 4))
    record_metric("batch1_student_ms", round(student_ms, 4))
    record_metric("batch1_speedup", round(speedup, 3))
    record_metric("temperature", round(temperature, 3))
    record_metric("alpha", round(alpha, 3))
    assert compute <= STUDENT_MACS_MAX, (f"the student needs {macs(student):,} multiply-adds per digit, {compute:.1%} of the "
                                         f"teacher's {macs(teacher_state):,}; at most {STUDENT_MACS_MAX:.0%} allowed")
    hidden = [student[f"{n}.weight"].shape[0] for n in layer_names(student)[:-1]]
    baseline = train_mlp([64, *hidden, 10], digits.X_train, digits.y_train, seed % 1000, epochs=40, lr=3e-3)
    record_metric("label_only_student_accuracy", round(float(np.mean(predict(baseline, digits.X_test) == digits.y_test)), 4))
    assert share >= STUDENT_SHARE_MIN, (f"the student reaches {accuracy:.2%} against the teacher's {teacher_accuracy:.2%} "
                                        f"({share:.1%} of it); needs >= {STUDENT_SHARE_MIN:.0%}")


@pytest.mark.check(skill="deep-learning", points=2, hint=3, required=True, competency="PyTorch/TensorFlow")
def test_student_learns_from_the_teacher(learner, digits, teacher, record_metric, seed):
    """With alpha = 1 the student follows a class-permuted teacher; with alpha = 0 it follows the labels"""
    teacher_state, _ = teacher
    rng = np.random.default_rng(seed + 7)
    shift = int(rng.integers(1, 10))
    order = np.roll(np.arange(10), shift)  # the permuted teacher says class order[c] where the true one says c
    permuted = dict(teacher_state)
    last = layer_names(teacher_state)[-1]
    permuted[f"{last}.weight"] = teacher_state[f"{last}.weight"][order]
    permuted[f"{last}.bias"] = teacher_state[f"{last}.bias"][order]
    teacher_says = predict(permuted, digits.X_test)
    for alpha, target, what in ((1.0, teacher_says, "the permuted teacher's answers"), (0.0, digits.y_test, "the labels")):
        student = _numpy_state("distill", _call(f"distill(permuted_teacher, X, y, T=3, alpha={alpha})", learner.distill,
                                                permuted, digits.X_train, digits.y_train, 3.0, alpha, seed % 1000))
        problem = chain_problem(student, 64, 10)
        assert problem is None, f"distill returned no usable student: {problem}"
        says = predict(student, digits.X_test)
        follows = float(np.mean(says == target))
        record_metric(f"alpha_{alpha:g}_agreement", round(follows, 4))
        record_metric(f"alpha_{alpha:g}_label_accuracy", round(float(np.mean(says == digits.y_test)), 4))
        assert follows >= FOLLOW_MIN, (
            f"with alpha = {alpha:g} the student agrees with {what} on {follows:.1%} of the held-out digits; needs >= "
            f"{FOLLOW_MIN:.0%}. The grader's teacher here answers class {shift} places off the truth: alpha weights the "
            "teacher's soft targets, 1 - alpha the labels, and distill must train on distillation_loss")
