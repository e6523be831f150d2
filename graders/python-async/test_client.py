"""Grader for python-async: a bounded-concurrency async HTTP client against a local test server.

The test server runs here, in the grader, on 127.0.0.1; the learner's `fetch_all` runs in the
sandboxed worker (which shares the grader's loopback), and the worker runs the coroutine to
completion, so each call below returns the finished list of results.
"""

from __future__ import annotations

import random
import time

import pytest
from _async_server import TestServer, free_port

from workbench.core.wire import RemoteError
from workbench.core.worker import WorkerCrashed
from workbench.grading_kit import timing_limit

RUN_LIMIT_S = 8.0  # one fetch_all call may take at most this long
# HTTP client libraries lab.toml hides from the learner's code (standard library only)
HIDDEN_LIBRARIES = ("aiohttp", "httpx", "httpcore", "requests", "urllib3", "pycurl", "tornado", "treq")


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


def _stuck_at(output: str) -> str:
    """The learner's innermost frame in the traceback the worker's watchdog printed, if any."""
    frames = [line.strip() for line in output.splitlines() if line.strip().startswith('File "') and "client.py" in line]
    return f" (it was at {frames[0]})" if frames else ""


def run_fetch(learner, learner_module, urls: list[str], strict_order: bool = False, **kwargs) -> tuple[list, float]:
    """Run learner.fetch_all(urls, **kwargs) to completion; return (results, seconds).

    Results whose `url` shows they came back out of order fail only when `strict_order`
    (the ordering check); elsewhere they are matched to their URLs so each check judges
    its own feature.
    """
    try:
        fetch_all = learner.fetch_all
    except AttributeError:
        pytest.fail("client.py has no fetch_all function", pytrace=False)
    if not learner_module("inspect").iscoroutinefunction(fetch_all):
        pytest.fail("fetch_all must be defined with 'async def'", pytrace=False)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    # the worker's own watchdog ends a call that outlives RUN_LIMIT_S (printing where it was)
    watchdog = learner_module("faulthandler")
    watchdog.dump_traceback_later(RUN_LIMIT_S, exit=True)
    started = time.perf_counter()
    try:
        results = fetch_all(list(urls), **kwargs)
    except WorkerCrashed as exc:
        elapsed = time.perf_counter() - started
        if elapsed >= RUN_LIMIT_S * 0.95:
            pytest.fail(f"fetch_all({len(urls)} urls, {args}) did not finish within {RUN_LIMIT_S:g} s"
                        f"{_stuck_at(str(exc))}", pytrace=False)
        pytest.fail(f"fetch_all({len(urls)} urls, {args}) stopped the worker process: {exc}", pytrace=False)
    except Exception as exc:  # noqa: BLE001 - report any learner exception as a failed check
        watchdog.cancel_dump_traceback_later()
        name = exc.type_name if isinstance(exc, RemoteError) else type(exc).__name__
        hidden = sorted(m for m in learner_module("sys").modules if m.split(".")[0] in HIDDEN_LIBRARIES)
        if hidden:
            pytest.fail(f"fetch_all raised {name} ({exc}) after importing {hidden[0].split('.')[0]}, which is "
                        "unavailable while grading: use the standard library only (asyncio, http_get above)",
                        pytrace=False)
        if isinstance(exc, TimeoutError):
            pytest.fail(f"fetch_all({len(urls)} urls, {args}) raised a {name}; a timed-out request "
                        "should become a Result with error='timeout', not an exception", pytrace=False)
        pytest.fail(f"fetch_all({len(urls)} urls, {args}) raised {name}: {exc}", pytrace=False)
    elapsed = time.perf_counter() - started
    watchdog.cancel_dump_traceback_later()
    if not isinstance(results, list | tuple) or len(results) != len(urls):
        got = f"{len(results)} items" if isinstance(results, list | tuple) else type(results).__name__
        pytest.fail(f"fetch_all must return a list with one Result per url ({len(urls)}), got {got}", pytrace=False)
    for index, result in enumerate(results):
        missing = [name for name in ("url", "ok", "status", "body", "error", "attempts", "elapsed_s")
                   if not hasattr(result, name)]
        if missing:
            pytest.fail(f"result {index} has no attribute(s) {', '.join(missing)}: return Result objects", pytrace=False)
    results = list(results)
    result_urls = [getattr(r, "url", None) for r in results]
    if all(isinstance(u, str) for u in result_urls) and result_urls != list(urls):
        index = next(i for i, u in enumerate(result_urls) if u != urls[i])
        if strict_order or sorted(result_urls) != sorted(urls) or len(set(urls)) != len(urls):
            pytest.fail(f"results[{index}].url is {result_urls[index]!r} but urls[{index}] is {urls[index]!r}: "
                        "results[i] must belong to urls[i] (input order, not completion order)", pytrace=False)
        # Out of order, but ordering has its own check: judge this one on matched results.
        by_url = dict(zip(result_urls, results, strict=True))
        results = [by_url[u] for u in urls]
    return results, elapsed


