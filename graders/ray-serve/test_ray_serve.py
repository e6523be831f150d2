"""Grader for ray-serve: the learner's Ray Serve application (`embed_service.build_app(args)`),
deployed by a Ray host that the grader starts in the learner sandbox (a local Ray instance on
127.0.0.1, shut down at the end), and load-tested over loopback. Batch sizes come from the
grader's own hooks inside Ray's processes, replica counts from the process table and from
Serve's controller, correctness from unbatched reference vectors. Settings and texts come from
the run's fresh seed."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time

import numpy as np
import pytest
from _cluster import (
    HostError,
    RayHost,
    Reply,
    burst,
    load,
    load_async,
    make_texts,
    post_text,
    reference,
    request,
    vector_of,
)

MIN_COSINE = 0.9999  # batched vs unbatched vector of the same text (measured: 1.0000000)
START_TIMEOUT_S = 120.0  # Ray + Serve start-up in the sandbox (measured 20-46 s on a busy 2-core machine)
MIN_MEAN_BATCH = 2.0
LOAD_CLIENTS = 24
SCALE_CLIENTS = 32
SCALE_DECISION_BOUND_S = 15.0  # load start -> a 2nd replica process exists (reference: 3-6 s; Serve's defaults: > 30 s)
SCALE_RUNNING_BOUND_S = 60.0  # load start -> 2 RUNNING replicas (reference: 7-11 s; a replica starts in 5-13 s here)
IDLE_WATCH_S = 3.0
REDEPLOY_CLIENTS = 16
MIN_SHED = 16  # of the 48-request burst (reference: 35-40)
SHED_WITHIN_S = 3.0  # slowest 503 (reference: 0.1-0.2 s)
LONE_SLACK_S = 0.35  # a lone request: batch_wait_timeout_s + this (reference: wait + 0.02-0.04 s)


class Settings:
    """The run's settings for build_app, drawn from the seed (the brief's example uses 8)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        tag = f"{seed % 100000:05d}"
        common = {"min_replicas": 1, "max_replicas": 1}
        self.steady = {"max_batch_size": rng.randint(3, 7), "batch_wait_timeout_s": rng.choice([0.03, 0.05, 0.08]),
                       "max_ongoing_requests": rng.randint(24, 40), "max_queued_requests": rng.randint(64, 200),
                       **common, "version": f"s-{tag}"}
        self.backpressure = {"max_batch_size": rng.randint(2, 4), "batch_wait_timeout_s": 0.02,
                             "max_ongoing_requests": rng.randint(3, 6), "max_queued_requests": rng.randint(2, 6),
                             **common, "version": f"b-{tag}"}
        self.autoscale = {"max_batch_size": 8, "batch_wait_timeout_s": 0.02, "max_ongoing_requests": 16,
                          "max_queued_requests": 512, "min_replicas": 1, "max_replicas": 2, "version": f"a-{tag}"}
        self.redeployed = {**self.autoscale, "version": f"r-{tag}"}


@pytest.fixture(scope="session")
def settings(seed) -> Settings:
    return Settings(seed)


@pytest.fixture(scope="session")
def cluster(learner_process):
    host = RayHost(learner_process)
    host.wait_ready(START_TIMEOUT_S)
    yield host
    host.shutdown()


@pytest.fixture(scope="session")
def texts(seed) -> tuple[list[str], np.ndarray]:
    """Queries of 2-8 words and their unbatched reference vectors."""
    queries = make_texts(seed, 120)
    return queries, reference(queries)


def deployed(cluster: RayHost, args: dict, record_metric=None) -> None:
    if cluster.problem:
        pytest.fail(cluster.problem, pytrace=False)
    if cluster.current_args == args:
        return
    try:
        answer = cluster.deploy(args)
    except HostError as exc:
        pytest.fail(str(exc), pytrace=False)
    if record_metric is not None:
        record_metric("deploy_s", round(answer["deploy_s"], 2))


SERVE_DEFAULTS = {"max_ongoing_requests": 5, "max_queued_requests": -1, "num_replicas": 1}


def deployment_config(cluster: RayHost) -> dict:
    """The one deployment's config as Serve's controller holds it (Serve's defaults filled in)."""
    try:
        configs = cluster.configs()
    except HostError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert len(configs) == 1, f"the application has {len(configs)} deployments ({sorted(configs)}); the brief asks for one"
    config = {key: value for key, value in next(iter(configs.values())).items() if value is not None}
    return {**SERVE_DEFAULTS, **config}


