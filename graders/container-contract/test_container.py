"""Grader for container-contract: an embedding service packaged for Kubernetes.

Static checks read the learner's Dockerfile (hadolint, a stage/user/entrypoint policy) and the
three kustomize builds (base, dev, prod), validated strictly against Kubernetes 1.32 and held to
the policies of the brief in every build. Runtime checks run `python app.py` the way a kubelet
runs the container (uid 65534, read-only root, only /tmp writable, a PORT and a model-load delay
chosen from the run's seed) and probe, load and SIGTERM it. Every check but the last (sizing
from measurements) tests a stated requirement and is required."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import pytest
from _kubelet import (
    Answer,
    App,
    Flight,
    listening_addresses,
    make_texts,
    memory_kib,
    ports_of,
    request,
    send_sigterm,
    vectors_problem,
)
from _manifests import (
    BUILDS,
    NAMESPACES,
    app_container,
    availability_problems,
    build_all,
    dockerfile_problems,
    grace_period_s,
    image_problems,
    listen_port,
    memory_of,
    probe_base_propagation,
    resource_problems,
    run_hadolint,
    schema_problems,
    security_problems,
)

MIN_COSINE = 0.9999  # the app's vectors vs the workbench embedder's (reference: 1.0000000)
START_LIMIT_S = 30.0  # process start to ready, beyond the model-load delay
FIRST_EMBED_MAX_S = 1.5  # the first /embed after /readyz turned 200 (reference: 0.01-0.1 s)
LIVEZ_MAX_S = 1.0  # the kubelet's default probe timeoutSeconds (reference under load: 0.01-0.2 s)
LIVE_LOAD = (4, 32, 50, 90)  # requests at once, texts each, words per text (min, max): about 1.2 s of CPU each
DRAIN_LOAD = (3, 48, 40, 80)  # the same for the SIGTERM check: about 1.5 s of CPU each
ROWS_CHECKED = 8  # rows of each loaded answer compared with the reference (chosen from the seed)
LIMIT_HEADROOM = 1.25  # memory limit >= 1.25 x measured peak RSS
MAX_TEXTS, MAX_CHARS = 64, 2000


def _report(problems: list[str], what: str, limit: int = 6) -> str:
    shown = "\n- ".join(problems[:limit])
    more = f"\n(and {len(problems) - limit} more)" if len(problems) > limit else ""
    return f"{len(problems)} {what}:\n- {shown}{more}"


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def builds(lab_dir):
    """kubectl kustomize of k8s/base, k8s/overlays/dev and k8s/overlays/prod."""
    return build_all(lab_dir)


@dataclass
class Startup:
    """What the grader saw from process start until /readyz answered 200 (or it gave up)."""

    delay_s: float
    samples: list[tuple[float, int | None, int | None]] = field(default_factory=list)  # (s, /livez, /readyz)
    ready_at_s: float | None = None
    embed_while_loading: Answer | None = None
    first_embed: Answer | None = None
    first_text: str = ""
    idle_rss_kib: int | None = None
    elsewhere: list[str] = field(default_factory=list)  # where the app listens when not on $PORT


@dataclass
class Runtime:
    app: App
    startup: Startup
    measured: dict = field(default_factory=dict)  # peak_rss_kib, drain_s: filled by the load and SIGTERM checks


def _observe_startup(app: App, startup: Startup, seed: int) -> None:
    deadline = startup.delay_s + START_LIMIT_S
    elsewhere_since = failing_since = None
    while app.since_start() < deadline and app.alive():
        at = app.since_start()
        live = request(app.port, "GET", "/livez", timeout_s=1.0).status
        ready = request(app.port, "GET", "/readyz", timeout_s=1.0).status
        startup.samples.append((at, live, ready))
        if live not in (200, None):
            failing_since = at if failing_since is None else failing_since
            if at - failing_since > 3.0:
                return  # liveness fails: a kubelet would be restarting it by now
        else:
            failing_since = None
        if live is None and ready is None:
            pid = app.app_pid()
            startup.elsewhere = ports_of(pid) if pid else []
            if startup.elsewhere and elsewhere_since is None:
                elsewhere_since = at
            if elsewhere_since is not None and at - elsewhere_since > 3.0:
                return  # it serves, but not on $PORT: no point waiting
        if ready == 503 and startup.embed_while_loading is None:
            startup.embed_while_loading = request(app.port, "POST", "/embed", {"texts": ["is the model there yet"]},
                                                  timeout_s=3.0)
        if ready == 200:
            startup.ready_at_s = at
            startup.first_text = make_texts(seed, 1, 4, 8)[0]
            startup.first_embed = request(app.port, "POST", "/embed", {"texts": [startup.first_text]}, timeout_s=10.0)
            pid = app.app_pid()
            startup.idle_rss_kib = memory_kib(pid).get("VmRSS") if pid else None
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def runtime(lab_dir, seed):
    """The app, started once as a pod would be; the checks below share it, SIGTERM ends it."""
    delay_s = round(3.0 + random.Random(seed).random() * 1.5, 2)
    app = App(lab_dir, delay_s)
    startup = Startup(delay_s)
    try:
        _observe_startup(app, startup, seed)
        yield Runtime(app, startup)
    finally:
        app.stop()


def _need_running(runtime: Runtime) -> App:
    app = runtime.app
    if not app.alive():
        pytest.fail(f"the app is not running (exit code {app.exit_code()}){app.log_tail()}", pytrace=False)
    if runtime.startup.ready_at_s is None:
        pytest.fail(f"the app never answered GET /readyz with 200 (within {runtime.startup.delay_s + START_LIMIT_S:g} s)"
                    f"{app.log_tail()}", pytrace=False)
    return app


# -- 1. the image -----------------------------------------------------------------------------------

@pytest.mark.check(skill="mlops", points=2, hint=1, required=True)
def test_hadolint_passes(lab_dir, record_metric):
    """hadolint finds no errors in the Dockerfile (pragmas and config files ignored)"""
    dockerfile = lab_dir / "Dockerfile"
    assert dockerfile.is_file(), "there is no Dockerfile in your lab folder"
    findings, problem = run_hadolint(dockerfile)
    assert problem is None, problem
    errors = [f for f in findings if f.get("level") == "error"]
    record_metric("hadolint_errors", len(errors))
    record_metric("hadolint_warnings", sum(f.get("level") == "warning" for f in findings))
    assert not errors, _report([f"line {f.get('line')}: {f.get('code')} {f.get('message')}" for f in errors],
                               "hadolint errors (needs 0; inline ignore pragmas do not count)")


@pytest.mark.check(skill="mlops", points=3, hint=1, required=True)
def test_dockerfile_multistage_policy(lab_dir, builds):
    """Dockerfile: two stages, bases pinned by digest, numeric non-root USER, exec-form entrypoint running app.py"""
    dockerfile = lab_dir / "Dockerfile"
    assert dockerfile.is_file(), "there is no Dockerfile in your lab folder"
    deployment = builds["base"].one("Deployment")
    main = app_container(deployment) if deployment else None
    port = listen_port(main) if main else None
    problems = dockerfile_problems(dockerfile.read_text("utf-8", "replace"), port)
    assert not problems, _report(problems, "problems in the Dockerfile")


# -- 2. the manifests ----------------------------------------------------------------------------------

@pytest.mark.check(skill="cloud", points=3, hint=1, required=True)
def test_builds_validate_strictly(builds, record_metric):
    """base, dev and prod build with kubectl kustomize; every object passes kubernetes-validate --strict (1.32)"""
    problems = [p for build in builds.values() for p in schema_problems(build)]
    record_metric("objects", sum(len(b.docs) for b in builds.values()))
    assert not problems, _report(problems, "problems building and validating the manifests")


@pytest.mark.check(skill="cloud", points=3, hint=2, required=True)
def test_pods_run_non_root_on_a_read_only_root(builds):
    """Every build: runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, capabilities dropped, /tmp an emptyDir"""
    problems = [p for build in builds.values() for p in security_problems(build)]
    assert not problems, _report(problems, "securityContext problems")


@pytest.mark.check(skill="mlops", points=3, hint=2, required=True)
def test_requests_limits_and_probes(builds):
    """Every build: cpu/memory requests and limits, readiness on /readyz and liveness on /livez at the app's port"""
    problems = [p for build in builds.values() for p in resource_problems(build)]
    assert not problems, _report(problems, "resource or probe problems")


