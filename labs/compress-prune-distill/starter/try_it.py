"""Try your compress.py on the digits teacher: `python try_it.py [a|b|c]` (default: all three).

Trains the same kind of 64-256-256-10 teacher the grader trains (on a split of its own) and
prints the figures the grader checks: (a) pruning and fine-tuning, (b) CSR against dense bytes
and batch-1 latency, (c) the distilled student. Takes 20-60 s on two cores.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import compress

torch.set_num_threads(1)


def digits(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y.astype(np.int64), test_size=0.3, random_state=seed, stratify=y)


def train_teacher(X, y, seed: int = 0, epochs: int = 20):
    generator = torch.Generator().manual_seed(seed)
    state = compress.init_mlp([64, 256, 256, 10], generator)
    for value in state.values():
        value.requires_grad_(True)
    inputs, targets = torch.tensor(X), torch.tensor(y)
    optimizer = torch.optim.Adam(state.values(), lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), 64):
            rows = order[start:start + 64]
            loss = F.cross_entropy(compress.forward(state, inputs[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return compress.to_numpy(state)


def accuracy(state, X, y) -> float:
    with torch.no_grad():
        logits = compress.forward(compress.to_torch(state), torch.tensor(X))
    return float((logits.argmax(dim=1).numpy() == y).mean())


def batch1_ms(state, inputs: int, reps: int = 30, rounds: int = 7) -> float:
    params, x = compress.to_torch(state), torch.randn(1, inputs)
    times = []
    with torch.no_grad():
        compress.forward(params, x)
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(reps):
                compress.forward(params, x)
            times.append((time.perf_counter() - started) / reps * 1e3)
    return statistics.median(times)


def part_a(teacher, X_train, X_test, y_train, y_test) -> None:
    base = accuracy(teacher, X_test, y_test)
    print(f"[A] teacher: {base:.2%} on {len(y_test)} held-out digits, {compress.macs(teacher):,} MACs")
    for sparsity in (0.5, 0.7, 0.9):
        masks = compress.magnitude_masks(teacher, sparsity)
        pruned = {k: v * masks[k] if k in masks else v for k, v in teacher.items()}
        tuned = compress.finetune(teacher, X_train, y_train, masks, steps=100, lr=0.1)
        zeros = sum(int((tuned[k] == 0).sum()) for k in masks) / sum(tuned[k].size for k in masks)
        print(f"    magnitude {sparsity:.0%}: {accuracy(pruned, X_test, y_test):.2%} pruned, "
              f"{accuracy(tuned, X_test, y_test):.2%} fine-tuned, {zeros:.1%} of weights still zero")
    small = compress.structured_prune(teacher, 0.5)
    tuned = compress.finetune(small, X_train, y_train, None, steps=100, lr=0.1)
    print(f"    structured, half the neurons: {compress.macs(small) / compress.macs(teacher):.0%} of the MACs, "
          f"{accuracy(small, X_test, y_test):.2%} pruned, {accuracy(tuned, X_test, y_test):.2%} fine-tuned")


def part_b(teacher) -> None:
    for sparsity in (0.5, 0.7, 0.9):
        masks = compress.magnitude_masks(teacher, sparsity)
        pruned = {k: v * masks[k] if k in masks else v for k, v in teacher.items()}
        sizes = {dtype: compress.model_bytes(pruned, dtype) for dtype in ("int32", "int16")}
        print(f"[B] {sparsity:.0%} sparse: dense {sizes['int32']['dense']:,} B, CSR {sizes['int32']['csr']:,} B with "
              f"int32 indices ({sizes['int32']['csr'] / sizes['int32']['dense']:.2f}x), "
              f"{sizes['int16']['csr']:,} B with int16 ({sizes['int16']['csr'] / sizes['int16']['dense']:.2f}x)")
    rng = np.random.default_rng(0)
    wide = {}
    for i, (fan_in, fan_out) in enumerate(((256, 2048), (2048, 2048), (2048, 10)), start=1):
        wide[f"fc{i}.weight"] = (rng.normal(size=(fan_out, fan_in)) / np.sqrt(fan_in)).astype(np.float32)
        wide[f"fc{i}.bias"] = np.zeros(fan_out, np.float32)
    dense_ms = batch1_ms(wide, 256)
    small_ms = batch1_ms(compress.structured_prune(wide, 0.5), 256)
    masks = compress.magnitude_masks(wide, 0.5)
    masked_ms = batch1_ms({k: v * masks[k] if k in masks else v for k, v in wide.items()}, 256)
    print(f"    256-2048-2048-10 at batch 1: dense {dense_ms:.2f} ms, 50% magnitude-masked {masked_ms:.2f} ms, "
          f"structured (half the neurons) {small_ms:.2f} ms: {dense_ms / small_ms:.2f}x faster")


def part_c(teacher, X_train, X_test, y_train, y_test) -> None:
    started = time.perf_counter()
    student = compress.distill(teacher, X_train, y_train, temperature=4.0, alpha=0.7, seed=0)
    seconds = time.perf_counter() - started
    teacher_acc, student_acc = accuracy(teacher, X_test, y_test), accuracy(student, X_test, y_test)
    share = compress.macs(student) / compress.macs(teacher)
    print(f"[C] student: {compress.macs(student):,} MACs ({share:.1%} of the teacher), {student_acc:.2%} vs "
          f"{teacher_acc:.2%} ({student_acc / teacher_acc:.1%} of the teacher), trained in {seconds:.1f} s")
    student_logits = np.random.default_rng(1).normal(size=(4, 10)).astype(np.float32) * 3
    teacher_logits = np.random.default_rng(2).normal(size=(4, 10)).astype(np.float32) * 3
    loss, grad = compress.loss_value_and_grad(student_logits, teacher_logits, np.array([0, 1, 2, 3]), 4.0, 0.7)
    print(f"    distillation_loss on 4 random rows (T=4, alpha=0.7): {loss:.4f}, |grad| max {np.abs(grad).max():.4f}")


def main() -> None:
    parts = sys.argv[1:] or ["a", "b", "c"]
    X_train, X_test, y_train, y_test = digits()
    teacher = train_teacher(X_train, y_train)
    if "a" in parts:
        part_a(teacher, X_train, X_test, y_train, y_test)
    if "b" in parts:
        part_b(teacher)
    if "c" in parts:
        part_c(teacher, X_train, X_test, y_train, y_test)


if __name__ == "__main__":
    main()