def body_of(result) -> bytes:
    body = result.body
    if isinstance(body, str):
        return body.encode()
    return bytes(body or b"")


def describe(result) -> str:
    return f"ok={result.ok!r}, status={result.status!r}, error={result.error!r}, attempts={result.attempts!r}"



def _nonce(seed: int, what: str) -> str:
    """A per-run key so that nothing a solution remembers from an earlier run matches."""
    return f"{what}-{random.Random(f'{seed}:{what}').randrange(16**8):08x}"


def _failure_text(result, index: int, what: str) -> None:
    """A failed result without a response: ok=False, status=None, a short error text that is not 'timeout'."""
    assert not result.ok and result.status is None, (
        f"request {index} ({what}) ended with {describe(result)}; no response arrived, so it must end "
        "ok=False, status=None")
    assert isinstance(result.error, str) and result.error and result.error != "timeout", (
        f"request {index} ({what}) ended with error={result.error!r}; a connection failure needs a short error "
        "text (e.g. 'ConnectionRefusedError: ...'), and 'timeout' only for timed-out attempts")


# -- 1. order ------------------------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=3, required=True, hint=1)
def test_results_in_input_order(learner, learner_module, server, record_metric, seed):
    """Results come back in input order, even when requests finish out of order"""
    rng = random.Random(seed)
    count = 24
    delays = [rng.randint(0, 90) for _ in range(count)]
    ids = [f"r{i:02d}-{rng.randrange(10**6):06d}" for i in range(count)]
    urls = [server.url(f"/delay?ms={d}&id={i}") for d, i in zip(delays, ids, strict=True)]
    # failures and a repeated URL belong in place too
    failing = sorted(rng.sample(range(1, count), 3))
    for index in failing:
        urls[index] = server.url(f"/status?code=404&id={ids[index]}")
    urls.append(urls[0])
    ids.append(ids[0])
    results, elapsed = run_fetch(learner, learner_module, urls, strict_order=True, concurrency=8, timeout_s=5.0,
                                 retries=0)
    record_metric("elapsed_s", round(elapsed, 3))
    wrong_ok = [i for i, r in enumerate(results) if bool(r.ok) == (i in failing)]
    assert not wrong_ok, (f"result #{wrong_ok[0]} ended with {describe(results[wrong_ok[0]])} for {urls[wrong_ok[0]]}; "
                          f"the 404 URLs (#{', #'.join(map(str, failing))}) must end ok=False, every other one ok=True")
    bodies = [body_of(r).decode("latin-1") for r in results]
    expected = ["status 404" if i in failing else ids[i] for i in range(len(urls))]
    wrong = [i for i in range(len(urls)) if bodies[i] != expected[i]]
    record_metric("out_of_place", len(wrong))
    assert not wrong, (f"{len(wrong)} of {len(urls)} results are out of place: result #{wrong[0]} has body "
                       f"{bodies[wrong[0]]!r} but url #{wrong[0]} returns {expected[wrong[0]]!r}; result i must "
                       "belong to urls[i] (a repeated URL gets its own result)")
    completed = server.snapshot()["completed"]
    in_order = completed == [ids[i] for i in range(len(urls)) if i not in failing]
    record_metric("completed_out_of_order", not in_order)
    assert not in_order, ("the server saw every request finish in input order, so the requests ran one at a time "
                          "(ordering under concurrency was not exercised); run up to `concurrency` requests at once")
    empty, _ = run_fetch(learner, learner_module, [], concurrency=4, timeout_s=1.0)
    assert empty == [], f"fetch_all([]) returned {empty!r}; no URLs give an empty list"