@pytest.mark.check(skill="systems-design", points=3, hint=2, required=True)
def test_availability(builds):
    """Every build: >= 2 replicas, an HPA on the Deployment, a PDB that lets drains proceed, a Service that reaches the pods"""
    problems = [p for build in builds.values() for p in availability_problems(build)]
    assert not problems, _report(problems, "availability problems")


@pytest.mark.check(skill="mlops", points=2, hint=2, required=True)
def test_images_pinned_by_digest(builds):
    """Every build: every container image pinned by digest, no :latest"""
    problems = [p for build in builds.values() for p in image_problems(build)]
    assert not problems, _report(problems, "image problems")


@pytest.mark.check(skill="cloud", points=3, hint=2, required=True)
def test_overlays_build_on_base(lab_dir, builds, seed, record_metric):
    """Overlays: dev and prod in their namespaces, prod with >= 3 replicas, both built on base (a change to base reaches them)"""
    problems = []
    for name, namespace in NAMESPACES.items():
        build = builds[name]
        if build.error:
            problems.append(f"{name}: {build.error}")
            continue
        for doc in build.docs:
            got = (doc.get("metadata") or {}).get("namespace")
            if got != namespace:
                problems.append(f"{name}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')} is in namespace "
                                f"{got!r}; the {name} overlay puts everything in {namespace!r}")
    prod = builds["prod"]
    deployment, hpa = prod.one("Deployment"), prod.one("HorizontalPodAutoscaler")
    replicas = ((deployment or {}).get("spec") or {}).get("replicas")
    floor = ((hpa or {}).get("spec") or {}).get("minReplicas")
    if not prod.error:
        if not isinstance(replicas, int) or replicas < 3:
            problems.append(f"prod: the Deployment has replicas {replicas!r}; prod runs >= 3")
        if not isinstance(floor, int) or floor < 3:
            problems.append(f"prod: the HPA has minReplicas {floor!r}; prod never scales below 3")
    if not problems:
        nonce = f"probe-{seed:08x}"
        missing = probe_base_propagation(lab_dir, nonce)
        for name, objects in missing.items():
            if objects:
                problems.append(f"{name}: after the grader added an annotation in {BUILDS['base']}/kustomization.yaml, "
                                f"{', '.join(objects)} did not carry it: the overlay must use ../../base as a resource "
                                "and patch it, not copy it")
        record_metric("probe", nonce)
    assert not problems, _report(problems, "overlay problems")


