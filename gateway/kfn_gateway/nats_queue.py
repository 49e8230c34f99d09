"""The cluster's async queue: a NATS JetStream stream with a durable pull consumer per function.

Layout: one stream (``KFN_ASYNC``, file storage, work-queue retention: an acknowledged message is
deleted) over the subjects ``kfn.async.<namespace>.<name>``; one durable pull consumer per function
(``kfn_async_<namespace>_<name>``; ``_`` never occurs in a DNS-1123 label, so names cannot collide)
with explicit acks. The event travels as the message's data, its fields as ``Kfn-*`` headers.

How the :class:`~kfn_gateway.queueing.Queue` operations map:

- ``put``: publish each event and wait for JetStream's PubAck (the event is in the stream). Several
  events are published one by one: a put that fails part-way may have stored some of them, which
  the source's retry then duplicates. NATS 2.9 has no atomic multi-message publish.
- ``claim``: pull up to ``limit`` messages (``no_wait``: never blocks on an empty consumer). The
  lease is the consumer's ack wait, set from ``lease_until - now``; an event not acknowledged
  within it is delivered again. An event whose ``not_before`` is still ahead is not returned but
  nak'ed with the remaining delay, so the server redelivers it when it is due.
- ``complete``: publish the followups, then acknowledge (and wait for the server to confirm).
  Not atomic as in SQLite: a crash between the two delivers the original again, so a followup may
  be duplicated, never lost.
- ``retry``: publish a copy with the new ``attempts`` and ``not_before``, then acknowledge the
  original. A ``nak`` with delay would keep the message but cannot change its headers, and
  JetStream's own delivery count also counts throttles, which must not use up ``maxRetries``.
  The copy goes to the end of the function's subject: FIFO holds for first attempts, not retries.
- ``depth``: the stream's message count per subject. With work-queue retention that is exactly
  the events waiting or in flight, including functions whose consumer does not exist yet.
- ``next_due``: a hint, never later than the truth: now when the consumer has undelivered
  messages (a claim will look at them), else the earliest delay this gateway nak'ed.

Delivery is at least once: every publish happens before the ack that ends the previous state,
so a crash at any point leaves a duplicate, never a loss.

Leases after a crash: with ``exclusive`` (``kfn dev``: this gateway is the stream's only reader)
``open()`` deletes the consumers, which puts every unacknowledged message back at once, as SQLite's
``open()`` does. In a cluster several gateways share each consumer, so a restarting one must not
take the others' events: the leases of a crashed gateway pass with the ack wait.

Durability: JetStream writes each message to its file store before the PubAck, so an accepted
event survives the gateway's and the NATS server's crash; surviving the machine's crash needs
the server's own sync settings (or a replicated stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from typing import Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api
from nats.js.manager import JetStreamManager

from kfn_gateway.queueing import AsyncEvent

__all__ = ["NatsQueue", "NatsUnavailable", "subject_of", "consumer_of"]

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "kfn.async"
_H_ID = "Kfn-Id"
_H_TRIGGER = "Kfn-Trigger"
_H_RECEIVED = "Kfn-Received-At"
_H_ATTEMPTS = "Kfn-Attempts"
_H_NOT_BEFORE = "Kfn-Not-Before"
_PULL_TIMEOUT = 5.0
"""Longest a claim waits for the server to answer a pull request, seconds."""
_RECONNECT_WAIT = 0.5
"""Seconds between two connection attempts to the same server."""
_MAX_ACK_PENDING = 100_000
"""Messages a consumer may have delivered and unacknowledged; delayed retries count here too."""


class NatsUnavailable(RuntimeError):
    """No NATS server answered; the message never carries the URL (it may hold a password)."""


def _split(function: str) -> tuple[str, str]:
    namespace, sep, name = function.partition("/")
    if not sep or not namespace or not name or any(c in function for c in "._ *>"):
        raise ValueError(f"not a function key (namespace/name): {function!r}")
    return namespace, name


def subject_of(function: str) -> str:
    namespace, name = _split(function)
    return f"{SUBJECT_PREFIX}.{namespace}.{name}"


def consumer_of(function: str) -> str:
    namespace, name = _split(function)
    return f"kfn_async_{namespace}_{name}"


def _headers(event: AsyncEvent) -> dict[str, str]:
    return {_H_ID: event.id, _H_TRIGGER: event.trigger, _H_RECEIVED: repr(event.received_at),
            _H_ATTEMPTS: str(event.attempts), _H_NOT_BEFORE: repr(event.not_before)}


def _event(function: str, msg: Msg) -> AsyncEvent:
    h = msg.headers or {}
    return AsyncEvent(id=h[_H_ID], function=function, trigger=h.get(_H_TRIGGER, ""), payload=msg.data,
                      received_at=float(h[_H_RECEIVED]), attempts=int(h.get(_H_ATTEMPTS, "0")),
                      not_before=float(h.get(_H_NOT_BEFORE, "0")))


@dataclasses.dataclass
class _Consumer:
    name: str
    ack_wait: float
    inbox: str
    sub: Subscription
    received: asyncio.Queue[Msg]
    """What the server sent to this consumer's pulls and no claim took yet."""
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    delayed: dict[str, float] = dataclasses.field(default_factory=dict)
    """Events this gateway nak'ed until their ``not_before``, by id."""