# -- 2. bounded concurrency ----------------------------------------------------------------------

@pytest.mark.check(skill="systems-design", points=3, required=True, hint=2)
def test_concurrency_is_bounded(learner, learner_module, server, record_metric, seed):
    """At most `concurrency` requests are in flight, and a freed slot is reused at once"""
    tag = _nonce(seed, "c")
    for limit in (3, 6):
        server.reset_counters()
        urls = [server.url(f"/delay?ms=80&id={tag}-{limit}-{i}") for i in range(4 * limit)]
        results, elapsed = run_fetch(learner, learner_module, urls, concurrency=limit, timeout_s=5.0, retries=0)
        peak = server.snapshot()["max_in_flight"]
        record_metric(f"max_in_flight_at_limit_{limit}", peak)
        record_metric(f"elapsed_s_at_limit_{limit}", round(elapsed, 3))
        failed = [i for i, r in enumerate(results) if not r.ok]
        assert not failed, f"{len(failed)} of {len(urls)} requests failed (first: {describe(results[failed[0]])}); all should succeed"
        assert peak <= limit, (f"with concurrency={limit} the server saw {peak} requests in flight at once; "
                               f"never exceed {limit} (bound the work with e.g. asyncio.Semaphore)")
        assert peak == limit, (f"with concurrency={limit} and {len(urls)} slow requests the server saw at most {peak} in flight; "
                               f"it should reach {limit}: run that many requests at the same time")
    # retries count against the limit too
    server.reset_counters()
    urls = [server.url(f"/flaky?key={tag}-r{i}&fail=1&ms=60") for i in range(8)]
    results, _ = run_fetch(learner, learner_module, urls, concurrency=2, timeout_s=5.0, retries=2, backoff_s=0.02)
    peak = server.snapshot()["max_in_flight"]
    record_metric("max_in_flight_with_retries_at_limit_2", peak)
    assert peak <= 2, f"with concurrency=2 and retrying requests the server saw {peak} in flight; retries count too"
    assert all(r.ok for r in results), f"8 endpoints failing once each should all succeed: {[describe(r) for r in results]}"
    # a slot that frees up is used at once: one slow request must not hold back the others
    server.reset_counters()
    limit, slow_ms, fast_ms = 3, 900, 60
    ids = [f"{tag}-f{i}" for i in range(3 * limit)]
    urls = [server.url(f"/delay?ms={slow_ms if i == 0 else fast_ms}&id={ident}") for i, ident in enumerate(ids)]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=limit, timeout_s=5.0, retries=0)
    arrivals = server.snapshot()["arrivals"]
    first = min(arrivals[f"/delay:{ids[0]}"])
    later = sorted(min(arrivals[f"/delay:{i}"]) for i in ids[limit:] if arrivals.get(f"/delay:{i}"))
    started_before_slow_done = sum(1 for t in later if t - first < slow_ms / 1000 * 0.6)
    record_metric("requests_started_while_slow_one_ran", started_before_slow_done)
    record_metric("elapsed_s_one_slow", round(elapsed, 3))
    assert started_before_slow_done == len(ids) - limit, (
        f"with concurrency={limit}, one request of {slow_ms} ms and {len(ids) - 1} of {fast_ms} ms, only "
        f"{started_before_slow_done} of the {len(ids) - limit} queued requests started while the slow one ran; "
        "start the next request as soon as any slot frees up (a semaphore or a worker pool), not batch by batch")