def replica_range(config: dict) -> tuple[int, int]:
    """(min, max) replicas: from the autoscaling config, else the fixed num_replicas."""
    autoscaling = config.get("autoscaling_config")
    if isinstance(autoscaling, dict):
        return int(autoscaling.get("min_replicas", 1)), int(autoscaling.get("max_replicas", 1))
    fixed = int(config.get("num_replicas") or 1)
    return fixed, fixed


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def first_failure(replies: list[Reply], allowed: frozenset = frozenset({200})) -> str | None:
    bad = [r for r in replies if r.status not in allowed]
    return f"{len(bad)} of {len(replies)} requests failed (first: {bad[0].describe()})" if bad else None


def wrong_vectors(replies: list[Reply], queries: list[str], refs: np.ndarray) -> str | None:
    """The first 200 answer whose vector is not its own text's unbatched vector, described."""
    for reply in replies:
        if reply.status != 200:
            continue
        row = reply.index % len(queries)
        vector = vector_of(reply)
        if vector is None:
            return f"the answer for {queries[row]!r} has no 'embedding' of 384 numbers: {reply.body[:120]!r}"
        value = cosine(vector, refs[row])
        if value < MIN_COSINE:
            sims = refs @ vector / max(np.linalg.norm(vector), 1e-12)
            other = int(np.argmax(sims))
            carried = f"; it carries the vector of {queries[other]!r}" if other != row and sims[other] >= MIN_COSINE else ""
            return (f"the answer for {queries[row]!r} has cosine {value:.4f} to that text's own unbatched embedding "
                    f"(needs >= {MIN_COSINE}){carried}")
    return None


def version_of(reply: Reply) -> str | None:
    try:
        return reply.json().get("version")
    except (ValueError, AttributeError):
        return None


# -- checks ---------------------------------------------------------------------------------------

@pytest.mark.check(skill="mlops", points=1, hint=1, required=True)
def test_serves_one_embedding(cluster, settings, texts, record_metric):
    """The application deploys and embeds a text"""
    if cluster.ready:
        for key in ("ray_init_s", "serve_start_s", "total_s"):
            record_metric(f"ray_{key}" if not key.startswith("ray") else key, round(cluster.ready[key], 2))
    deployed(cluster, settings.steady, record_metric)
    queries, refs = texts
    reply = post_text(cluster.port, queries[0])
    assert reply.status == 200, f"POST /embed {{'text': {queries[0]!r}}} answered {reply.describe()}; needs 200"
    try:
        data = reply.json()
    except ValueError:
        pytest.fail(f"POST /embed answered with a body that is not JSON: {reply.body[:200]!r}", pytrace=False)
    vector = vector_of(reply)
    assert vector is not None, f"the answer needs 'embedding': a list of 384 numbers; got {str(data)[:200]}"
    assert data.get("dim") == 384, f"the answer needs \"dim\": 384; got {data.get('dim')!r}"
    value = cosine(vector, refs[0])
    record_metric("cosine", round(value, 6))
    assert value >= MIN_COSINE, f"cosine to the text's MiniLM embedding = {value:.4f}; needs >= {MIN_COSINE}"
    assert data.get("version") == settings.steady["version"], (
        f"the answer's \"version\" is {data.get('version')!r}; needs the version build_app was given "
        f"({settings.steady['version']!r})")
    replicas = cluster.replica_pids()
    record_metric("replicas", len(replicas))
    record_metric("cluster_rss_mb", round(cluster.tree_rss_mb()))
    assert len(replicas) == 1, (f"{len(replicas)} replica processes run with min_replicas = max_replicas = 1; "
                                "needs exactly 1 (map min_replicas/max_replicas to the autoscaling config)")


@pytest.mark.check(skill="mlops", points=1, hint=1, required=True)
def test_settings_reach_the_deployment(cluster, settings, record_metric):
    """build_app's settings reach the deployment's config in Serve"""
    args = settings.steady
    deployed(cluster, args, record_metric)
    config = deployment_config(cluster)
    wrong = [f"{key} = {config.get(key)!r}, needs {args[key]!r}"
             for key in ("max_ongoing_requests", "max_queued_requests") if config.get(key) != args[key]]
    replicas = replica_range(config)
    if replicas != (args["min_replicas"], args["max_replicas"]):
        wrong.append(f"replicas (min, max) = {replicas}, needs ({args['min_replicas']}, {args['max_replicas']})")
    cpus = (config.get("ray_actor_options") or {}).get("num_cpus", 1)
    record_metric("replica_num_cpus", float(cpus if cpus is not None else 1))
    if cpus is None or float(cpus) > 1:
        wrong.append(f"each replica asks for {cpus} CPUs; the grader's Ray has 2 and needs room for 2 replicas")
    assert not wrong, "Serve's config of your deployment: " + "; ".join(wrong)


