"""Data and metering helpers for the model-cascade grader.

- Frozen digits models (a logistic regression and an ensemble of three MLPs, trained by
  `_build_assets.py` on half of scikit-learn's digits) run by numpy, and the held-out pool.
- A seeded generator of a service-handbook corpus with paraphrased questions. The grader's
  questions use templates that the learner's dev set does not contain.
- Metered callables: they count what the learner's cascade sends to each model, so the
  grader can recount the cost ledger and check the MiniLM budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"

# What one item costs on each model, in units (the lab's price list, also in the README).
COSTS = {"logreg": 1, "mlp_ensemble": 20, "wordllama": 1, "minilm": 50}


# -- digits ---------------------------------------------------------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class FrozenDigitModels:
    """Numpy forward passes of the frozen models; inputs are digits pixels / 16, shape (n, 64)."""

    lr_w: np.ndarray
    lr_b: np.ndarray
    mlps: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    pool: np.ndarray  # indices of load_digits() rows none of the models saw in training

    def cheap(self, X: np.ndarray) -> np.ndarray:
        return _softmax(np.asarray(X, dtype=np.float64) @ self.lr_w + self.lr_b)

    def expensive(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        probs = [_softmax(np.maximum(X @ w1 + b1, 0.0) @ w2 + b2) for w1, b1, w2, b2 in self.mlps]
        return np.mean(probs, axis=0)


def load_digit_models(path: Path | None = None) -> FrozenDigitModels:
    data = np.load(path or DATA / "digit_models.npz")
    n = int(data["n_mlps"])
    mlps = tuple((data[f"w1_{i}"], data[f"b1_{i}"], data[f"w2_{i}"], data[f"b2_{i}"]) for i in range(n))
    return FrozenDigitModels(data["lr_w"], data["lr_b"], mlps, data["pool"])


def digits_xy() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


# -- retrieval corpus -----------------------------------------------------------------------

ADJ = ["amber", "cobalt", "crimson", "silver", "jade", "onyx", "ivory", "scarlet", "azure", "copper"]
NOUN = ["falcon", "otter", "heron", "lynx", "badger", "marten", "osprey", "ibex", "raven", "walrus"]
TEAMS = ["Payments", "Identity", "Search", "Storage", "Observability", "Edge", "Data Platform", "Billing", "Messaging"]
REGIONS = ["eu-west-1", "us-east-2", "ap-south-1", "eu-central-1", "us-west-2", "sa-east-1"]
LANGS = ["Go", "Rust", "Kotlin", "Python", "TypeScript", "Elixir", "Java", "C#"]
IDPS = ["Keycloak", "Okta", "Auth0", "Dex", "Azure AD"]
CHANNELS = ["help", "ask", "support", "questions"]

# aspect -> (chunk templates, dev question templates, held-out question templates)
ASPECTS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "retention": (
        ["{e} keeps its request logs for {n} days; after that they are deleted from cold storage.",
         "Access logs written by {e} are purged automatically {n} days after they were recorded."],
        ["How long are {e} logs kept?", "When does {e} delete its access logs?"],
        ["How long does {e} hold on to its logs?", "When are the logs of {e} thrown away?",
         "What is the log retention period for {e}?", "For how many days can I still read old {e} logs?"]),
    "oncall": (
        ["Incidents in {e} are handled by the {team} team, who answer pages around the clock.",
         "The {team} team owns {e} and carries its pager at night and on weekends."],
        ["Which team owns {e}?", "Who answers pages for {e}?"],
        ["Who gets woken up when {e} breaks?", "Which team is responsible for {e} outages?",
         "Who should I escalate a {e} incident to?", "Who is on call for {e}?"]),
    "region": (
        ["{e} runs in the {region} region, spread over three availability zones.",
         "All {e} instances are deployed to {region}; there is no second region yet."],
        ["Which region does {e} run in?", "Is {e} deployed to more than one region?"],
        ["Where is {e} hosted?", "In which data centre does {e} live?",
         "Which cloud location serves {e} traffic?", "What geography are {e}'s servers in?"]),
    "ratelimit": (
        ["{e} accepts at most {n} requests per second per client; extra calls get HTTP 429.",
         "Clients that exceed {n} calls per second to {e} are throttled with a 429 response."],
        ["What is the rate limit of {e}?", "When does {e} throttle clients?"],
        ["What is the throttling limit of {e}?", "How many calls per second may I make to {e}?",
         "Why does {e} answer with status 429?", "Is there a quota on {e} traffic?"]),
    "auth": (
        ["Clients authenticate to {e} with short-lived OAuth tokens issued by {idp}.",
         "Every call to {e} must carry a bearer token minted by {idp}; API keys are rejected."],
        ["How do clients authenticate to {e}?", "Which tokens does {e} accept?"],
        ["How do I log in to {e}?", "What credentials does {e} require?",
         "Can I use an API key with {e}?", "Which identity provider signs tokens for {e}?"]),
    "pricing": (
        ["{e} is billed at {n} cents per thousand calls, charged to the calling team's budget.",
         "Each thousand requests to {e} costs {n} cents, invoiced monthly to the consumer."],
        ["How is {e} billed?", "How many cents per thousand calls does {e} cost?"],
        ["How much does using {e} cost?", "What is the price of {e}?",
         "Who pays for traffic to {e}, and how much?", "What will {e} add to my team's bill?"]),
    "backup": (
        ["{e} snapshots its database every {n} hours and keeps the snapshots for a month.",
         "A full backup of the {e} datastore is taken every {n} hours and can be restored in minutes."],
        ["How often does {e} take database snapshots?", "Can a backup of {e} be restored?"],
        ["How often is {e} backed up?", "Can {e}'s data be recovered if the database is lost?",
         "What is the snapshot schedule of {e}?", "How much data could {e} lose in a disaster?"]),
    "deprecation": (
        ["Version {v} of the {e} API is deprecated and will be switched off next quarter.",
         "The v{v} endpoints of {e} are end-of-life; migrate to the newest version before shutdown."],
        ["Which {e} API version is deprecated?", "When is the old {e} API switched off?"],
        ["When will the old {e} API stop working?", "Is version {v} of {e} still supported?",
         "Do I need to migrate my {e} integration?", "Which {e} API versions are being retired?"]),
    "stack": (
        ["{e} is written in {lang} and shipped as a container image built by CI.",
         "The {e} codebase is {lang}; releases are container images produced by the build pipeline."],
        ["What language is {e} written in?", "How are {e} releases built?"],
        ["What programming language is {e} implemented in?", "Which language would I need to contribute to {e}?",
         "How is {e} packaged for deployment?", "What tech stack is {e} built on?"]),
    "support": (
        ["Questions about {e} go to the #{chan}-{slug} chat channel; expect an answer within a working day.",
         "For help with {e}, post in #{chan}-{slug}; the maintainers reply within one business day."],
        ["Where do I post questions about {e}?", "How fast do the {e} maintainers reply?"],
        ["Where can I ask for help with {e}?", "How do I contact the people behind {e}?",
         "Is there a chat room for {e} questions?", "How quickly will someone answer my question about {e}?"]),
}


@dataclass
class RetrievalTask:
    chunks: list[str]
    queries: list[str]
    targets: list[int]  # index of the chunk that answers each query


def generate_corpus(seed: int, n_entities: int = 40, n_queries: int = 80, held_out: bool = True) -> RetrievalTask:
    """One chunk per (service, aspect), shuffled; questions paraphrase one chunk each."""
    rng = random.Random(seed)
    names = [f"{a}-{n}" for a in ADJ for n in NOUN]
    rng.shuffle(names)
    chunks: list[str] = []
    keys: list[tuple[str, str]] = []
    for entity in names[:n_entities]:
        for aspect, (templates, _, _) in ASPECTS.items():
            chunks.append(rng.choice(templates).format(
                e=entity, n=rng.choice([7, 14, 30, 45, 60, 90, 100, 250, 500]), team=rng.choice(TEAMS),
                region=rng.choice(REGIONS), idp=rng.choice(IDPS), v=rng.randint(1, 4), lang=rng.choice(LANGS),
                chan=rng.choice(CHANNELS), slug=entity.split("-")[1]))
            keys.append((entity, aspect))
    order = list(range(len(chunks)))
    rng.shuffle(order)
    chunks = [chunks[i] for i in order]
    keys = [keys[i] for i in order]
    targets = rng.sample(range(len(chunks)), n_queries)
    queries = []
    for target in targets:
        entity, aspect = keys[target]
        templates = ASPECTS[aspect][2 if held_out else 1]
        queries.append(rng.choice(templates).format(e=entity, v=rng.randint(1, 4)))
    return RetrievalTask(chunks, queries, targets)


# -- metered model callables ----------------------------------------------------------------

@dataclass
class MeteredProba:
    """A classifier's predict_proba that records every batch of rows it is asked to score."""

    fn: object
    batches: list[np.ndarray] = field(default_factory=list)

    def __call__(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 64:
            raise ValueError(f"expected rows of 64 pixels, shape (n, 64); got {X.shape}")
        self.batches.append(X.copy())
        return self.fn(X)

    @property
    def rows(self) -> int:
        return sum(len(b) for b in self.batches)

    def reset(self) -> None:
        self.batches.clear()


@dataclass
class MeteredEmbed:
    """An embedder that records every text it is asked to encode (and caches the vectors,
    so the grader computes each distinct text once while billing every request)."""

    fn: object
    calls: list[list[str]] = field(default_factory=list)
    cache: dict[str, np.ndarray] = field(default_factory=dict)
    computed: int = 0

    def __call__(self, texts):
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        self.calls.append(list(texts))
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            vectors = np.asarray(self.fn(missing), dtype=np.float32)
            self.computed += len(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self.cache[text] = vector
        if not texts:
            return np.zeros((0, len(next(iter(self.cache.values()))) if self.cache else 0), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])

    @property
    def texts(self) -> int:
        return sum(len(c) for c in self.calls)


def wordllama_model():
    """WordLlama from the installed package's own weights (never downloads)."""
    import wordllama
    from wordllama import WordLlama

    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