# -- 3. timeouts ---------------------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=3, required=True, hint=2)
def test_slow_requests_time_out(learner, learner_module, server, record_metric, seed):
    """A slow attempt ends as error='timeout' after about timeout_s, headers and body included"""
    timeout_s = 0.4
    tag = _nonce(seed, "t")
    slow = {0: ("a server that waits 2 s before answering", f"/delay?ms=2000&id={tag}-headers"),
            2: ("a server that sends headers at once but the body after 2 s", "/drip?ms=2000"),
            4: ("a server that sends the body one byte every 150 ms (1.5 s in all)", "/trickle?ms=150&bytes=10")}
    urls = [server.url(slow[0][1]), server.url(f"/delay?ms=20&id={tag}-fast-a"), server.url(slow[2][1]),
            server.url(f"/delay?ms=20&id={tag}-fast-b"), server.url(slow[4][1])]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=5, timeout_s=timeout_s, retries=0)
    record_metric("timeout_s", timeout_s)
    record_metric("elapsed_s", round(elapsed, 3))
    for index, (what, _) in slow.items():
        result = results[index]
        assert not result.ok and result.error == "timeout" and result.status is None, (
            f"request {index} ({what}) ended with {describe(result)} after the whole run took {elapsed:.2f} s; "
            f"with timeout_s={timeout_s} it must end ok=False, status=None, error='timeout' after about {timeout_s} s "
            "(limit the whole attempt, headers and body, e.g. asyncio.wait_for(http_get(url), timeout_s))")
        assert result.attempts == 1, f"request {index} ({what}) reports attempts={result.attempts!r} with retries=0; needs 1"
    for index in (1, 3):
        assert results[index].ok and results[index].error is None, (
            f"fast request {index} ended with {describe(results[index])}; it should succeed with error=None")
    budget = timeout_s + timing_limit(0.8)
    assert elapsed <= budget, (f"fetch_all took {elapsed:.2f} s; with timeout_s={timeout_s} and every request running "
                               f"at once it should finish in about {timeout_s} s (needs <= {budget:.1f} s)")
    # a timed-out attempt is retried like any transient failure
    server.reset_counters()
    url = server.url(f"/stall?key={tag}-always&fail=99&ms=3000")
    results, elapsed = run_fetch(learner, learner_module, [url], concurrency=2, timeout_s=0.3, retries=2, backoff_s=0.05)
    hits = len(server.snapshot()["arrivals"].get(f"/stall:{tag}-always", []))
    record_metric("attempts_always_slow", hits)
    record_metric("elapsed_s_always_slow", round(elapsed, 3))
    result = results[0]
    assert hits == 3 and result.attempts == 3, (
        f"an endpoint that never answers within timeout_s=0.3 got {hits} request(s) and reports "
        f"attempts={result.attempts!r}; with retries=2 a timeout is retried: 3 requests, attempts=3")
    assert not result.ok and result.error == "timeout" and result.status is None, (
        f"after 3 timed-out attempts the result is {describe(result)}; needs ok=False, status=None, error='timeout'")


@pytest.mark.check(skill="programming", points=2, required=True, hint=2)
def test_timeout_is_per_attempt(learner, learner_module, server, record_metric, seed):
    """The timeout limits each attempt, not the whole batch, a URL's retries or waiting for a slot"""
    tag = _nonce(seed, "p")
    # an attempt that times out, then a retry that answers at once: the retry gets its own timeout_s
    url = server.url(f"/stall?key={tag}-once&fail=1&ms=3000")
    results, elapsed = run_fetch(learner, learner_module, [url], concurrency=2, timeout_s=0.4, retries=1, backoff_s=0.05)
    hits = len(server.snapshot()["arrivals"].get(f"/stall:{tag}-once", []))
    record_metric("stall_once_attempts", hits)
    record_metric("stall_once_elapsed_s", round(elapsed, 3))
    result = results[0]
    assert result.ok and body_of(result) == b"ok" and result.attempts == 2, (
        f"an endpoint whose first answer takes 3 s and whose second is instant ended with {describe(result)} after "
        f"{hits} request(s) and {elapsed:.2f} s; with timeout_s=0.4 and retries=1 the first attempt times out, the "
        "retry gets a fresh timeout_s and succeeds (ok=True, attempts=2): one deadline per attempt, not per URL")
    # queued requests: 4 x 250 ms with concurrency=1 take 1 s, more than timeout_s, but no attempt does
    server.reset_counters()
    urls = [server.url(f"/delay?ms=250&id={tag}-q{i}") for i in range(4)]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=1, timeout_s=0.45, retries=0)
    record_metric("queued_elapsed_s", round(elapsed, 3))
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert not failed, (
        f"with concurrency=1 and timeout_s=0.45, {len(failed)} of 4 requests of 250 ms failed (first: #{failed[0]}, "
        f"{describe(results[failed[0]])}) in a run of {elapsed:.2f} s; each attempt takes 250 ms, so none may time "
        "out: start the clock when the attempt starts, not while it waits for a slot, and not once for the batch")


