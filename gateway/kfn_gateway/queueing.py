"""The durable queue of async invocations: what an event is, and what a queue must do.

An ``Event`` invocation is acknowledged (202 to the caller, 200 to a bucket's webhook) only after
it is in a queue that survives the gateway's crash. Two engines implement :class:`Queue`: SQLite in
WAL mode for ``kfn dev`` (``sqlite_queue``), NATS JetStream in a cluster. Workers claim events with
a lease, so an event whose worker died is claimed again: delivery is at least once.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

from kfn_gateway import requestids

__all__ = ["AsyncEvent", "Queue", "new_event"]


@dataclasses.dataclass(frozen=True)
class AsyncEvent:
    id: str
    """The invocation's request id; the same on every retry, as Lambda keeps it."""
    function: str
    """``namespace/name`` of the function to invoke."""
    trigger: str
    """What produced it: a Trigger's name, ``invoke`` (the Invoke API) or ``destination``."""
    payload: bytes
    """The event, as JSON."""
    received_at: float
    """When it was queued (epoch seconds); its age decides ``maxEventAgeSeconds``."""
    attempts: int = 0
    """Invocations that ended in a function error so far."""
    not_before: float = 0.0
    """Earliest time of the next attempt (epoch seconds): the retry backoff."""


def new_event(function: str, trigger: str, payload: bytes, now: float, request_id: str | None = None) -> AsyncEvent:
    return AsyncEvent(id=request_id or requestids.new(), function=function, trigger=trigger, payload=payload,
                      received_at=now, not_before=now)


class Queue(Protocol):
    async def open(self) -> None:
        """Make the queue usable; events leased by a previous, crashed gateway become claimable."""

    async def close(self) -> None: ...

    async def put(self, events: Sequence[AsyncEvent]) -> None:
        """Store ``events`` durably; when this returns they survive a crash (all or none)."""

    async def claim(self, function: str, limit: int, now: float, lease_until: float) -> list[AsyncEvent]:
        """Lease up to ``limit`` due events of ``function``, oldest first, until ``lease_until``."""

    async def complete(self, event_id: str, followups: Sequence[AsyncEvent] = ()) -> None:
        """Remove a finished event and, atomically, queue ``followups`` (a destination's event)."""

    async def retry(self, event_id: str, attempts: int, not_before: float) -> None:
        """Return a leased event to the queue for another attempt at ``not_before``."""

    async def next_due(self, function: str) -> float | None:
        """The earliest ``not_before`` of an unleased event of ``function``, or None if none."""

    async def depth(self) -> dict[str, int]:
        """Events waiting or in flight, by function."""
