"""A dynamic batcher: many concurrent single-text requests become a few batched model calls.

Each request waits at most `max_wait_ms` (counted from the oldest waiting request) for
company; a batch leaves as soon as it holds `max_batch_size` texts. One worker task runs one
batch at a time, in a thread, so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


class QueueFull(Exception):
    """The queue already holds max_queue requests: shed this one (HTTP 429)."""


class ShuttingDown(Exception):
    """The batcher is draining for shutdown and takes no new work (HTTP 503)."""


@dataclass
class _Item:
    text: str
    future: asyncio.Future
    arrived: float = field(default=0.0)


class DynamicBatcher:
    """Collects texts from `submit` into batches for `embed_batch(texts) -> (n, dim) array`."""

    def __init__(self, embed_batch: Callable[[list[str]], np.ndarray], *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, max_queue: int = 256,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_ms >= 0")
        self.embed_batch = embed_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker task (call from inside the running event loop)."""
        self._wakeup = asyncio.Event()
        self._worker = asyncio.create_task(self._run(), name="dynamic-batcher")

    async def stop(self) -> None:
        """Refuse new work, answer everything already accepted, then end the worker."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._worker is not None:
            await self._worker
        self._executor.shutdown(wait=True)

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch being computed)."""
        return len(self._queue)

    @property
    def closing(self) -> bool:
        return self._closing

    # -- requests -------------------------------------------------------------------------------

    async def submit(self, text: str) -> np.ndarray:
        """Queue one text and wait for its vector. Raises QueueFull or ShuttingDown at once."""
        if self._closing or self._worker is None or self._worker.done():
            raise ShuttingDown("the server is shutting down")
        if len(self._queue) >= self.max_queue:
            raise QueueFull(f"queue full ({self.max_queue} requests waiting)")
        loop = asyncio.get_running_loop()
        item = _Item(text, loop.create_future(), loop.time())
        self._queue.append(item)
        self._wakeup.set()
        return await item.future

    # -- the worker -----------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            # Wait for company until the oldest request has waited max_wait (never when closing).
            deadline = self._queue[0].arrived + self.max_wait_s
            while len(self._queue) < self.max_batch_size and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]
            await self._compute(loop, batch)

    async def _compute(self, loop: asyncio.AbstractEventLoop, batch: Sequence[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # a client may have gone
        if not live:
            return
        if self.on_batch is not None:
            self.on_batch(len(live))
        try:
            # less padding: embed the texts shortest first (but answer in arrival order)
            texts = sorted((i.text for i in live), key=len)
            vectors = await loop.run_in_executor(self._executor, self.embed_batch, texts)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, vector in zip(live, vectors, strict=True):
            if not item.future.done():
                item.future.set_result(vector)