# -- 4. retries ----------------------------------------------------------------------------------

RETRYABLE = (429, 500, 502, 503, 504)
NOT_RETRYABLE = (400, 401, 403, 404, 501)


@pytest.mark.check(skill="systems-design", points=3, required=True, hint=3)
def test_retries_with_backoff(learner, learner_module, server, record_metric, seed):
    """429/500/502/503/504 are retried with doubling backoff, up to `retries` times; other statuses are not"""
    rng = random.Random(seed)
    tag = _nonce(seed, "r")
    retries, backoff_s = 3, 0.25
    recover_code = rng.choice(RETRYABLE)
    urls = [
        server.url(f"/flaky?key={tag}-recovers&fail=3&code={recover_code}"),  # 3 failures, then 200
        server.url(f"/flaky?key={tag}-down&fail=99&code={rng.choice(RETRYABLE)}"),  # always failing
    ]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=4, timeout_s=2.0, retries=retries,
                                 backoff_s=backoff_s)
    arrivals = server.snapshot()["arrivals"]
    recovers = arrivals.get(f"/flaky:{tag}-recovers", [])
    down = arrivals.get(f"/flaky:{tag}-down", [])
    record_metric("elapsed_s", round(elapsed, 3))
    record_metric("attempts_recovers", len(recovers))
    record_metric("attempts_down", len(down))
    first = results[0]
    assert first.ok and body_of(first) == b"ok" and first.status == 200, (
        f"an endpoint that answers {recover_code} three times then 200 ended with {describe(first)} after "
        f"{len(recovers)} request(s); with retries={retries} (up to {retries + 1} attempts) it should end ok=True")
    assert len(recovers) == 4 and first.attempts == 4, (
        f"that endpoint got {len(recovers)} requests and the result says attempts={first.attempts!r}; both must be 4")
    assert first.error is None, f"a result that ends ok must have error=None, got {first.error!r}"
    gaps = [b - a for a, b in zip(recovers, recovers[1:], strict=False)]
    for n, gap in enumerate(gaps, start=1):
        record_metric(f"wait_before_retry_{n}_ms", round(gap * 1000, 1))
    measured = ", ".join(f"{g * 1000:.0f}" for g in gaps)
    for n, gap in enumerate(gaps, start=1):
        nominal = backoff_s * 2 ** (n - 1)
        low, high = 0.9 * nominal, 1.25 * nominal + 0.1
        assert low <= gap <= high, (
            f"retry {n} came {gap * 1000:.0f} ms after the previous attempt; with backoff_s={backoff_s} it must wait "
            f"backoff_s * 2**{n - 1} = {nominal * 1000:.0f} ms (allowed {low * 1000:.0f}-{high * 1000:.0f} ms with "
            f"jitter and overhead; measured gaps: {measured} ms)")
    if first.elapsed_s is not None:
        record_metric("elapsed_s_recovers", round(float(first.elapsed_s), 3))
    waited = sum(backoff_s * 2 ** n for n in range(3))
    assert isinstance(first.elapsed_s, int | float) and 0.9 * waited <= first.elapsed_s <= elapsed + 0.05, (
        f"that result reports elapsed_s={first.elapsed_s!r}; it spans the first attempt to the final outcome, "
        f"at least the {waited:.2f} s of backoff and at most the {elapsed:.2f} s the call took")
    second = results[1]
    assert len(down) == retries + 1 and second.attempts == retries + 1, (
        f"an endpoint that always fails got {len(down)} requests (attempts={second.attempts!r}); with "
        f"retries={retries} it should get exactly {retries + 1} (1 attempt + {retries} retries), then give up")
    code = int(urls[1].rsplit("code=", 1)[1])
    assert not second.ok and second.status == code and body_of(second) == b"busy, try again", (
        f"an endpoint that always answers {code} ended with {describe(second)}; it must end ok=False, status={code} "
        "and the body of the last response")
    assert isinstance(second.error, str) and second.error and second.error != "timeout", (
        f"a failed result needs a short error text (e.g. 'HTTP {code}'), got {second.error!r}")

    # every retryable status recovers; no other status is retried
    server.reset_counters()
    urls = [server.url(f"/flaky?key={tag}-{code}&fail=1&code={code}") for code in RETRYABLE]
    urls += [server.url(f"/status?code={code}&id={tag}-{code}") for code in NOT_RETRYABLE]
    results, _ = run_fetch(learner, learner_module, urls, concurrency=10, timeout_s=2.0, retries=2, backoff_s=0.02)
    arrivals = server.snapshot()["arrivals"]
    for code, result in zip(RETRYABLE, results, strict=False):
        hits = len(arrivals.get(f"/flaky:{tag}-{code}", []))
        assert result.ok and hits == 2 and result.attempts == 2, (
            f"an endpoint answering {code} once, then 200, ended with {describe(result)} after {hits} request(s); "
            f"{code} is transient: retry it (429, 500, 502, 503 and 504 all are), ok=True after 2 attempts")
    for code, result in zip(NOT_RETRYABLE, results[len(RETRYABLE):], strict=True):
        hits = len(arrivals.get(f"/status:{tag}-{code}", []))
        assert hits == 1 and result.attempts == 1 and not result.ok and result.status == code, (
            f"an endpoint answering {code} got {hits} request(s) and ended with {describe(result)}; {code} will not "
            f"get better: exactly one request, ok=False, status={code} (only 429, 500, 502, 503, 504 are retried)")
    record_metric("statuses_checked", len(RETRYABLE) + len(NOT_RETRYABLE))


