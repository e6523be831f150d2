"""The learner worker: runs learner code inside the sandbox and answers the grader over the wire.

Started by the grader plugin as `python -m workbench.sandbox_worker FD [PRELOAD...]` inside
bubblewrap. It imports nothing of pytest or the grader; whatever the learner's code does here
can only change what this process answers, never how the answer is judged.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import socket
import sys
import threading
from typing import Any

from workbench.core.wire import Endpoint


class WorkerEndpoint(Endpoint):
    """Adds module imports (handle 0) and runs coroutines in the worker's own event loop."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.rebuild_errors = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main = threading.get_ident()

    def perform(self, op: str, target: int, name: str | None, args: tuple, kwargs: dict[str, Any]) -> Any:
        if target == 0:
            if op == "import":
                return importlib.import_module(str(name))
            if op == "modules":  # advisory only: learner code could edit sys.modules
                return sorted(sys.modules)
            if op == "ping":
                return {"pid": os.getpid(), "modules": len(sys.modules)}
            raise ValueError(f"unknown worker operation {op!r}")
        return super().perform(op, target, name, args, kwargs)

    def request(self, op: str, target: int, name: str | None, args: tuple, kwargs: dict[str, Any]) -> Any:
        if threading.get_ident() != self._main:
            raise RuntimeError("a grader callback (tool, model, counter) can only be called from the thread that "
                               "the grader called into; call it from that thread or collect the work first")
        return super().request(op, target, name, args, kwargs)

    def finish(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            return self.finish(self.loop().run_until_complete(_await(value)))
        if inspect.isasyncgen(value):
            return self.finish(self.loop().run_until_complete(_collect(value)))
        return value

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        return self._loop


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _collect(agen: Any) -> list[Any]:
    return [item async for item in agen]


def main(argv: list[str]) -> int:
    fd = int(argv[0])

    def warm() -> None:  # heavy imports (litellm) in the background, while the first checks run
        for name in argv[1:]:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the learner's import will report it properly
                pass

    if argv[1:]:
        threading.Thread(target=warm, daemon=True, name="warm-imports").start()
    lab_dir = os.environ.get("WORKBENCH_LAB_DIR", "")
    if lab_dir:
        sys.path.insert(0, lab_dir)
        os.chdir(lab_dir)
    sock = socket.socket(fileno=fd)
    endpoint = WorkerEndpoint(sock)
    try:
        endpoint.serve_forever()
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
