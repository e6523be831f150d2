"""Pruning, sparse storage and knowledge distillation for a small PyTorch network.

Edit this file. Every function keeps its signature; the ones that raise NotImplementedError are
yours to write, and `finetune` runs but lets pruned weights grow back (look for TODO). Run
`python try_it.py` to see your numbers, `workbench check compress-prune-distill` to grade.

A model is a state dict of numpy float32 arrays, the way torch names an
`nn.Sequential` of Linear layers with ReLU between them: "fc1.weight" (out, in), "fc1.bias"
(out,), "fc2.weight", ... "fcN.weight"; the last layer gives the class logits.

Part A: magnitude pruning, structured (neuron) pruning, masked fine-tuning.
Part B: CSR storage and its size against dense.
Part C: the distillation loss and a distilled student.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

INDEX_DTYPES = ("int16", "int32")


# -- the model format --------------------------------------------------------------------------

def layer_names(state: dict[str, np.ndarray]) -> list[str]:
    """Layer prefixes in order: ["fc1", "fc2", ...] (fc10 after fc9, not after fc1)."""
    names = [key.removesuffix(".weight") for key in state if key.endswith(".weight")]
    return sorted(names, key=lambda name: int(name.removeprefix("fc")))


def to_torch(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """float32 torch tensors of a numpy state dict (copies: the caller's arrays stay as they are)."""
    return {key: torch.tensor(np.asarray(value), dtype=torch.float32) for key, value in state.items()}


def to_numpy(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float32 numpy arrays of a torch state dict."""
    return {key: value.detach().cpu().numpy().astype(np.float32) for key, value in state.items()}


def forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits of the MLP: Linear, ReLU, Linear, ReLU, ..., Linear."""
    names = layer_names(state)
    for i, name in enumerate(names):
        x = F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])
        if i < len(names) - 1:
            x = F.relu(x)
    return x


# -- Part A: pruning ---------------------------------------------------------------------------

def magnitude_masks(state: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """One boolean mask per weight matrix (True = kept), pruning each layer on its own: the
    round(sparsity * size) entries of smallest |w| are False. Biases are not pruned."""
    raise NotImplementedError("magnitude_masks")


def finetune(state: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
             masks: dict[str, np.ndarray] | None = None, steps: int = 100, lr: float = 0.1) -> dict[str, np.ndarray]:
    """`steps` full-batch SGD steps on mean cross-entropy, with every masked weight held at zero:
    the masks are applied before the first step and again after every step."""
    # TODO: hold the masked weights at zero. As written this is plain SGD: the pruned weights
    #       grow back as soon as training starts, and `masks` is ignored.
    params = to_torch(state)
    for value in params.values():
        value.requires_grad_(True)
    inputs = torch.tensor(np.asarray(X), dtype=torch.float32)
    targets = torch.tensor(np.asarray(y), dtype=torch.long)
    names = list(params)
    for _ in range(steps):
        loss = F.cross_entropy(forward(params, inputs), targets)
        grads = torch.autograd.grad(loss, [params[key] for key in names])
        with torch.no_grad():
            for key, grad in zip(names, grads, strict=True):
                params[key].sub_(lr * grad)
    return to_numpy(params)


def structured_prune(state: dict[str, np.ndarray], keep_ratio: float) -> dict[str, np.ndarray]:
    """Remove whole hidden neurons: in every layer but the last keep the max(1, round(keep_ratio *
    out)) neurons whose incoming weight rows have the largest L2 norm (scored on the original
    weights), in their original order; drop the removed neurons' bias entries and the matching
    input columns of the next layer. The result is a smaller dense model."""
    raise NotImplementedError("structured_prune")


# -- Part B: CSR storage -----------------------------------------------------------------------

def to_csr(w: np.ndarray, index_dtype: str = "int32") -> dict:
    """Compressed sparse rows of a 2-D float matrix, as {"data", "indices", "indptr", "shape"}:
    data (float32 non-zeros, row by row, columns ascending), indices (their columns, in
    `index_dtype`) and indptr (rows + 1 offsets, int32); ValueError when the matrix has more
    columns than `index_dtype` can number."""
    raise NotImplementedError("to_csr")


def csr_to_dense(csr: dict) -> np.ndarray:
    """The float32 matrix a CSR dict stands for."""
    raise NotImplementedError("csr_to_dense")


def model_bytes(state: dict[str, np.ndarray], index_dtype: str = "int32") -> dict[str, int]:
    """Storage of a model: "dense" = every array as float32; "csr" = every weight matrix as CSR
    (data + indices + indptr bytes) plus the biases as dense float32."""
    raise NotImplementedError("model_bytes")


# -- Part C: distillation ----------------------------------------------------------------------

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al. (2015): alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
    averaged over the batch, plus (1 - alpha) * cross-entropy(student, labels) at T = 1.
    A 0-d torch tensor that autograd can differentiate with respect to student_logits."""
    raise NotImplementedError("distillation_loss")


def loss_value_and_grad(student_logits: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
                        temperature: float, alpha: float) -> tuple[float, np.ndarray]:
    """(loss, d loss / d student_logits) of distillation_loss, as numpy: the grader calls this.
    Leave it as it is."""
    student = torch.tensor(np.asarray(student_logits), dtype=torch.float32, requires_grad=True)
    teacher = torch.tensor(np.asarray(teacher_logits), dtype=torch.float32)
    loss = distillation_loss(student, teacher, torch.tensor(np.asarray(labels), dtype=torch.long),
                             float(temperature), float(alpha))
    loss.backward()
    return float(loss.detach()), student.grad.numpy().astype(np.float32)


def macs(state: dict[str, np.ndarray]) -> int:
    """Multiply-accumulates per example: the sum of in x out over the layers."""
    return sum(int(np.prod(np.shape(state[f"{name}.weight"]))) for name in layer_names(state))


def init_mlp(sizes: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """nn.Linear's default initialisation for an MLP of the given widths."""
    state = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False), start=1):
        bound = 1.0 / fan_in**0.5
        state[f"fc{i}.weight"] = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        state[f"fc{i}.bias"] = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
    return state


def distill(teacher_state: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
            temperature: float = 4.0, alpha: float = 0.7, seed: int = 0) -> dict[str, np.ndarray]:
    """Train a small student MLP on (X, y) with distillation_loss against the teacher's logits and
    return its state dict. You choose its width: at most 10% of the teacher's multiply-adds."""
    raise NotImplementedError("distill")
