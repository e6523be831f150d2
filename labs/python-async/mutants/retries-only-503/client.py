"""Bounded-concurrency async HTTP client (reference solution).

Standard library only: a tiny HTTP/1.1 GET over `asyncio.open_connection`, and `fetch_all`,
which fetches many URLs with at most `concurrency` requests in flight, a per-attempt timeout,
retries with exponential backoff on retryable failures, and results in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

RETRYABLE_STATUSES = frozenset({503})


@dataclass
class Result:
    """The outcome of fetching one URL (after all its attempts)."""

    url: str
    ok: bool  # True when a 2xx response arrived
    status: int | None = None  # HTTP status of the last response; None when none arrived
    body: bytes = b""  # body of the last response
    error: str | None = None  # None when ok; "timeout" when the last attempt timed out; else a short text
    attempts: int = 0  # how many requests were sent for this URL
    elapsed_s: float = 0.0  # seconds from the first attempt to the final outcome


async def http_get(url: str) -> tuple[int, bytes]:
    """One HTTP/1.1 GET of an http:// URL; returns (status, body). No timeout of its own."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host[:port]/path URLs are supported, got {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(maxsplit=2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ConnectionError(f"bad status line {status_line!r}")
        status = int(fields[1])
        length = None
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value.strip())
        body = await reader.readexactly(length) if length is not None else await reader.read()
        return status, body
    finally:
        writer.close()


async def fetch_one(
    url: str,
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    slots: asyncio.Semaphore | None = None,
) -> Result:
    """Fetch one URL: up to 1 + `retries` attempts, each limited to `timeout_s` seconds.

    `slots` (if given) is held for each attempt only, not during backoff sleeps, so a URL
    waiting to retry does not take a slot other URLs could use.
    """
    started = time.perf_counter()
    status: int | None = None
    body = b""
    error: str | None = None
    attempt = 0
    for attempt in range(1, retries + 2):
        if attempt > 1:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 2))  # backoff_s, 2x, 4x, ...
        try:
            async with slots if slots is not None else contextlib.nullcontext():
                status, body = await asyncio.wait_for(http_get(url), timeout_s)
        except ValueError:
            raise  # a malformed URL is a caller bug: retrying cannot help
        except asyncio.TimeoutError:
            status, body, error = None, b"", "timeout"
            continue
        except (OSError, asyncio.IncompleteReadError) as exc:
            status, body, error = None, b"", f"{type(exc).__name__}: {exc}"
            break
        if 200 <= status < 300:
            return Result(url, True, status, body, None, attempt, time.perf_counter() - started)
        error = f"HTTP {status}"
        if status not in RETRYABLE_STATUSES:
            break
    return Result(url, False, status, body, error, attempt, time.perf_counter() - started)


async def fetch_all(
    urls: list[str],
    *,
    concurrency: int = 8,
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 0.1,
) -> list[Result]:
    """Fetch every URL with at most `concurrency` requests in flight; results in input order."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    slots = asyncio.Semaphore(concurrency)
    tasks = [
        fetch_one(url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, slots=slots)
        for url in urls
    ]
    return list(await asyncio.gather(*tasks))  # gather keeps input order


__all__ = ["Result", "fetch_all", "fetch_one", "http_get"]
