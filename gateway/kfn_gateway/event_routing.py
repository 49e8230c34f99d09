"""From S3 records to invocations: every endpoint and poller that receives bucket events ends here.

Matching records become one invocation per (Trigger, record), with the event Lambda would give:
``{"Records": [record]}``. ``Event`` triggers (the default for S3) are queued durably, all records
of one notification in one write, before the source is answered; ``RequestResponse`` triggers are
invoked and awaited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any, Iterable

from kfn import api
from kfn_gateway import s3events
from kfn_gateway.async_dispatch import AsyncDispatcher
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError, Outcome
from kfn_gateway.queueing import new_event

__all__ = ["Delivery", "EventRouter", "pushed"]


@dataclasses.dataclass(frozen=True)
class Delivery:
    queued: int
    invoked: int
    failed: list[str]
    """Synchronous invocations that did not succeed: ``function: errorType``."""


def pushed(triggers: Iterable[api.Trigger]) -> list[api.Trigger]:
    """The S3 Triggers that pushed notifications (``/events/s3``, ``/events/sns``) fire. Pure: a
    Trigger with ``s3.source.sqs`` fires only for what its queue delivers."""
    return [t for t in triggers if t.spec.s3 is not None and t.spec.s3.source is None]


class EventRouter:
    def __init__(self, triggers: Iterable[api.Trigger], states: dict[str, FunctionState],
                 dispatcher: AsyncDispatcher, invoker: Invoker, metrics: Metrics) -> None:
        self.triggers = [t for t in triggers if t.spec.s3 is not None]
        self.states = states
        self.dispatcher = dispatcher
        self.invoker = invoker
        self.metrics = metrics

    async def deliver(self, notification: s3events.Notification, source: str) -> Delivery:
        if notification.test_event:
            self.metrics.events_received.labels(source, "ignored").inc()
            return Delivery(0, 0, [])
        pairs = s3events.fanout(self.triggers, notification.records)
        matched = {id(r) for _, r in pairs}
        unmatched = sum(1 for r in notification.records if id(r) not in matched)
        if unmatched:
            self.metrics.events_received.labels(source, "unmatched").inc(unmatched)
        now = time.time()
        queued = []
        sync: list[tuple[api.Trigger, dict[str, Any]]] = []
        for trigger, record in pairs:
            if trigger.spec.effective_invocation_type == "Event":
                payload = json.dumps({"Records": [record]}).encode()
                queued.append(new_event(f"{trigger.namespace}/{trigger.spec.function}", trigger.name, payload, now))
            else:
                sync.append((trigger, record))
        if queued:
            await self.dispatcher.enqueue(queued, source)
        self.metrics.events_received.labels(source, "matched").inc(len(notification.records) - unmatched)
        outcomes = await asyncio.gather(*(self._invoke(t, r) for t, r in sync))
        failed = [f"{t.spec.function}: {o}" for (t, _), o in zip(sync, outcomes) if o is not None]
        return Delivery(len(queued), len(sync), failed)

    async def _invoke(self, trigger: api.Trigger, record: dict[str, Any]) -> str | None:
        state = self.states[f"{trigger.namespace}/{trigger.spec.function}"]
        try:
            outcome: Outcome = await self.invoker.invoke(state, json.dumps({"Records": [record]}).encode(),
                                                         trigger.name)
        except GatewayError as exc:
            return exc.error_type
        return outcome.error_type
