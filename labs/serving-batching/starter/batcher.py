"""A dynamic batcher: many concurrent single-text requests become a few batched model calls.

TODO: this version does no batching at all: every `submit` calls the model on its own text,
in a thread pool, as soon as it arrives. Replace it with a queue and one worker task:

- `submit(text)` puts the text and a future on the queue and awaits the future. When the queue
  already holds `max_queue` requests it raises `QueueFull` at once (the server answers 429);
  once `stop()` has begun it raises `ShuttingDown` (503).
- the worker takes the oldest request, waits until the batch holds `max_batch_size` texts or
  the oldest has waited `max_wait_ms`, calls `embed_batch(texts)` ONCE for the whole batch (in
  a thread, so the event loop keeps serving), and resolves each future with ITS OWN row.
- `stop()` refuses new work, answers everything already queued, then ends the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np


class QueueFull(Exception):
    """The queue already holds max_queue requests: shed this one (HTTP 429)."""


class ShuttingDown(Exception):
    """The batcher is draining for shutdown and takes no new work (HTTP 503)."""


class DynamicBatcher:
    """Collects texts from `submit` into batches for `embed_batch(texts) -> (n, 384) array`."""

    def __init__(self, embed_batch: Callable[[list[str]], np.ndarray], *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, max_queue: int = 256,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.embed_batch = embed_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch  # call with the batch size before each model call (metrics)

    async def start(self) -> None:
        """Start the worker task (called from the app's lifespan, inside the event loop)."""
        # TODO: create the queue and the worker task here.

    async def stop(self) -> None:
        """Refuse new work, answer everything already accepted, then end the worker."""
        # TODO

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch being computed)."""
        return 0  # TODO

    @property
    def closing(self) -> bool:
        return False  # TODO

    async def submit(self, text: str) -> np.ndarray:
        """Queue one text and wait for its vector. Raises QueueFull or ShuttingDown at once."""
        # TODO: no queue, no batching, no limit: one model call per request.
        loop = asyncio.get_running_loop()
        if self.on_batch is not None:
            self.on_batch(1)
        vectors = await loop.run_in_executor(None, self.embed_batch, [text])
        return vectors[0]
