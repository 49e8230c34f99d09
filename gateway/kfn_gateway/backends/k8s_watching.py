"""Keeping a local copy of one collection: list, then watch from the list's resourceVersion.

A watch that ends (the server's timeout) resumes where it was; one that is too old (410) or
broken starts again from a fresh list, after a growing delay when the API is failing, so the
copy converges whatever happens to the stream. The owner sees a complete ``reset`` after each
list and single events in between.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from kfn_gateway.backends.k8s_api import Api, ApiError

__all__ = ["Watcher"]

logger = logging.getLogger(__name__)
Obj = dict[str, Any]


class Watcher:
    def __init__(self, api: Api, path: str, *, reset: Callable[[list[Obj]], None],
                 event: Callable[[str, Obj], None], label_selector: str | None = None,
                 watch_timeout: int = 300, max_delay: float = 30.0) -> None:
        self.api = api
        self.path = path
        self.reset = reset
        self.event = event
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self.max_delay = max_delay
        self.synced = asyncio.Event()
        """Set once the first list has been applied."""

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a bug handling one object must not stop the watch for all
            logger.exception("handling a change of %s failed", self.path)

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                listing = await self.api.list(self.path, self.label_selector)
                self._call(self.reset, list(listing.get("items") or []))
                self.synced.set()
                version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
                delay = 0.5
                while True:
                    async for item in self.api.watch(self.path, version, self.label_selector, self.watch_timeout):
                        obj = item.get("object") or {}
                        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                        if item.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            self._call(self.event, item["type"], obj)
            except ApiError as exc:
                if exc.status == 410:
                    logger.info("watch of %s expired; listing again", self.path)
                    continue
                logger.warning("watching %s failed (%s); listing again in %gs", self.path, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
