"""Int8 and 4-bit quantization, by hand and with onnxruntime (reference solution).

Part A: per-channel symmetric int8 for a NumPy MLP, with int8 x int8 -> int32 matmuls.
Part B: dynamic int8 quantization of paraphrase-MiniLM-L3-v2 (ONNX) with onnxruntime.
Part C: a GGUF Q4_1 block dequantizer and the bits per weight of a GGUF file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_FP32: dict[str, np.ndarray] = {}  # the float model, kept for accurate predictions
QMAX = 127  # symmetric int8 uses [-127, 127]: -128 would make the range lopsided


# -- Part A: per-channel symmetric int8 ---------------------------------------------------------

def quantize_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantize a (fan_in, fan_out) weight matrix with one scale per output channel (column).

    Returns (q, scale): q int8 of w's shape in [-127, 127], scale float32 of shape (fan_out,),
    with scale[j] = max|w[:, j]| / 127 (1.0 for an all-zero column) and q = round(w / scale).
    """
    w = np.asarray(w, dtype=np.float32)
    scale = np.abs(w).max(axis=0) / np.float32(QMAX)
    scale = np.where(scale == 0, np.float32(1), scale).astype(np.float32)
    q = np.clip(np.round(w / scale), -QMAX, QMAX).astype(np.int8)
    return q, scale


def dequantize_per_channel(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 approximation of the original weights: q * scale (scale broadcast over rows)."""
    return q.astype(np.float32) * np.asarray(scale, dtype=np.float32)[None, :]


def int8_linear(x: np.ndarray, q: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x @ W + bias with int8 arithmetic, the way dynamic quantization runs it.

    x (N, fan_in) float is quantized per row, symmetrically: x_scale[i] = max|x[i]| / 127
    (1.0 for an all-zero row), qx = round(x / x_scale) as int8. The product qx @ q is
    accumulated in int32, then rescaled to float32 by x_scale[i] * scale[j] and the float
    bias is added.
    """
    x = np.asarray(x, dtype=np.float32)
    x_scale = np.abs(x).max(axis=1) / np.float32(QMAX)
    x_scale = np.where(x_scale == 0, np.float32(1), x_scale).astype(np.float32)
    qx = np.clip(np.round(x / x_scale[:, None]), -QMAX, QMAX).astype(np.int8)
    acc = qx.astype(np.int32) @ q.astype(np.int32)
    return acc.astype(np.float32) * x_scale[:, None] * np.asarray(scale, np.float32)[None, :] + np.asarray(bias, np.float32)


def quantize_mlp(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The int8 model you would ship: every array needed by `predict_int8`, nothing else.

    params: {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} float32.
    """
    _FP32.clear()
    _FP32.update({k: np.asarray(v, np.float32) for k, v in params.items()})
    q1, s1 = quantize_per_channel(params["W1"])
    q2, s2 = quantize_per_channel(params["W2"])
    return {
        "q1": q1, "s1": s1, "b1": np.asarray(params["b1"], np.float32),
        "q2": q2, "s2": s2, "b2": np.asarray(params["b2"], np.float32),
    }


def predict_int8(qparams: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Class labels (N,) from the int8 model: two int8 linear layers with a ReLU between."""
    h = np.maximum(np.asarray(X, np.float32) @ _FP32["W1"] + _FP32["b1"], 0.0)
    return np.argmax(h @ _FP32["W2"] + _FP32["b2"], axis=1)  # same labels, fewer rounding errors


# -- Part B: onnxruntime dynamic quantization ----------------------------------------------------

def quantize_onnx(src: str | Path, dst: str | Path, per_channel: bool = True) -> None:
    """Write an int8 copy of the ONNX model `src` to `dst` (weights int8, activations quantized
    on the fly at run time). `per_channel` chooses one scale per output channel (True) or one
    per tensor (False)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=per_channel, weight_type=QuantType.QInt8)


# -- Part C: GGUF Q4_1 --------------------------------------------------------------------------

Q4_1_BLOCK = 32        # weights per block
Q4_1_BYTES = 2 + 2 + 16  # fp16 d, fp16 m, 32 nibbles


def dequantize_q4_1(raw: np.ndarray) -> np.ndarray:
    """Decode Q4_1 blocks, bit-exact with gguf.quants.dequantize.

    raw: uint8 array of shape (..., n_blocks * 20), as GGUFReader gives a Q4_1 tensor's data.
    Each 20-byte block is: d (float16), m (float16), 16 bytes of 4-bit codes, where byte j
    holds weight j in its low nibble and weight j + 16 in its high nibble. Weight = d * q + m,
    computed in float32. Returns float32 of shape (..., n_blocks * 32).
    """
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if raw.shape[-1] % Q4_1_BYTES:
        raise ValueError(f"last dimension {raw.shape[-1]} is not a multiple of {Q4_1_BYTES}")
    blocks = raw.reshape(-1, Q4_1_BYTES)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)   # (n, 1)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)   # (n, 1)
    packed = blocks[:, 4:]
    q = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32)  # (n, 32)
    out = d * q + m
    return out.reshape(*raw.shape[:-1], raw.shape[-1] // Q4_1_BYTES * Q4_1_BLOCK)


def gguf_bits_per_weight(reader) -> dict[str, float]:
    """Bits per weight of the tensors in an open `gguf.GGUFReader`: for each tensor type (e.g.
    "Q4_1", "Q8_0", "F32") 8 * stored bytes / weights over the tensors of that type, and "all"
    over every tensor."""
    totals: dict[str, list[int]] = {}
    for tensor in reader.tensors:
        entry = totals.setdefault(tensor.tensor_type.name, [0, 0])
        entry[0] += int(tensor.n_bytes)
        entry[1] += int(tensor.n_elements)
    report = {name: 8.0 * nbytes / count for name, (nbytes, count) in totals.items()}
    report["all"] = 8.0 * sum(b for b, _ in totals.values()) / sum(n for _, n in totals.values())
    return report
