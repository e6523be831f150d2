"""Helpers for the compress-prune-distill grader: the digits teacher, random networks, and the
reference implementations the learner's functions are compared with. Nothing here is the
learner's; torch is imported lazily so that collecting the checks stays cheap."""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np

TEACHER_SIZES = (64, 256, 256, 10)


# -- the model format (numpy state dicts named like torch's fc1.weight, fc1.bias, ...) ----------

def layer_names(state: dict[str, np.ndarray]) -> list[str]:
    names = [key.removesuffix(".weight") for key in state if key.endswith(".weight")]
    return sorted(names, key=lambda name: int(name.removeprefix("fc")))


def random_mlp(rng: np.random.Generator, sizes: list[int], layer_scales: list[float] | None = None) -> dict[str, np.ndarray]:
    """A random float32 MLP state dict; `layer_scales` multiplies each layer's weights (so a
    global magnitude threshold would prune the layers very unevenly)."""
    state = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False), start=1):
        scale = (layer_scales[i - 1] if layer_scales else 1.0) / np.sqrt(fan_in)
        state[f"fc{i}.weight"] = (rng.normal(size=(fan_out, fan_in)) * scale).astype(np.float32)
        state[f"fc{i}.bias"] = (rng.normal(size=fan_out) * 0.1).astype(np.float32)
    return state


def macs(state: dict[str, np.ndarray]) -> int:
    """Multiply-accumulates per example of an MLP state dict."""
    return sum(int(np.prod(state[f"{name}.weight"].shape)) for name in layer_names(state))


def chain_problem(state, inputs: int, outputs: int) -> str | None:
    """Why `state` is not a valid fcN MLP from `inputs` to `outputs` features (None when it is)."""
    if not isinstance(state, dict) or not state:
        return f"expected a non-empty dict of numpy arrays, got {type(state).__name__}"
    bad = [key for key, value in state.items() if not isinstance(value, np.ndarray) or value.dtype != np.float32]
    if bad:
        return f"entries {bad[:3]} are not float32 numpy arrays"
    try:
        names = layer_names(state)
    except ValueError:
        return f"keys {sorted(state)} are not named fc1.weight, fc1.bias, ..."
    expected_keys = {f"{name}.{part}" for name in names for part in ("weight", "bias")}
    if set(state) != expected_keys or names != [f"fc{i}" for i in range(1, len(names) + 1)]:
        return f"keys {sorted(state)}: expected fc1.weight, fc1.bias, ... fcN.weight, fcN.bias"
    width = inputs
    for name in names:
        w, b = state[f"{name}.weight"], state[f"{name}.bias"]
        if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
            return f"{name}: weight {w.shape}, bias {b.shape} do not chain from {width} inputs"
        width = w.shape[0]
    if width != outputs:
        return f"the last layer gives {width} outputs, needs {outputs}"
    return None


def predict(state: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Class labels of the MLP, in float64 numpy."""
    x = np.asarray(X, dtype=np.float64)
    names = layer_names(state)
    for i, name in enumerate(names):
        x = x @ state[f"{name}.weight"].astype(np.float64).T + state[f"{name}.bias"]
        if i < len(names) - 1:
            x = np.maximum(x, 0.0)
    return np.argmax(x, axis=1)


# -- data and the teacher ----------------------------------------------------------------------

@dataclass(frozen=True)
class Digits:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def digits_split(seed: int) -> Digits:
    """scikit-learn's 8x8 digits (pixels / 16), 70 / 30 stratified split from the seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    return Digits(X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64))


def _torch_forward(state, x):
    import torch.nn.functional as F

    names = layer_names(state)
    for i, name in enumerate(names):
        x = F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])
        if i < len(names) - 1:
            x = F.relu(x)
    return x


def _init(sizes, generator):
    import torch

    state = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False), start=1):
        bound = 1.0 / fan_in**0.5
        state[f"fc{i}.weight"] = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        state[f"fc{i}.bias"] = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
    return state


