"""A small HTTP/1.1 test server for the python-async grader (asyncio, in a background thread).

Bound to 127.0.0.1 on a free port. Every response closes its connection. Endpoints:

    /delay?ms=N&id=X            wait N ms, then 200 with body X
    /drip?ms=N                  send status line and headers at once, the body after N ms
    /trickle?ms=N&bytes=B       headers at once, then the body one byte every N ms
    /flaky?key=K&fail=N&code=C&ms=M  status C (default 503) for the first N requests with this key, then 200
                                "ok"; every answer after M ms (default 0)
    /stall?key=K&fail=N&ms=M    the first N requests with this key wait M ms before answering, later ones
                                answer at once; every answer is 200 "ok"
    /reset?key=K&fail=N         the first N requests with this key get their connection dropped (RST)
                                without a response, then 200 "ok"
    /truncate?key=K&fail=N      the first N requests get headers announcing 100 bytes, 5 bytes of body and
                                a closed connection, then 200 "ok"
    /status?code=C&id=X         answer with status C (body "status C")

The server counts requests in flight (from the parsed request line until the response is
about to be written) and keeps the maximum, the order requests completed in, and the arrival
time of every request per path+key, so checks can inspect what the client really did.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

_MAX_DELAY_MS = 5000
_MAX_HEADER_LINES = 100
_READ_TIMEOUT_S = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported"}


class TestServer:
    """Start with `with TestServer() as server:`; URLs come from `server.url(...)`."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.total_requests = 0
        self.completed: list[str] = []
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._hits: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="python-async-test-server", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> TestServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"test server failed to start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=128)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            # pending handlers (slow endpoints) are cancelled when asyncio.run() returns

    # -- API for checks -----------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL for a path such as '/delay?ms=10&id=a'."""
        return f"http://127.0.0.1:{self.port}{path}"

    def snapshot(self) -> dict:
        """Counters, copied under the lock."""
        with self._lock:
            return {
                "max_in_flight": self.max_in_flight,
                "in_flight": self.in_flight,
                "total_requests": self.total_requests,
                "completed": list(self.completed),
                "arrivals": {k: list(v) for k, v in self.arrivals.items()},
            }

    def reset_counters(self) -> None:
        """Forget max in-flight, completions and arrivals (not the per-key hit counts)."""
        with self._lock:
            self.max_in_flight = self.in_flight
            self.total_requests = 0
            self.completed.clear()
            self.arrivals.clear()

    # -- request handling ---------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_S)
            for _ in range(_MAX_HEADER_LINES):
                line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_S)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            if len(parts) != 3 or parts[0] != "GET":
                await self._respond(writer, 400, b"expected 'GET /path HTTP/1.1'")
                return
            split = urlsplit(parts[1])
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            await self._dispatch(split.path, query, writer)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def _enter(self, key: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.total_requests += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.arrivals[key].append(time.perf_counter())

    def _hit(self, path: str, key: str) -> int:
        """How many requests this path+key has had, this one included."""
        with self._lock:
            self._hits[f"{path}:{key}"] += 1
            return self._hits[f"{path}:{key}"]

    def _leave(self, done_id: str | None = None) -> None:
        with self._lock:
            self.in_flight -= 1
            if done_id is not None:
                self.completed.append(done_id)

    async def _dispatch(self, path: str, query: dict[str, str], writer: asyncio.StreamWriter) -> None:
        key = f"{path}:{query.get('key', query.get('id', ''))}"
        self._enter(key)
        left = False
        try:
            if path == "/delay":
                await asyncio.sleep(min(_int(query.get("ms")), _MAX_DELAY_MS) / 1000)
                body = query.get("id", "").encode()
                self._leave(query.get("id", ""))
                left = True
                await self._respond(writer, 200, body)
            elif path == "/drip":
                body = b"slow body"
                head = _head(200, len(body))
                self._leave()
                left = True
                writer.write(head)
                await writer.drain()
                await asyncio.sleep(min(_int(query.get("ms")), _MAX_DELAY_MS) / 1000)
                writer.write(body)
                await writer.drain()
            elif path == "/trickle":
                count = min(_int(query.get("bytes")) or 10, 100)
                head = _head(200, count)
                self._leave()
                left = True
                writer.write(head)
                await writer.drain()
                for _ in range(count):
                    await asyncio.sleep(min(_int(query.get("ms")), _MAX_DELAY_MS) / 1000)
                    writer.write(b".")
                    await writer.drain()
            elif path in ("/flaky", "/stall", "/reset", "/truncate"):
                hits = self._hit(path, query.get("key", ""))
                failing = hits <= _int(query.get("fail"))
                if (path == "/stall" and failing) or path == "/flaky":
                    await asyncio.sleep(min(_int(query.get("ms")), _MAX_DELAY_MS) / 1000)
                self._leave()
                left = True
                if path == "/flaky" and failing:
                    await self._respond(writer, _int(query.get("code")) or 503, b"busy, try again")
                elif path == "/reset" and failing:
                    _drop(writer)
                elif path == "/truncate" and failing:
                    writer.write(_head(200, 100) + b"short")
                    await writer.drain()
                else:
                    await self._respond(writer, 200, b"ok")
            elif path == "/status":
                self._leave()
                left = True
                code = _int(query.get("code")) or 200
                await self._respond(writer, code, f"status {code}".encode())
            else:
                self._leave()
                left = True
                await self._respond(writer, 404, b"no such endpoint")
        finally:
            if not left:
                self._leave()

    async def _respond(self, writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        writer.write(_head(status, len(body)) + body)
        await writer.drain()


def _head(status: int, length: int) -> bytes:
    reason = _REASONS.get(status, "Status")
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: text/plain\r\n"
        f"Content-Length: {length}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode("latin-1")


def _drop(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (SO_LINGER 0), no response."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