@pytest.mark.check(skill="systems-design", points=2, required=True, hint=3)
def test_connection_errors_are_retried(learner, learner_module, server, record_metric, seed):
    """Refused, reset and cut-off connections are retried and end as failed results, never exceptions"""
    tag = _nonce(seed, "e")
    refused = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    cases = [
        (refused, "a port where nothing listens (connection refused)", None),
        (server.url(f"/reset?key={tag}-r1&fail=1"), "a connection reset once, then 200", f"/reset:{tag}-r1"),
        (server.url(f"/truncate?key={tag}-t1&fail=1"), "a body cut off once, then 200", f"/truncate:{tag}-t1"),
        (server.url(f"/reset?key={tag}-rx&fail=99"), "a connection reset every time", f"/reset:{tag}-rx"),
        (server.url(f"/delay?ms=10&id={tag}-fine"), "a healthy endpoint", None),
    ]
    retries = 2
    results, elapsed = run_fetch(learner, learner_module, [c[0] for c in cases], concurrency=5, timeout_s=2.0,
                                 retries=retries, backoff_s=0.03)
    record_metric("elapsed_s", round(elapsed, 3))
    arrivals = server.snapshot()["arrivals"]
    _failure_text(results[0], 0, cases[0][1])
    assert results[0].attempts == retries + 1, (
        f"request 0 ({cases[0][1]}) reports attempts={results[0].attempts!r}; connection errors are transient: "
        f"with retries={retries} it needs {retries + 1} attempts before giving up")
    for index in (1, 2):
        hits = len(arrivals.get(cases[index][2], []))
        assert results[index].ok and body_of(results[index]) == b"ok" and hits == 2 and results[index].attempts == 2, (
            f"request {index} ({cases[index][1]}) ended with {describe(results[index])} after {hits} request(s); "
            "retry connection errors (OSError, asyncio.IncompleteReadError): ok=True after 2 attempts")
    hits = len(arrivals.get(cases[3][2], []))
    _failure_text(results[3], 3, cases[3][1])
    assert hits == retries + 1 and results[3].attempts == retries + 1, (
        f"request 3 ({cases[3][1]}) got {hits} request(s), attempts={results[3].attempts!r}; with retries={retries} "
        f"it needs exactly {retries + 1}")
    assert results[4].ok, f"request 4 ({cases[4][1]}) ended with {describe(results[4])}; it should succeed"
    record_metric("refused_error", str(results[0].error)[:80])