# -- 3. the runtime contract ----------------------------------------------------------------------------

@pytest.mark.check(skill="mlops", points=3, hint=3, required=True)
def test_readiness_follows_model_load(runtime, record_metric):
    """Run as uid 65534 on a read-only root: /livez 200 and /readyz 503 while the model loads, then /readyz 200"""
    startup, app = runtime.startup, runtime.app
    record_metric("model_load_delay_s", startup.delay_s)
    record_metric("sandbox", app.describe_sandbox())
    answered = [s for s in startup.samples if s[1] is not None or s[2] is not None]
    if not app.alive() and startup.ready_at_s is None:
        pytest.fail(f"the app exited with code {app.exit_code()} {app.since_start():.1f} s after start, before it was "
                    "ready. It runs as uid 65534 with a read-only root: only /tmp is writable, HOME does not exist"
                    f"{app.log_tail()}", pytrace=False)
    elsewhere = f"; it listens on {', '.join(startup.elsewhere)} instead" if startup.elsewhere else ""
    assert answered, (f"the app never answered GET /livez or /readyz on port {app.port} (from $PORT) within "
                      f"{app.since_start():.0f} s{elsewhere}{app.log_tail()}")
    first_answer = answered[0][0]
    record_metric("first_answer_s", round(first_answer, 2))
    assert startup.ready_at_s is not None, (
        f"GET /readyz never answered 200 ({app.since_start():.0f} s after start, MODEL_LOAD_DELAY_S="
        f"{startup.delay_s}); last answers /livez={answered[-1][1]} /readyz={answered[-1][2]}. It runs as uid 65534 "
        f"with a read-only root: its own folder is read-only too, only /tmp is writable{app.log_tail()}")
    record_metric("ready_at_s", round(startup.ready_at_s, 2))
    loading = [s for s in answered if s[2] != 200]
    assert loading, (f"/readyz answered 200 from its first answer ({first_answer:.2f} s after start) although "
                     f"MODEL_LOAD_DELAY_S={startup.delay_s} makes the model take longer: load the model in the "
                     "background and answer 503 until it is loaded (a server that answers nothing while it loads "
                     "makes the kubelet's liveness probe fail too)")
    wrong = sorted({s[2] for s in loading if s[2] != 503})
    assert not wrong, f"/readyz answered {wrong} while the model was loading; it must answer 503"
    dead = [s for s in loading if s[1] != 200]
    assert not dead, (f"/livez answered {dead[0][1]} {dead[0][0]:.2f} s after start while the model was loading; "
                      "liveness must be 200 whenever the process can serve, or the kubelet restarts a loading pod")
    record_metric("seconds_answering_503", round(startup.ready_at_s - loading[0][0], 2))
    assert startup.ready_at_s >= startup.delay_s, (
        f"/readyz turned 200 {startup.ready_at_s:.2f} s after start, but loading the model takes at least "
        f"MODEL_LOAD_DELAY_S={startup.delay_s} s: readiness must follow the model, not a clock")
    during = startup.embed_while_loading
    assert during is not None and during.status == 503, (
        f"POST /embed while the model was loading answered {during.describe() if during else 'nothing'}; it must "
        "answer 503 at once (with Retry-After)")
    assert (during.headers.get("retry-after") or "").strip().isdigit(), \
        f"the 503 from POST /embed while loading has Retry-After {during.headers.get('retry-after')!r}; give whole seconds"
    first = startup.first_embed
    assert first is not None and first.status == 200, (
        f"the first POST /embed after /readyz turned 200 answered {first.describe() if first else 'nothing'}; "
        "a ready pod must serve")
    record_metric("first_embed_s", round(first.latency_s, 3))
    assert first.latency_s <= FIRST_EMBED_MAX_S, (
        f"the first POST /embed after /readyz turned 200 took {first.latency_s:.2f} s (needs <= {FIRST_EMBED_MAX_S} s): "
        "report ready only once the model is loaded, not before and not lazily on the first request")
    problem, worst = vectors_problem(first, [startup.first_text], MIN_COSINE)
    assert problem is None, problem
    for _ in range(3):
        again = request(app.port, "GET", "/readyz", timeout_s=2.0)
        assert again.status == 200, f"/readyz answered {again.describe()} after it had turned 200; it must stay ready"
        time.sleep(0.05)