@pytest.mark.check(skill="systems-design", points=3, hint=2, required=True)
def test_serve_batch_forms_batches_with_the_right_vectors(cluster, settings, texts, record_metric):
    """@serve.batch forms batches under concurrent load, and every answer carries its own text's vector"""
    deployed(cluster, settings.steady, record_metric)
    queries, refs = texts
    limit = settings.steady["max_batch_size"]
    cluster.mark()
    replies = load(cluster.port, queries, LOAD_CLIENTS)
    for reply in replies:
        reply.index %= len(queries)
    failure = first_failure(replies)
    assert failure is None, f"under {LOAD_CLIENTS} concurrent clients: {failure}"
    problem = wrong_vectors(replies, queries, refs)
    assert problem is None, problem
    time.sleep(0.2)
    serve_batches, model_calls = cluster.batches()
    record_metric("serve_batches", len(serve_batches))
    record_metric("model_calls", len(model_calls))
    assert serve_batches, ("no batch went through Ray Serve's @serve.batch while 120 requests were answered: "
                           "decorate the async method that calls the model with @serve.batch and await it per request")
    mean_batch = sum(serve_batches) / len(serve_batches)
    record_metric("mean_batch", round(mean_batch, 2))
    record_metric("max_batch", max(serve_batches))
    assert sum(serve_batches) >= len(queries), (
        f"only {sum(serve_batches)} of {len(queries)} requests went through @serve.batch; every request must")
    assert max(serve_batches) <= limit, (
        f"a @serve.batch batch held {max(serve_batches)} requests; max_batch_size is {limit} in this run "
        "(set it from build_app's args, e.g. self.method.set_max_batch_size(n))")
    assert max(serve_batches) == limit, (
        f"the largest batch held {max(serve_batches)} requests under {LOAD_CLIENTS} concurrent clients; with "
        f"max_batch_size = {limit} full batches must form (is max_ongoing_requests passed on?)")
    assert mean_batch >= MIN_MEAN_BATCH, f"mean @serve.batch batch = {mean_batch:.2f}; needs >= {MIN_MEAN_BATCH}"
    assert model_calls, "the MiniLM embedder (workbench.llm.embeddings) was never called: keep the given model"
    mean_call = sum(model_calls) / len(model_calls)
    record_metric("mean_model_call", round(mean_call, 2))
    assert mean_call >= MIN_MEAN_BATCH and max(model_calls) <= limit, (
        f"model calls held {mean_call:.2f} texts on average (largest {max(model_calls)}); each batch must reach the "
        f"model in ONE call (mean >= {MIN_MEAN_BATCH}, at most {limit} texts)")


@pytest.mark.check(skill="mlops", points=1, hint=2)
def test_lone_request_waits_at_most_the_batch_timeout(cluster, settings, texts, record_metric):
    """A lone request waits for company at most batch_wait_timeout_s"""
    deployed(cluster, settings.steady, record_metric)
    queries, _ = texts
    wait_s = settings.steady["batch_wait_timeout_s"]
    latencies = []
    for text in queries[:7]:
        reply = post_text(cluster.port, text)
        assert reply.status == 200, f"a lone request answered {reply.describe()}"
        latencies.append(reply.latency_s)
    median = statistics.median(latencies)
    record_metric("lone_median_s", round(median, 3))
    assert median <= wait_s + LONE_SLACK_S, (
        f"median latency of a lone request = {median:.3f} s; needs <= batch_wait_timeout_s ({wait_s:g} s) + "
        f"{LONE_SLACK_S:g} s (set the wait from build_app's args)")


