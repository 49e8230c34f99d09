"""Background tasks a component starts and must all stop: kept referenced (so the loop never drops
one half-way) and cancelled together on close."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine

__all__ = ["Tasks"]


class Tasks:
    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task

    async def cancel(self) -> None:
        """Cancel every task still running and wait for them to end."""
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