@pytest.mark.check(skill="systems-design", points=3, hint=3, required=True)
def test_serves_on_all_interfaces_and_stays_live_under_load(runtime, seed, record_metric):
    """Listens on 0.0.0.0:$PORT, embeds correctly, rejects bad batches with 422, /livez stays fast under load"""
    app = _need_running(runtime)
    addresses = listening_addresses(app.port)
    record_metric("listening_on", ",".join(addresses) or "-" if addresses is not None else "unknown (no /proc/net)")
    assert addresses is None or any(a in ("0.0.0.0", "::") for a in addresses), (
        f"the app listens on {addresses or 'nothing'} at port {app.port}; the kubelet's probes and the Service reach "
        "the pod's IP, so listen on 0.0.0.0")
    texts = make_texts(seed + 1, 11, 2, 12)
    answer = request(app.port, "POST", "/embed", {"texts": texts}, timeout_s=15.0)
    assert answer.status == 200, f"POST /embed with {len(texts)} texts answered {answer.describe()}; needs 200"
    problem, worst = vectors_problem(answer, texts, MIN_COSINE)
    record_metric("min_cosine", round(worst, 7))
    assert problem is None, problem
    bad_bodies = [("an empty list", {"texts": []}), (f"{MAX_TEXTS + 1} texts", {"texts": ["a b"] * (MAX_TEXTS + 1)}),
                  ("an empty text", {"texts": ["fine", ""]}), (f"a text of {MAX_CHARS + 1} characters",
                                                               {"texts": ["x" * (MAX_CHARS + 1)]}),
                  ("a single 'text' instead of 'texts'", {"text": "hello"})]
    for what, body in bad_bodies:
        bad = request(app.port, "POST", "/embed", body, timeout_s=10.0)
        assert bad.status == 422, f"POST /embed with {what} answered {bad.describe()}; it must answer 422"
    count, per_request, low, high = LIVE_LOAD
    bodies_texts = [make_texts(seed + 10 + i, per_request, low, high) for i in range(count)]
    flight = Flight(app.port, [{"texts": t} for t in bodies_texts], timeout_s=60.0)
    flight.wait_written(10.0)
    slowest, polls, missed = 0.0, 0, []
    pid = app.app_pid()
    peak = 0
    load_deadline = time.monotonic() + 60.0
    while flight.pending() and time.monotonic() < load_deadline:
        live = request(app.port, "GET", "/livez", timeout_s=5.0)
        polls += 1
        slowest = max(slowest, live.latency_s)
        if live.status != 200:
            missed.append(live.describe())
        if pid:
            peak = max(peak, memory_kib(pid).get("VmHWM", 0))
        time.sleep(0.1)
    answers = flight.join(max(1.0, load_deadline - time.monotonic()))
    if pid:
        peak = max(peak, memory_kib(pid).get("VmHWM", 0))
        runtime.measured["peak_rss_kib"] = peak
    record_metric("livez_slowest_under_load_s", round(slowest, 3))
    record_metric("peak_rss_mib", round(peak / 1024, 1))
    failed = [a for a in answers if a.status != 200]
    assert not failed, (f"{len(failed)} of {count} concurrent POST /embed of {per_request} texts failed "
                        f"(first: {failed[0].describe()})")
    rng = random.Random(seed + 2)
    for answer, texts in zip(answers, bodies_texts, strict=True):
        problem, _ = vectors_problem(answer, texts, MIN_COSINE, rng.sample(range(len(texts)), ROWS_CHECKED))
        assert problem is None, f"under load: {problem}"
    assert not missed, (f"while {count} batches of {per_request} texts were being embedded, {len(missed)} of {polls} "
                        f"GET /livez failed (first: {missed[0]}): a kubelet would restart this busy pod; keep the model "
                        "off the event loop (a plain `def` endpoint, or run_in_executor)")
    assert polls > 0 and slowest <= LIVEZ_MAX_S, (
        f"while {count} batches of {per_request} texts were being embedded, the slowest GET /livez took {slowest:.2f} s "
        f"(needs <= {LIVEZ_MAX_S} s, the kubelet's default probe timeout): the model blocks the event loop; run it "
        "in a thread (a plain `def` endpoint, or run_in_executor)")