class NatsQueue:
    def __init__(self, servers: str | list[str], *, stream: str = "KFN_ASYNC", exclusive: bool = False,
                 timeout: float = 5.0) -> None:
        self.servers = servers
        self.stream = stream
        self.exclusive = exclusive
        self.timeout = timeout
        self._nc: Client | None = None
        self._consumers: dict[str, _Consumer] = {}
        self._leased: dict[str, Msg] = {}

    # --- connection, stream, consumers ----------------------------------------------------------

    @property
    def _client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the async queue is not open")
        return self._nc

    @property
    def _js(self) -> JetStreamContext:
        return self._client.jetstream(timeout=self.timeout)

    @property
    def _jsm(self) -> JetStreamManager:
        return self._client.jsm(timeout=self.timeout)

    async def open(self) -> None:
        try:
            # A bounded first connection (a gateway must not hang at start), then reconnect forever.
            self._nc = await nats.connect(self.servers, connect_timeout=int(max(1, self.timeout)),
                                          max_reconnect_attempts=max(1, math.ceil(self.timeout / _RECONNECT_WAIT)),
                                          reconnect_time_wait=_RECONNECT_WAIT, error_cb=_log_error,
                                          name="kfn-gateway")
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise NatsUnavailable(f"cannot connect to NATS within {self.timeout:g}s: {type(exc).__name__}") from None
        self._nc.options["max_reconnect_attempts"] = -1
        try:
            await self._prepare()
        except BaseException:
            await self.close()
            raise

    async def _prepare(self) -> None:
        jsm = self._jsm
        config = api.StreamConfig(name=self.stream, subjects=[f"{SUBJECT_PREFIX}.>"],
                                  retention=api.RetentionPolicy.WORK_QUEUE, storage=api.StorageType.FILE)
        try:
            await jsm.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await jsm.add_stream(config)
        if self.exclusive:
            # Nobody else reads this stream: whatever was delivered and not acknowledged belonged
            # to a previous gateway; new consumers deliver it again at once.
            released = 0
            for info in await jsm.consumers_info(self.stream):
                released += info.num_ack_pending or 0
                await jsm.delete_consumer(self.stream, info.name)
            if released:
                logger.warning("async queue: %d event(s) in flight when the gateway stopped will run again",
                               released)

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None:
            return
        try:
            if not nc.is_closed:
                # Hand leased events back now rather than when their ack wait passes.
                for msg in list(self._leased.values()):
                    with contextlib.suppress(Exception):
                        await msg.nak()
                with contextlib.suppress(Exception):
                    await nc.flush(timeout=1)
        finally:
            self._leased.clear()
            self._consumers.clear()
            await nc.close()

    async def _consumer(self, function: str, lease: float) -> _Consumer:
        ack_wait = float(max(1, math.ceil(lease)))
        consumer = self._consumers.get(function)
        if consumer is not None and consumer.ack_wait == ack_wait:
            return consumer
        name = consumer_of(function)
        config = api.ConsumerConfig(name=name, durable_name=name, filter_subject=subject_of(function),
                                    ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL,
                                    ack_wait=ack_wait, max_deliver=-1, max_ack_pending=_MAX_ACK_PENDING,
                                    max_waiting=512)
        # Creating an existing durable consumer with another ack wait updates it.
        await self._jsm.add_consumer(self.stream, config)
        if consumer is None:
            inbox = self._client.new_inbox()
            received: asyncio.Queue[Msg] = asyncio.Queue()

            async def deliver(msg: Msg) -> None:
                received.put_nowait(msg)
            consumer = _Consumer(name, ack_wait, inbox, await self._client.subscribe(inbox, cb=deliver), received)
            self._consumers[function] = consumer
        consumer.ack_wait = ack_wait
        return consumer

    async def _pull(self, consumer: _Consumer, limit: int) -> list[Msg]:
        """Up to ``limit`` messages: those a previous pull left behind, then what the server has now."""
        msgs: list[Msg] = []
        while not consumer.received.empty() and len(msgs) < limit:
            msg = consumer.received.get_nowait()
            if not (msg.headers or {}).get(api.Header.STATUS):
                msgs.append(msg)
        if len(msgs) >= limit:
            return msgs
        want = limit - len(msgs)
        await self._client.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer.name}",
                               f'{{"batch":{want},"no_wait":true}}'.encode(), reply=consumer.inbox)
        deadline = time.monotonic() + _PULL_TIMEOUT
        while want:
            try:
                msg = await asyncio.wait_for(consumer.received.get(), max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                logger.warning("async queue: no answer to a pull of %s within %gs", consumer.name, _PULL_TIMEOUT)
                break
            status = (msg.headers or {}).get(api.Header.STATUS)
            if status == api.StatusCode.CONTROL_MESSAGE:
                continue
            if status:  # 404 no messages, 408 request expired: the pull is over
                break
            msgs.append(msg)
            want -= 1
        return msgs

    # --- the Queue protocol -------------------------------------------------------------------

    async def put(self, events: Sequence[AsyncEvent]) -> None:
        js = self._js
        acks = [asyncio.ensure_future(js.publish(subject_of(e.function), e.payload, headers=_headers(e),
                                                 stream=self.stream)) for e in events]
        await _gather_all(acks)

    async def claim(self, function: str, limit: int, now: float, lease_until: float) -> list[AsyncEvent]:
        if limit <= 0:
            return []
        consumer = await self._consumer(function, lease_until - now)
        async with consumer.lock:
            msgs = await self._pull(consumer, limit)
        events = []
        for msg in msgs:
            event = _event(function, msg)
            if event.not_before > now:
                consumer.delayed[event.id] = event.not_before
                await msg.nak(delay=event.not_before - now)
                continue
            consumer.delayed.pop(event.id, None)
            self._leased[event.id] = msg
            events.append(event)
        return events

    async def complete(self, event_id: str, followups: Sequence[AsyncEvent] = ()) -> None:
        msg = self._leased.get(event_id)
        if followups:
            await self.put(followups)
        if msg is None:
            logger.warning("async queue: %s is not leased here (its lease passed?); nothing to acknowledge", event_id)
            return
        await msg.ack_sync(timeout=self.timeout)
        self._leased.pop(event_id, None)

    async def retry(self, event_id: str, attempts: int, not_before: float) -> None:
        msg = self._leased.get(event_id)
        if msg is None:
            logger.warning("async queue: %s is not leased here (its lease passed?); not retried", event_id)
            return
        event = _event(_function_of(msg.subject), msg)
        await self.put([dataclasses.replace(event, attempts=attempts, not_before=not_before)])
        await msg.ack_sync(timeout=self.timeout)
        self._leased.pop(event_id, None)

    async def next_due(self, function: str) -> float | None:
        consumer = self._consumers.get(function)
        if consumer is None:
            # Never claimed here: whatever waits is at most as late as now.
            return time.time() if (await self.depth()).get(function) else None
        info = await self._jsm.consumer_info(self.stream, consumer.name)
        if info.num_pending:
            return time.time()
        now = time.time()
        for event_id, due in list(consumer.delayed.items()):
            if due < now - 60:  # redelivered long ago, and taken by another gateway
                del consumer.delayed[event_id]
        return min(consumer.delayed.values(), default=None)

    async def depth(self) -> dict[str, int]:
        info = await self._jsm.stream_info(self.stream, subjects_filter=f"{SUBJECT_PREFIX}.>")
        return {_function_of(subject): n for subject, n in (info.state.subjects or {}).items() if n}


def _function_of(subject: str) -> str:
    _, _, namespace, name = subject.split(".", 3)
    return f"{namespace}/{name}"


async def _gather_all(futures: list[asyncio.Future[api.PubAck]]) -> None:
    """Wait for every publish (none left running), then raise the first failure."""
    if not futures:
        return
    done = await asyncio.gather(*futures, return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            raise result


async def _log_error(exc: Exception) -> None:
    logger.warning("async queue: NATS: %s", exc)
