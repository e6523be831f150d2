"""Data and reference implementations for the first-projects grader (never shipped to the learner).

Everything here runs in the grader process: the bundled newsgroups sample, the header families
with canary tokens, and the reference ridge / naive Bayes / Lloyd's / ARI the learner is compared to.
"""

from __future__ import annotations

import ast
import io
import pickle
import re
import string
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"[a-z]{2,}")
# estimator / model libraries the learner's modules must not import (the sandbox also hides them)
FORBIDDEN_PACKAGES = ("sklearn", "statsmodels", "torch", "tensorflow", "keras", "jax", "xgboost", "lightgbm",
                      "catboost", "nltk", "spacy")
FORBIDDEN_MODULES = ("scipy.cluster",)
SOURCE_FILES = ("ridge.py", "text_classifier.py", "clustering.py")


# -- the bundled newsgroups sample ------------------------------------------------------------

class _BunchUnpickler(pickle.Unpickler):
    """Loads gensim's mini_newsgroup (a Python 2 pickle of scikit-learn's old Bunch) and nothing else."""

    _ALLOWED = {("copy_reg", "_reconstructor"): ("copyreg", "_reconstructor"),
                ("__builtin__", "dict"): ("builtins", "dict"), ("__builtin__", "object"): ("builtins", "object"),
                ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"): ("numpy", "ndarray"), ("numpy", "dtype"): ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) == ("sklearn.datasets.base", "Bunch"):
            return dict
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in gensim's mini_newsgroup")
        return super().find_class(*self._ALLOWED[(module, name)])


@lru_cache(maxsize=1)
def newsgroups() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(messages, labels): 200 messages, 0 = alt.atheism, 1 = sci.space."""
    from gensim.test.utils import datapath

    raw = zlib.decompress(Path(datapath("mini_newsgroup")).read_bytes())
    bunch = _BunchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    return tuple(bunch["data"]), tuple(int(label) for label in bunch["target"])


# -- reference text pipeline ------------------------------------------------------------------

def split_message(message: str) -> tuple[str, str]:
    """(header, body): the header ends at the first empty line ("" or "\\r"); no empty line: no body."""
    lines = message.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip("\r") == "":
            return "\n".join(lines[:index]), "\n".join(lines[index + 1:])
    return message, ""


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def bag_of_words(message: str) -> dict[str, int]:
    return dict(Counter(tokenize(split_message(message)[1])))


def nb_fit(messages, labels):
    """Multinomial naive Bayes, add-one smoothing: (vocabulary, classes, class_log_prior, feature_log_prob)."""
    bags = [bag_of_words(m) for m in messages]
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    vocabulary = sorted({t for bag in bags for t in bag})
    column = {t: j for j, t in enumerate(vocabulary)}
    counts = np.zeros((len(classes), len(vocabulary)))
    for bag, label in zip(bags, labels.tolist(), strict=True):
        for token, count in bag.items():
            counts[classes.index(label), column[token]] += count
    smoothed = counts + 1.0
    log_prob = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    prior = np.log(np.array([np.sum(labels == c) for c in classes], dtype=float) / len(labels))
    return vocabulary, classes, prior, log_prob


def nb_predict(model, messages) -> list[int]:
    vocabulary, classes, prior, log_prob = model
    column = {t: j for j, t in enumerate(vocabulary)}
    out = []
    for message in messages:
        counts = np.zeros(len(vocabulary))
        for token, count in bag_of_words(message).items():
            if token in column:
                counts[column[token]] += count
        out.append(classes[int(np.argmax(prior + log_prob @ counts))])
    return out


def nb_cross_val(messages, labels, folds) -> list[float]:
    labels, folds = np.asarray(labels), np.asarray(folds)
    accuracies = []
    for fold in sorted(set(folds.tolist())):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        model = nb_fit([messages[i] for i in train], labels[train])
        predicted = np.asarray(nb_predict(model, [messages[i] for i in test]))
        accuracies.append(float(np.mean(predicted == labels[test])))
    return accuracies


def stratified_folds(labels, k: int, rng: np.random.Generator) -> list[int]:
    labels = np.asarray(labels)
    folds = np.empty(len(labels), dtype=int)
    for value in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == value))
        folds[rows] = (np.arange(len(rows)) + int(rng.integers(k))) % k
    return folds.tolist()


# -- header families with canary tokens -------------------------------------------------------

def canary(rng: np.random.Generator, used: set[str]) -> str:
    """A random lowercase word that appears in no body of the sample."""
    bodies = body_vocabulary()
    while True:
        word = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(8, 13))))
        if word not in bodies and word not in used:
            used.add(word)
            return word


@lru_cache(maxsize=1)
def body_vocabulary() -> frozenset[str]:
    messages, _ = newsgroups()
    return frozenset(t for m in messages for t in bag_of_words(m))


def _new_header_name(rng: np.random.Generator) -> str:
    return rng.choice(["X-Archive-Tag", "Keywords", "Summary", "X-Grader-Note", "Followup-To", "X-Posted-Via",
                       "Originator", "X-Topic"]) + f"-{int(rng.integers(10, 99))}"


def header_families(rng: np.random.Generator, count_per_family: int = 3, among=None):
    """Messages built from real ones whose headers carry canary words, one family at a time.

    Yields (family, message, canaries, source): `source` is the index of the real message it was
    built from, drawn from `among` (default: all 200). Families: an unseen header field, a folded (indented
    continuation) header line, CRLF line endings, canaries in Subject / Newsgroups / From, a body
    that itself has 'Name: value' lines, a body that starts with blank lines, a message with no
    body at all, and a header block of a single line."""
    messages, _ = newsgroups()
    used: set[str] = set()
    pool = np.arange(len(messages)) if among is None else np.asarray(among)
    picks = rng.choice(pool, size=8 * count_per_family, replace=False)
    for n, index in enumerate(picks):
        index = int(index)
        for family_name, message, words in _family(rng, n % 8, messages[index], used):
            yield family_name, message, words, index


def _family(rng: np.random.Generator, family: int, message: str, used: set[str]):
    """One message of one family, built from a real message."""
    header, body = split_message(message)
    words = [canary(rng, used) for _ in range(2)]
    if family == 0:
        lines = header.split("\n")
        lines.insert(int(rng.integers(1, len(lines) + 1)), f"{_new_header_name(rng)}: {words[0]} {words[1].upper()}")
        yield "an unseen header field", "\n".join(lines) + "\n\n" + body, words
    elif family == 1:
        lines = header.split("\n")
        at = int(rng.integers(1, len(lines) + 1))
        lines[at - 1:at] = [lines[at - 1], f"\t{words[0]} <{words[1]}@example.org>"]
        yield "a folded header line (indented continuation)", "\n".join(lines) + "\n\n" + body, words
    elif family == 2:
        text = header + f"\nX-Mailer: {words[0]} {words[1]}" + "\n\n" + body
        yield "CRLF line endings", text.replace("\n", "\r\n"), words
    elif family == 3:
        lines = [re.sub(r"^(Subject|Newsgroups|From):", lambda m: f"{m.group(0)} {words[0]}", line)
                 for line in header.split("\n")]
        lines.append(f"Organization: {words[1].capitalize()} Institute")
        yield "canaries in Subject, Newsgroups, From and Organization", "\n".join(lines) + "\n\n" + body, words
    elif family == 4:
        quoted = (f"From: someone@example.org\nSubject: forwarded note\n"
                  f"Newsgroups: sci.space\n{body}")
        yield ("a body with its own 'Name: value' lines (they are body, keep them)",
               header + f"\nX-Ref: {words[0]}\n{words[1]}: yes" + "\n\n" + quoted, words)
    elif family == 5:
        yield ("a body that starts with more empty lines",
               header + f"\nX-Ref: {words[0]} {words[1]}" + "\n\n\n\n" + body, words)
    elif family == 6:
        yield "a message with no body (no empty line)", header + f"\nX-Ref: {words[0]} {words[1]}", words
    else:
        yield ("a one-line header", f"Subject: {words[0]} {words[1]}\n\n{body}", words)


def swap_header(message: str, other: str) -> str:
    """The body of `message` under the header of `other`."""
    return split_message(other)[0] + "\n\n" + split_message(message)[1]


# -- reference ridge, k-means, ARI --------------------------------------------------------------

def ridge_reference(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """scikit-learn's Ridge itself: the lab's stated reference."""
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=alpha, fit_intercept=True, solver="svd").fit(X, y)
    return np.asarray(model.coef_, dtype=float), float(model.intercept_)


def r2_reference(y_true, y_pred) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


def ari_reference(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def lloyd_reference(X: np.ndarray, centers: np.ndarray, max_iter: int):
    """The brief's Lloyd: assign; then up to max_iter times: move each non-empty cluster's center to
    its mean (an empty one keeps its center), reassign, stop when no label changed."""
    centers = np.array(centers, dtype=float)
    labels = np.argmin(squared_distances(X, centers), axis=1)
    for _ in range(max_iter):
        for j in range(len(centers)):
            members = X[labels == j]
            if len(members):
                centers[j] = members.mean(axis=0)
        new_labels = np.argmin(squared_distances(X, centers), axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return labels, centers, float(np.sum((X - centers[labels]) ** 2))


# -- the learner's imports ----------------------------------------------------------------------

def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def imported_modules(source: str) -> list[str]:
    """Modules a file imports outside its `if __name__ == "__main__":` block."""
    tree = ast.parse(source)
    body = [node for node in tree.body if not _is_main_guard(node)]
    names: list[str] = []
    for top in body:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
                names.extend(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                    names.append(str(node.args[0].value))
    return names


def forbidden(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN_PACKAGES or name.startswith(FORBIDDEN_MODULES)
