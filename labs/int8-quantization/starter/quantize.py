"""Int8 and 4-bit quantization, by hand and with onnxruntime.

Edit this file. Every function keeps its signature; the ones that raise NotImplementedError
are yours to write, and quantize_onnx runs but is not good enough yet (look for TODO).
Run `python try_it.py` to see your numbers, `workbench check int8-quantization` to grade.

Part A: per-channel symmetric int8 for a NumPy MLP, with int8 x int8 -> int32 matmuls.
Part B: dynamic int8 quantization of paraphrase-MiniLM-L3-v2 (ONNX) with onnxruntime.
Part C: a GGUF Q4_1 block dequantizer and the bits per weight of a GGUF file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QMAX = 127  # symmetric int8 uses [-127, 127]: -128 would make the range lopsided


# -- Part A: per-channel symmetric int8 ---------------------------------------------------------

def quantize_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantize a (fan_in, fan_out) weight matrix with one scale per output channel (column).

    Returns (q, scale): q int8 of w's shape in [-127, 127], scale float32 of shape (fan_out,),
    with scale[j] = max|w[:, j]| / 127 (1.0 for an all-zero column) and q = round(w / scale).
    """
    raise NotImplementedError("quantize_per_channel")


def dequantize_per_channel(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 approximation of the original weights: q * scale (scale broadcast over rows)."""
    raise NotImplementedError("dequantize_per_channel")


def int8_linear(x: np.ndarray, q: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x @ W + bias with int8 arithmetic, the way dynamic quantization runs it.

    x (N, fan_in) float is quantized per row, symmetrically: x_scale[i] = max|x[i]| / 127
    (1.0 for an all-zero row), qx = round(x / x_scale) as int8. The product qx @ q is
    accumulated in int32, then rescaled to float32 by x_scale[i] * scale[j] and the float
    bias is added.
    """
    raise NotImplementedError("int8_linear")


def quantize_mlp(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The int8 model you would ship: every array needed by `predict_int8`, nothing else.

    params: {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} float32. The weights ship as
    the int8 codes and float32 per-channel scales of quantize_per_channel (no float copy).
    The grader counts the bytes of the arrays you return (numpy arrays only).
    """
    raise NotImplementedError("quantize_mlp")


def predict_int8(qparams: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Class labels (N,) from the int8 model: two int8 linear layers with a ReLU between,
    computed from `qparams` alone (whatever quantize_mlp returned), nothing kept elsewhere."""
    raise NotImplementedError("predict_int8")


# -- Part B: onnxruntime dynamic quantization ----------------------------------------------------

def quantize_onnx(src: str | Path, dst: str | Path, per_channel: bool = True) -> None:
    """Write an int8 copy of the ONNX model `src` to `dst` (weights int8, activations quantized
    on the fly at run time). `per_channel` chooses one scale per output channel (True) or one
    per tensor (False)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # TODO: this always uses one scale per tensor. Measure the cosine to fp32 with try_it.py,
    #       read the brief on why that falls short for this model, and honour `per_channel`.
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


# -- Part C: GGUF Q4_1 --------------------------------------------------------------------------

Q4_1_BLOCK = 32          # weights per block
Q4_1_BYTES = 2 + 2 + 16  # fp16 d, fp16 m, 32 four-bit codes


def dequantize_q4_1(raw: np.ndarray) -> np.ndarray:
    """Decode Q4_1 blocks, bit-exact with gguf.quants.dequantize (without calling it).

    raw: uint8 array of shape (..., n_blocks * 20), as GGUFReader gives a Q4_1 tensor's data.
    Each 20-byte block is: d (float16), m (float16), 16 bytes of 4-bit codes, where byte j
    holds weight j in its low nibble and weight j + 16 in its high nibble. Weight = d * q + m,
    computed in float32. Returns float32 of shape (..., n_blocks * 32).
    """
    raise NotImplementedError("dequantize_q4_1")


def gguf_bits_per_weight(reader) -> dict[str, float]:
    """Bits per weight of the tensors in an open `gguf.GGUFReader`: for each tensor type present
    (e.g. "Q4_1", "Q8_0", "F32", "Q6_K") 8 * stored bytes / weights over the tensors of that type,
    and "all" over every tensor. Use only reader.tensors and, of each tensor, .tensor_type.name,
    .n_bytes and .n_elements: while grading, gguf is hidden and `reader` is a stand-in with just
    those fields (plus .name, .shape, .data_offset)."""
    raise NotImplementedError("gguf_bits_per_weight")