@pytest.mark.check(skill="systems-design", points=1, required=True, hint=3)
def test_backoff_does_not_hold_a_slot(learner, learner_module, server, record_metric, seed):
    """URLs waiting to retry do not keep concurrency slots: their backoffs overlap"""
    tag = _nonce(seed, "s")
    backoff_s, count = 0.4, 4
    urls = [server.url(f"/flaky?key={tag}-{i}&fail=1") for i in range(count)]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=1, timeout_s=2.0, retries=1,
                                 backoff_s=backoff_s)
    arrivals = server.snapshot()["arrivals"]
    bad = [i for i, r in enumerate(results) if not (r.ok and r.attempts == 2)]
    assert not bad, (f"{count} URLs answering 503 once, then 200, with retries=1: result #{bad[0]} ended with "
                     f"{describe(results[bad[0]])}; each needs ok=True after 2 attempts")
    hits = [sorted(arrivals.get(f"/flaky:{tag}-{i}", [])) for i in range(count)]
    start = min(h[0] for h in hits)
    last_retry = max(h[-1] for h in hits) - start
    record_metric("elapsed_s", round(elapsed, 3))
    record_metric("last_retry_after_s", round(last_retry, 3))
    limit = 1.5 * backoff_s + 0.15
    assert last_retry <= limit, (
        f"with concurrency=1, {count} URLs that each fail once and backoff_s={backoff_s}, the last retry came "
        f"{last_retry:.2f} s after the first request (needs <= {limit:.2f} s; the {count} waits should overlap, "
        f"about {backoff_s} s in all). Sleep before a retry outside the semaphore (or re-queue the URL after its "
        "wait): a URL that is only waiting must not keep a slot other requests could use")


# -- 5. speed ------------------------------------------------------------------------------------

@pytest.mark.check(skill="programming", points=2, required=True, hint=2)
def test_concurrency_speeds_up(learner, learner_module, server, record_metric, seed):
    """concurrency=8 takes at most half the time of concurrency=1 on the same workload"""
    count, delay_ms = 16, 50
    tag = _nonce(seed, "v")
    urls = [server.url(f"/delay?ms={delay_ms}&id={tag}-{i}") for i in range(count)]
    times: dict[int, list[float]] = {1: [], 8: []}
    for _ in range(2):
        for concurrency in (1, 8):
            results, elapsed = run_fetch(learner, learner_module, urls, concurrency=concurrency, timeout_s=5.0,
                                         retries=0)
            failed = [i for i, r in enumerate(results) if not r.ok]
            assert not failed, f"{len(failed)} of {count} requests failed (first: {describe(results[failed[0]])}); all should succeed"
            times[concurrency].append(elapsed)
    sequential, concurrent = min(times[1]), min(times[8])
    ratio = concurrent / sequential
    record_metric("seconds_concurrency_1", round(sequential, 3))
    record_metric("seconds_concurrency_8", round(concurrent, 3))
    record_metric("time_ratio", round(ratio, 3))
    record_metric("speedup", round(sequential / concurrent, 2))
    one_at_a_time = count * delay_ms / 1000
    assert sequential >= 0.8 * one_at_a_time, (
        f"with concurrency=1, {count} requests of {delay_ms} ms took {sequential:.2f} s, less than the "
        f"{one_at_a_time:.2f} s they take one at a time: concurrency=1 must mean one request in flight")
    assert ratio <= 0.5, (f"{count} requests of {delay_ms} ms took {sequential:.2f} s with concurrency=1 and {concurrent:.2f} s "
                          f"with concurrency=8 (ratio {ratio:.2f}); needs <= 0.50: run requests concurrently")