def train_mlp(sizes, X: np.ndarray, y: np.ndarray, seed: int, epochs: int, lr: float = 1e-3,
              batch: int = 64) -> dict[str, np.ndarray]:
    """Adam on mini-batches of cross-entropy: the teacher (and a label-only student for comparison)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(seed)
    state = _init(list(sizes), generator)
    for value in state.values():
        value.requires_grad_(True)
    inputs, targets = torch.tensor(X), torch.tensor(y)
    optimizer = torch.optim.Adam(state.values(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch):
            rows = order[start:start + batch]
            loss = F.cross_entropy(_torch_forward(state, inputs[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {key: value.detach().numpy().astype(np.float32) for key, value in state.items()}


def train_teacher(digits: Digits, seed: int) -> dict[str, np.ndarray]:
    """The 64-256-256-10 teacher: 20 epochs of Adam (96-98% on the held-out digits)."""
    return train_mlp(TEACHER_SIZES, digits.X_train, digits.y_train, seed, epochs=20)


# -- references --------------------------------------------------------------------------------

def reference_finetune(state, X, y, masks, steps: int, lr: float) -> dict[str, np.ndarray]:
    """Full-batch SGD on mean cross-entropy; masked weights zeroed before the first step and
    after every step."""
    import torch
    import torch.nn.functional as F

    params = {key: torch.tensor(value, dtype=torch.float32) for key, value in state.items()}
    masks_t = {key: torch.tensor(mask) for key, mask in (masks or {}).items()}
    with torch.no_grad():
        for key, mask in masks_t.items():
            params[key].mul_(mask)
    for value in params.values():
        value.requires_grad_(True)
    inputs, targets = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    names = list(params)
    for _ in range(steps):
        loss = F.cross_entropy(_torch_forward(params, inputs), targets)
        grads = torch.autograd.grad(loss, [params[key] for key in names])
        with torch.no_grad():
            for key, grad in zip(names, grads, strict=True):
                params[key].sub_(lr * grad)
                if key in masks_t:
                    params[key].mul_(masks_t[key])
    return {key: value.detach().numpy().astype(np.float32) for key, value in params.items()}


def cross_entropy(state, X, y) -> float:
    """Mean cross-entropy of the MLP on (X, y), float64."""
    x = np.asarray(X, dtype=np.float64)
    names = layer_names(state)
    for i, name in enumerate(names):
        x = x @ state[f"{name}.weight"].astype(np.float64).T + state[f"{name}.bias"]
        if i < len(names) - 1:
            x = np.maximum(x, 0.0)
    x = x - x.max(axis=1, keepdims=True)
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def reference_structured(state, keep_ratio: float) -> dict[str, np.ndarray]:
    """Keep the max(1, round(keep_ratio * out)) hidden neurons of largest incoming-row L2 norm
    (scored on the original weights), in order, in every layer but the last."""
    names = layer_names(state)
    out = {key: value.copy() for key, value in state.items()}
    for i, name in enumerate(names[:-1]):
        w = state[f"{name}.weight"]
        n_keep = max(1, round(keep_ratio * w.shape[0]))
        norms = np.linalg.norm(w.astype(np.float64), axis=1)
        kept = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
        out[f"{name}.weight"] = out[f"{name}.weight"][kept]
        out[f"{name}.bias"] = out[f"{name}.bias"][kept]
        out[f"{names[i + 1]}.weight"] = out[f"{names[i + 1]}.weight"][:, kept]
    return out


def reference_csr(w: np.ndarray, index_dtype: str) -> dict:
    """scipy's canonical CSR of w (explicit zeros, -0.0 included, dropped)."""
    from scipy.sparse import csr_matrix

    matrix = csr_matrix(np.asarray(w, dtype=np.float32))
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return {"data": matrix.data.astype(np.float32), "indices": matrix.indices.astype(index_dtype),
            "indptr": matrix.indptr.astype(np.int32), "shape": matrix.shape}


def csr_bytes(w: np.ndarray, index_itemsize: int) -> int:
    """Bytes of w in CSR: 4 per non-zero value, index_itemsize per column index, and 4 (int32)
    per row offset (rows + 1)."""
    nnz = int(np.count_nonzero(w))
    return 4 * nnz + index_itemsize * nnz + 4 * (w.shape[0] + 1)


def reference_model_bytes(state, index_itemsize: int) -> dict[str, int]:
    dense = sum(4 * value.size for value in state.values())
    csr = sum(csr_bytes(value, index_itemsize) if key.endswith(".weight") else 4 * value.size
              for key, value in state.items())
    return {"dense": int(dense), "csr": int(csr)}


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def reference_distillation(student, teacher, labels, temperature: float, alpha: float) -> tuple[float, np.ndarray]:
    """alpha * T^2 * KL(p_teacher^T || p_student^T) (batch mean) + (1 - alpha) * CE(student, labels),
    and its gradient with respect to the student logits, in float64."""
    s, t = np.asarray(student, dtype=np.float64), np.asarray(teacher, dtype=np.float64)
    n = len(s)
    log_ps, log_pt = _log_softmax(s / temperature), _log_softmax(t / temperature)
    p_t = np.exp(log_pt)
    kl = float(np.sum(np.where(p_t > 0, p_t * (log_pt - log_ps), 0.0)) / n)
    log_p1 = _log_softmax(s)
    ce = float(-log_p1[np.arange(n), labels].mean())
    loss = alpha * temperature**2 * kl + (1 - alpha) * ce
    onehot = np.zeros_like(s)
    onehot[np.arange(n), labels] = 1.0
    grad = alpha * temperature * (np.exp(log_ps) - p_t) / n + (1 - alpha) * (np.exp(log_p1) - onehot) / n
    return loss, grad


# -- batch-1 latency ---------------------------------------------------------------------------

def latency_ratio(slow_state, fast_state, inputs: int, rounds: int = 9, reps: int = 20,
                  sparse: bool = False) -> tuple[float, float, float]:
    """Median batch-1 latency (ms) of `slow_state` and `fast_state` in torch, one thread,
    interleaved rounds; returns (slow / fast, slow_ms, fast_ms). `sparse` runs the fast model's
    weights as torch CSR tensors."""
    import torch

    torch.set_num_threads(1)
    slow = {key: torch.tensor(value) for key, value in slow_state.items()}
    fast = {key: torch.tensor(value) for key, value in fast_state.items()}
    if sparse:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = {key: (value.to_sparse_csr() if key.endswith(".weight") else value) for key, value in fast.items()}
    x = torch.randn(1, inputs)

    def run_sparse(state, x):
        names = layer_names(state)
        for i, name in enumerate(names):
            x = (state[f"{name}.weight"] @ x.T).T + state[f"{name}.bias"]
            if i < len(names) - 1:
                x = torch.relu(x)
        return x

    fast_fn = run_sparse if sparse else _torch_forward

    def timed(fn, state) -> float:
        started = time.perf_counter()
        for _ in range(reps):
            fn(state, x)
        return (time.perf_counter() - started) / reps * 1e3

    slow_ms, fast_ms = [], []
    with torch.no_grad():
        _torch_forward(slow, x), fast_fn(fast, x)
        for _ in range(rounds):
            slow_ms.append(timed(_torch_forward, slow))
            fast_ms.append(timed(fast_fn, fast))
    slow_med, fast_med = statistics.median(slow_ms), statistics.median(fast_ms)
    return slow_med / fast_med, slow_med, fast_med
