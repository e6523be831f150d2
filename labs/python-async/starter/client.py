"""Bounded-concurrency async HTTP client -- the file you edit.

Standard library only. `http_get` below already speaks just enough HTTP/1.1 to GET a URL from
the local test server; your job is `fetch_all` (and the helpers you want):

* at most `concurrency` requests in flight at any moment, and that many when there is work;
* each attempt limited to `timeout_s` seconds (headers *and* body; waiting for a slot does not
  count); a timed-out request ends as Result(ok=False, status=None, error="timeout") -- it never
  raises, never hangs;
* retries with exponential backoff: before retry n (n = 1, 2, ...) wait backoff_s * 2**(n-1),
  without holding a slot; retry on 429/500/502/503/504, timeouts and connection errors (OSError,
  asyncio.IncompleteReadError); never on other statuses; at most `retries` retries, so at most
  1 + retries requests per URL, and `attempts` says how many were sent;
* `results[i]` belongs to `urls[i]`, whatever order the requests finish in.

The version below is the naive one: one request at a time, no timeout, no retries.
Run it against any local server, e.g. `python -m http.server 8000` and
`python client.py http://127.0.0.1:8000/`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class Result:
    """The outcome of fetching one URL (after all its attempts). Keep these fields."""

    url: str
    ok: bool  # True when a 2xx response arrived
    status: int | None = None  # HTTP status of the last response; None when none arrived
    body: bytes = b""  # body of the last response
    error: str | None = None  # None when ok; "timeout" when the last attempt timed out; else a short text
    attempts: int = 0  # how many requests were sent for this URL
    elapsed_s: float = 0.0  # seconds from the first attempt to the final outcome


async def http_get(url: str) -> tuple[int, bytes]:
    """One HTTP/1.1 GET of an http:// URL; returns (status, body).

    It has no timeout of its own: a server that never answers makes it wait forever.
    Raises OSError (e.g. ConnectionRefusedError) or asyncio.IncompleteReadError when the
    connection fails, ValueError for a URL it cannot handle.
    """
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
        status_line = await reader.readline()  # e.g. b"HTTP/1.1 200 OK\r\n"
        fields = status_line.decode("latin-1").split(maxsplit=2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ConnectionError(f"bad status line {status_line!r}")
        status = int(fields[1])
        length = None
        while True:  # headers end with an empty line
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


async def fetch_all(
    urls: list[str],
    *,
    concurrency: int = 8,
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 0.1,
) -> list[Result]:
    """Fetch every URL; return one Result per URL, results[i] for urls[i].

    concurrency: most requests in flight at once (>= 1).
    timeout_s:   limit for each attempt, from connecting to the last byte of the body.
    retries:     retries after the first attempt, for retryable failures only.
    backoff_s:   wait before the first retry; it doubles for each further retry.

    TODO: this naive version runs one request at a time and ignores concurrency,
    timeout_s, retries and backoff_s.
    """
    results = []
    for url in urls:
        started = time.perf_counter()
        try:
            status, body = await http_get(url)
        except (OSError, asyncio.IncompleteReadError) as exc:
            results.append(Result(url, False, None, b"", f"{type(exc).__name__}: {exc}", 1,
                                  time.perf_counter() - started))
            continue
        ok = 200 <= status < 300
        results.append(Result(url, ok, status, body, None if ok else f"HTTP {status}", 1,
                              time.perf_counter() - started))
    return results


if __name__ == "__main__":
    for result in asyncio.run(fetch_all(sys.argv[1:] or ["http://127.0.0.1:8000/"], concurrency=4, timeout_s=5)):
        print(result.status, result.error or "", f"{result.elapsed_s:.3f}s", result.url)
