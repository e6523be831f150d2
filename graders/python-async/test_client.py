"""Grader for python-async: a bounded-concurrency async HTTP client against a local test server.

The test server runs here, in the grader, on 127.0.0.1; the learner's `fetch_all` runs in the
sandboxed worker (which shares the grader's loopback), and the worker runs the coroutine to
completion, so each call below returns the finished list of results.
"""

from __future__ import annotations

import random
import time

import pytest
from _async_server import TestServer

from workbench.core.wire import RemoteError
from workbench.core.worker import WorkerCrashed

RUN_LIMIT_S = 8.0  # one fetch_all call may take at most this long


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
        missing = [name for name in ("ok", "status", "body", "error") if not hasattr(result, name)]
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
    return f"ok={result.ok!r}, status={result.status!r}, error={result.error!r}"


@pytest.mark.check(skill="programming", points=3, required=True, hint=1)
def test_results_in_input_order(learner, learner_module, server, record_metric):
    """Results come back in input order, even when requests finish out of order"""
    rng = random.Random(20260101)
    count = 24
    delays = [rng.randint(0, 90) for _ in range(count)]
    ids = [f"r{i:02d}-{rng.randrange(10**6):06d}" for i in range(count)]
    urls = [server.url(f"/delay?ms={d}&id={i}") for d, i in zip(delays, ids, strict=True)]
    results, elapsed = run_fetch(learner, learner_module, urls, strict_order=True, concurrency=8, timeout_s=5.0,
                                 retries=0)
    record_metric("elapsed_s", round(elapsed, 3))
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert not failed, f"{len(failed)} of {count} requests failed (first: #{failed[0]}, {describe(results[failed[0]])}); all should succeed"
    bodies = [body_of(r).decode("latin-1") for r in results]
    wrong = [i for i in range(count) if bodies[i] != ids[i]]
    record_metric("out_of_place", len(wrong))
    assert not wrong, (f"{len(wrong)} of {count} results are out of place: result #{wrong[0]} has body {bodies[wrong[0]]!r} "
                       f"but url #{wrong[0]} returns {ids[wrong[0]]!r}; result i must belong to urls[i]")
    completed = server.snapshot()["completed"]
    in_order = completed == ids
    record_metric("completed_out_of_order", not in_order)
    assert not in_order, ("the server saw every request finish in input order, so the requests ran one at a time "
                          "(ordering under concurrency was not exercised); run up to `concurrency` requests at once")


@pytest.mark.check(skill="systems-design", points=3, required=True, hint=2)
def test_concurrency_is_bounded(learner, learner_module, server, record_metric):
    """At most `concurrency` requests are in flight, and that many are used"""
    for limit in (3, 6):
        server.reset_counters()
        urls = [server.url(f"/delay?ms=80&id=c{limit}-{i}") for i in range(4 * limit)]
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


@pytest.mark.check(skill="programming", points=3, required=True, hint=2)
def test_slow_requests_time_out(learner, learner_module, server, record_metric):
    """A slow request ends as a timeout after about timeout_s instead of hanging"""
    timeout_s = 0.4
    slow = [server.url("/delay?ms=2000&id=slow-headers"), server.url("/drip?ms=2000")]
    fast = [server.url("/delay?ms=20&id=fast-a"), server.url("/delay?ms=20&id=fast-b")]
    urls = [slow[0], fast[0], slow[1], fast[1]]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=4, timeout_s=timeout_s, retries=0)
    record_metric("timeout_s", timeout_s)
    record_metric("elapsed_s", round(elapsed, 3))
    for index, what in ((0, "a server that waits 2 s before answering"), (2, "a server that sends headers at once but the body after 2 s")):
        result = results[index]
        assert not result.ok and "timeout" in str(result.error).lower(), (
            f"request {index} ({what}) ended with {describe(result)} after the whole run took {elapsed:.2f} s; "
            f"with timeout_s={timeout_s} it should end with ok=False, error='timeout' after about {timeout_s} s "
            "(limit the whole request, headers and body)")
    for index in (1, 3):
        assert results[index].ok, f"fast request {index} ended with {describe(results[index])}; it should succeed"
    budget = timeout_s + 0.8
    assert elapsed <= budget, (f"fetch_all took {elapsed:.2f} s; with timeout_s={timeout_s} and every request running "
                               f"at once it should finish in about {timeout_s} s (needs <= {budget:.1f} s)")


@pytest.mark.check(skill="systems-design", points=3, required=True, hint=3)
def test_retries_with_backoff(learner, learner_module, server, record_metric):
    """503s are retried with growing backoff, up to `retries` times; 404 is not retried"""
    retries, backoff_s = 3, 0.1
    urls = [
        server.url("/flaky?key=recovers&fail=3"),  # 503, 503, 503, then 200
        server.url("/flaky?key=down&fail=99"),  # always 503
        server.url("/status?code=404"),  # a client error: retrying cannot help
    ]
    results, elapsed = run_fetch(learner, learner_module, urls, concurrency=3, timeout_s=2.0, retries=retries,
                                 backoff_s=backoff_s)
    arrivals = server.snapshot()["arrivals"]
    recovers = arrivals.get("/flaky:recovers", [])
    down = arrivals.get("/flaky:down", [])
    not_found = arrivals.get("/status:", [])
    record_metric("elapsed_s", round(elapsed, 3))
    record_metric("attempts_recovers", len(recovers))
    record_metric("attempts_down", len(down))
    record_metric("attempts_404", len(not_found))
    first = results[0]
    assert first.ok and body_of(first) == b"ok", (
        f"an endpoint that answers 503 three times then 200 ended with {describe(first)} after {len(recovers)} request(s); "
        f"with retries={retries} (up to {retries + 1} attempts) it should end ok=True")
    gaps = [b - a for a, b in zip(recovers, recovers[1:], strict=False)]
    for n, gap in enumerate(gaps, start=1):
        record_metric(f"wait_before_retry_{n}_ms", round(gap * 1000, 1))
    for n, gap in enumerate(gaps, start=1):
        nominal = backoff_s * 2 ** (n - 1)
        assert gap >= 0.75 * nominal, (
            f"retry {n} came {gap * 1000:.0f} ms after the previous attempt; with backoff_s={backoff_s} it should wait "
            f"backoff_s * 2**{n - 1} = {nominal * 1000:.0f} ms (measured gaps: {', '.join(f'{g * 1000:.0f}' for g in gaps)} ms)")
    assert len(down) == retries + 1, (
        f"an endpoint that always answers 503 got {len(down)} requests; with retries={retries} it should get "
        f"exactly {retries + 1} (1 attempt + {retries} retries), then give up")
    assert not results[1].ok and results[1].status == 503, (
        f"an endpoint that always answers 503 ended with {describe(results[1])}; it should end ok=False, status=503")
    assert len(not_found) == 1 and results[2].status == 404 and not results[2].ok, (
        f"a 404 endpoint got {len(not_found)} request(s) and ended with {describe(results[2])}; "
        "a 404 is not worth retrying: one request, ok=False, status=404")


@pytest.mark.check(skill="programming", points=2, hint=2)
def test_concurrency_speeds_up(learner, learner_module, server, record_metric):
    """concurrency=8 takes at most half the time of concurrency=1 on the same workload"""
    count, delay_ms = 16, 50
    urls = [server.url(f"/delay?ms={delay_ms}&id=s{i}") for i in range(count)]
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