@pytest.mark.check(skill="systems-design", points=2, hint=1)
def test_bad_requests_get_422(cluster, settings, record_metric):
    """Invalid bodies get 422 with a JSON detail, never a 500, and the replica keeps serving"""
    deployed(cluster, settings.steady, record_metric)
    before = cluster.replica_pids()
    bodies = {
        "not JSON": b"{text: hello",
        "no text field": b"{}",
        "another key only": b'{"query": "hello"}',
        "text is a number": b'{"text": 42}',
        "empty text": b'{"text": ""}',
        "blank text": b'{"text": "  \\t "}',
        "2001 characters": json.dumps({"text": "a" * 2001}).encode(),
    }
    wrong = []
    for what, body in bodies.items():
        reply = request(cluster.port, "POST", "/embed", body)
        detail = None
        try:
            detail = reply.json().get("detail")
        except (ValueError, AttributeError):
            pass
        if reply.status != 422 or not detail:
            wrong.append(f"{what}: {reply.describe()}")
    record_metric("handled", len(bodies) - len(wrong))
    assert not wrong, f"{len(wrong)} of {len(bodies)} invalid bodies did not get 422 with a JSON 'detail': " + "; ".join(wrong[:3])
    reply = post_text(cluster.port, "b" * 2000)
    assert reply.status == 200, f"a 2000-character text (the limit) answered {reply.describe()}; needs 200"
    assert cluster.replica_pids() == before, "a replica process died or was replaced while answering invalid bodies"


@pytest.mark.check(skill="systems-design", points=2, hint=2, required=True)
def test_full_queue_answers_503(cluster, settings, seed, record_metric):
    """A full queue answers 503 at once (backpressure), the accepted requests are answered correctly"""
    args = settings.backpressure
    deployed(cluster, args, record_metric)
    queries = make_texts(seed + 1, 48, 30, 60)
    replies = burst(cluster.port, queries)
    shed = [r for r in replies if r.status == 503]
    answered = [r for r in replies if r.status == 200]
    record_metric("shed", len(shed))
    record_metric("answered", len(answered))
    failure = first_failure(replies, frozenset({200, 503}))
    assert failure is None, (f"48 requests at once against max_ongoing_requests={args['max_ongoing_requests']}, "
                             f"max_queued_requests={args['max_queued_requests']}: {failure}; needs 200 or 503 each")
    assert len(shed) >= MIN_SHED, (
        f"{len(shed)} of 48 requests got 503; needs >= {MIN_SHED}: with at most {args['max_ongoing_requests']} "
        f"requests per replica and {args['max_queued_requests']} waiting, the rest must be refused at once "
        "(max_queued_requests)")
    slowest = max(r.latency_s for r in shed)
    record_metric("slowest_503_s", round(slowest, 3))
    assert slowest <= SHED_WITHIN_S, f"the slowest 503 came after {slowest:.2f} s; needs <= {SHED_WITHIN_S:g} s (refuse, don't wait)"
    blank = [r for r in shed if not r.body.strip()]
    assert not blank, "a 503 came with an empty body; it must say why (Ray's backpressure message does)"
    refs = reference(queries)
    problem = wrong_vectors(answered, queries, refs)
    assert problem is None, problem
    after = post_text(cluster.port, queries[0])
    assert after.status == 200, f"a request after the burst answered {after.describe()}; needs 200"