@pytest.mark.check(skill="systems-design", points=3, hint=3, required=True)
def test_sigterm_answers_requests_in_flight(runtime, builds, seed, record_metric):
    """SIGTERM with batches in flight: every one is answered, then the process exits 0 within the grace period"""
    app = _need_running(runtime)
    grace_s, pre_stop_s = grace_period_s(builds["base"])
    budget_s = min(30.0, max(5.0, float(grace_s - pre_stop_s)))
    pid = app.app_pid()
    assert pid is not None, f"the app's python process is not running{app.log_tail()}"
    count, per_request, low, high = DRAIN_LOAD
    bodies_texts = [make_texts(seed + 100 + i, per_request, low, high) for i in range(count)]
    flight = Flight(app.port, [{"texts": t} for t in bodies_texts], timeout_s=budget_s + 15)
    assert flight.wait_written(10.0), "the grader could not send its requests"
    time.sleep(0.3)  # the server has accepted and read them and is working (each takes > 1 s here)
    pending = flight.pending()
    sigterm_at = time.monotonic()
    send_sigterm(pid)
    answers = flight.join(budget_s + 15)
    try:
        app.proc.wait(timeout=max(0.5, budget_s - (time.monotonic() - sigterm_at)))
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: reported below
        pass
    exited_after = time.monotonic() - sigterm_at if not app.alive() else None
    record_metric("pending_at_sigterm", pending)
    record_metric("grace_budget_s", budget_s)
    lost = [a for a in answers if a.status != 200]
    record_metric("lost", len(lost))
    assert not lost, (f"SIGTERM arrived with {pending} of {count} requests in flight and {len(lost)} were not "
                      f"answered 200 (first: {lost[0].describe()}): on SIGTERM stop accepting, finish what is in "
                      f"flight, then exit; never exit from a signal handler{app.log_tail(600)}")
    rng = random.Random(seed + 3)
    for answer, texts in zip(answers, bodies_texts, strict=True):
        problem, _ = vectors_problem(answer, texts, MIN_COSINE, rng.sample(range(len(texts)), ROWS_CHECKED))
        assert problem is None, f"answered during shutdown: {problem}"
    assert exited_after is not None, (
        f"the app was still running {budget_s:g} s after SIGTERM (terminationGracePeriodSeconds {grace_s} minus the "
        f"preStop sleep {pre_stop_s}), although every request was answered; the kubelet would SIGKILL it{app.log_tail(600)}")
    runtime.measured["drain_s"] = exited_after
    record_metric("exit_after_sigterm_s", round(exited_after, 2))
    code = app.exit_code()
    record_metric("exit_code", code)
    assert code in (0, -15), f"the app exited with code {code} after SIGTERM; a clean shutdown exits 0{app.log_tail(600)}"
    assert pending >= 1, "the grader could not hold a request in flight at SIGTERM (machine too fast?); run the check again"


