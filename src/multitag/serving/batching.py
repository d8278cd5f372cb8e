"""Requests that arrive while the model is busy wait, then go to it together.

One call of the model per batch, in a worker thread (the event loop keeps answering /health);
rows are independent, so batching changes no answer. A batch holds at most `max_items` items
in all (the most one request may hold), so merging requests never makes a call larger than the
largest single request: the work bound of one request is the bound of every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Batcher:
    """Queues (body, number of items) and runs `many(bodies) -> answers` over batches."""

    def __init__(self, many: Callable[[list[Any]], list[Any]], max_items: int,
                 max_requests: int = 64) -> None:
        self.many = many
        self.max_items = max_items
        self.max_requests = max_requests
        self.pending: list[tuple[Any, int, asyncio.Future[Any]]] = []
        self.busy = False
        self.tasks: set[asyncio.Task[None]] = set()  # references, so no task is collected

    async def submit(self, body: Any, n_items: int) -> Any:
        """The answer to `body` (an exception returned by `many` is raised here)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((body, n_items, future))
        if not self.busy:
            self.busy = True
            task = asyncio.ensure_future(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def _next_batch(self) -> list[tuple[Any, int, asyncio.Future[Any]]]:
        self.pending = [p for p in self.pending if not p[2].done()]  # callers gone: skip
        batch, items = [], 0
        for entry in self.pending:
            if batch and (items + entry[1] > self.max_items
                          or len(batch) >= self.max_requests):
                break
            batch.append(entry)
            items += entry[1]
        del self.pending[:len(batch)]
        return batch

    async def _drain(self) -> None:
        try:
            while self.pending:  # no await between this test and `busy = False`
                batch = self._next_batch()
                if batch:
                    await self._run(batch)
        finally:
            self.busy = False

    async def _run(self, batch: list[tuple[Any, int, asyncio.Future[Any]]]) -> None:
        import anyio.to_thread

        bodies = [body for body, _, _ in batch]
        try:  # abandoned on cancel: a shutdown never waits for the thread
            results = await anyio.to_thread.run_sync(self.many, bodies, abandon_on_cancel=True)
        except Exception as err:  # a bug, not bad input: every waiting request gets a 500
            results = [err] * len(batch)
        for (_, _, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)