@pytest.mark.check(skill="mlops", points=3, hint=3, required=True)
def test_autoscales_from_one_to_two_replicas(cluster, settings, texts, record_metric):
    """Autoscaling: 1 replica when idle, 2 within the bound under load, never more"""
    deployed(cluster, settings.autoscale, record_metric)
    queries, refs = texts
    replicas = replica_range(deployment_config(cluster))
    record_metric("replica_range", f"{replicas[0]}-{replicas[1]}")
    assert replicas == (1, 2), (f"Serve's config of your deployment says replicas (min, max) = {replicas}; "
                                "needs an autoscaling_config with min_replicas 1 and max_replicas 2 (from args)")
    idle_counts = []
    watch_until = time.monotonic() + IDLE_WATCH_S
    while time.monotonic() < watch_until:
        idle_counts.append(len(cluster.replica_pids()))
        time.sleep(0.25)
    running = cluster.running_replicas()
    assert max(idle_counts) == 1 and running == 1, (
        f"idle after deploying min_replicas=1, max_replicas=2: {max(idle_counts)} replica processes, {running} "
        "RUNNING; needs exactly 1 (autoscaling starts at min_replicas, not a fixed num_replicas)")

    async def drive() -> tuple[dict, list[Reply]]:
        started = time.monotonic()
        state = {"decided_s": None, "scaled_s": None, "most": 1}

        def stop() -> bool:
            elapsed = time.monotonic() - started
            return (state["scaled_s"] is not None or elapsed > SCALE_RUNNING_BOUND_S
                    or (state["decided_s"] is None and elapsed > SCALE_DECISION_BOUND_S))

        task = asyncio.create_task(load_async(cluster.port, queries, SCALE_CLIENTS, stop=stop, repeat=True))
        while not stop():
            await asyncio.sleep(0.3)
            pids = cluster.replica_pids()
            state["most"] = max(state["most"], len(pids))
            if len(pids) >= 2 and state["decided_s"] is None:
                state["decided_s"] = time.monotonic() - started
            if len(pids) >= 2 and await asyncio.to_thread(cluster.running_replicas) >= 2:
                state["scaled_s"] = time.monotonic() - started
        return state, await task

    state, replies = asyncio.run(drive())
    record_metric("requests", len(replies))
    for key in ("decided_s", "scaled_s"):
        if state[key] is not None:
            record_metric(key, round(state[key], 2))
    failure = first_failure(replies)
    assert failure is None, f"while scaling up under {SCALE_CLIENTS} clients: {failure}"
    problem = wrong_vectors(replies, queries, refs)
    assert problem is None, problem
    assert state["decided_s"] is not None, (
        f"no second replica was started within {SCALE_DECISION_BOUND_S:g} s of {SCALE_CLIENTS} concurrent clients; "
        "needs one (Serve's default upscale_delay_s and look_back_period_s are 30 s: tune them, and "
        "target_ongoing_requests; each replica may ask for at most 1 of the 2 CPUs)")
    assert state["scaled_s"] is not None, (
        f"a second replica started after {state['decided_s']:.1f} s but was not RUNNING within "
        f"{SCALE_RUNNING_BOUND_S:g} s of load (is its constructor slow, or failing?)")
    time.sleep(1.0)
    most = max(state["most"], len(cluster.replica_pids()))
    record_metric("most_replicas", most)
    record_metric("cluster_rss_mb", round(cluster.tree_rss_mb()))
    assert most <= 2, f"{most} replica processes ran at once; max_replicas is 2"


@pytest.mark.check(skill="mlops", points=3, hint=3, required=True)
def test_redeploy_fails_no_request(cluster, settings, texts, record_metric):
    """A redeploy under load replaces the replicas without a single failed request"""
    deployed(cluster, settings.autoscale, record_metric)
    queries, refs = texts
    old_version, new_version = settings.autoscale["version"], settings.redeployed["version"]
    old_pids = cluster.replica_pids()

    async def drive():
        state = {"done": False, "deployed_at": None, "error": None}
        task = asyncio.create_task(load_async(cluster.port, queries, REDEPLOY_CLIENTS, stop=lambda: state["done"],
                                              repeat=True))
        await asyncio.sleep(2.0)
        begun = time.monotonic()
        try:
            answer = await asyncio.to_thread(cluster.deploy, settings.redeployed)
            record_metric("redeploy_s", round(answer["deploy_s"], 2))
        except HostError as exc:
            state["error"] = str(exc)
        state["deployed_at"] = time.monotonic()
        await asyncio.sleep(2.5)
        state["done"] = True
        return state, begun, await task

    state, begun, replies = asyncio.run(drive())
    if state["error"]:
        pytest.fail(state["error"], pytrace=False)
    during = [r for r in replies if r.done_at >= begun and r.done_at - r.latency_s <= state["deployed_at"]]
    record_metric("requests", len(replies))
    record_metric("during_redeploy", len(during))
    failure = first_failure(replies)
    assert failure is None, f"redeploying under {REDEPLOY_CLIENTS} clients: {failure}; needs 0 failed requests"
    problem = wrong_vectors(replies, queries, refs)
    assert problem is None, problem
    assert len(during) >= REDEPLOY_CLIENTS, f"only {len(during)} requests were answered during the redeploy"
    late = [r for r in replies if r.done_at - r.latency_s >= state["deployed_at"] + 1.0]
    versions = {version_of(r) for r in late}
    record_metric("new_version_answers", sum(1 for r in late if version_of(r) == new_version))
    assert late and versions == {new_version}, (
        f"requests sent 1 s after serve.run returned were answered by versions {sorted(map(str, versions))}; "
        f"needs only {new_version!r} (old version: {old_version!r})")
    still = old_pids & cluster.replica_pids()
    assert not still, (f"{len(still)} replica process(es) of the old version still run: the version must reach the "
                       "deployment's constructor (bind), so that a new version rolls out new replicas")