# -- 4. sizing from measurements ---------------------------------------------------------------------------

@pytest.mark.check(skill="cloud", points=2, hint=3)
def test_sizing_follows_measurements(runtime, builds, record_metric):
    """Memory limit >= 1.25 x the measured peak RSS, request >= the measured ready RSS; grace period covers preStop + drain"""
    peak_kib = runtime.measured.get("peak_rss_kib")
    idle_kib = runtime.startup.idle_rss_kib
    drain_s = runtime.measured.get("drain_s")
    assert peak_kib and idle_kib and drain_s is not None, \
        "no measurements to size from: the runtime checks above must pass first"
    problems = []
    for name, build in builds.items():
        request_bytes, limit_bytes = memory_of(build)
        if limit_bytes is None or limit_bytes < LIMIT_HEADROOM * peak_kib * 1024:
            problems.append(f"{name}: memory limit {limit_bytes and limit_bytes / 2**20:.0f} MiB; the app peaked at "
                            f"{peak_kib / 1024:.0f} MiB RSS under the load test, so the limit needs >= "
                            f"{LIMIT_HEADROOM * peak_kib / 1024:.0f} MiB or the pod is OOM-killed under load"
                            if limit_bytes else f"{name}: no memory limit")
        if request_bytes is None or request_bytes < idle_kib * 1024:
            problems.append(f"{name}: memory request {request_bytes and request_bytes / 2**20:.0f} MiB is below the "
                            f"{idle_kib / 1024:.0f} MiB the app holds once ready; the scheduler would overpack nodes"
                            if request_bytes else f"{name}: no memory request")
        grace_s, pre_stop_s = grace_period_s(build)
        if pre_stop_s < 1:
            problems.append(f"{name}: no preStop sleep: the pod gets SIGTERM while Services may still send it new "
                            "requests for a few seconds")
        if grace_s < pre_stop_s + drain_s + 5:
            problems.append(f"{name}: terminationGracePeriodSeconds {grace_s} < preStop {pre_stop_s} s + measured "
                            f"drain {drain_s:.1f} s + 5 s margin")
    record_metric("peak_rss_mib", round(peak_kib / 1024, 1))
    record_metric("ready_rss_mib", round(idle_kib / 1024, 1))
    assert not problems, _report(problems, "sizing problems")
