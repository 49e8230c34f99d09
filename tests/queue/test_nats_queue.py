"""What only the NATS engine does: shared consumers in a cluster, and how it lays out JetStream.

A real ``nats-server`` with JetStream per test. Asserted: a non-exclusive gateway (the cluster's)
leaves a dead peer's leases to pass with the ack wait instead of taking them at start; a gateway
that closes hands its leased events back at once; subjects and consumer names cannot collide.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from kfn_gateway import nats_queue
from kfn_gateway.nats_queue import NatsQueue
from tests.queue.nats_server import NatsServer
from tests.queue.test_queue_conformance import FN, claim_all, event, eventually_claim


async def test_a_cluster_gateway_waits_for_a_dead_peers_leases_to_pass(nats_server: NatsServer) -> None:
    dead, alive = NatsQueue(nats_server.url), NatsQueue(nats_server.url)
    await dead.open()
    await dead.put([event(1)])
    assert [e.id for e in await claim_all(dead, lease=2)] == ["fn-a-1"]
    await alive.open()
    try:
        began = time.monotonic()
        assert await claim_all(alive, lease=2) == []  # the peer may still be running it
        [again] = await eventually_claim(alive, FN, 5, lease=2)
        assert again.id == "fn-a-1" and time.monotonic() - began >= 1.0
    finally:
        await alive.close()
        await dead.close()


async def test_a_closing_gateway_hands_its_leases_back_at_once(nats_server: NatsServer) -> None:
    first, second = NatsQueue(nats_server.url), NatsQueue(nats_server.url)
    await first.open()
    await second.open()
    try:
        await first.put([event(1), event(2)])
        assert len(await claim_all(first, lease=60)) == 2
        await first.close()
        got = await eventually_claim(second, FN, 3, lease=60)
        assert sorted(e.id for e in got) == ["fn-a-1", "fn-a-2"]
    finally:
        await second.close()


def test_subjects_and_consumer_names_are_unambiguous() -> None:
    assert nats_queue.subject_of("ns-a/b") == "kfn.async.ns-a.b"
    assert nats_queue.consumer_of("ns-a/b") != nats_queue.consumer_of("ns/a-b")
    for bad in ("default", "a.b/c", "a/b.c", "a/*", "/x"):
        with pytest.raises(ValueError):
            nats_queue.subject_of(bad)


async def test_open_fails_within_its_timeout_without_a_server() -> None:
    queue = NatsQueue("nats://kfn:s3cret@127.0.0.1:1", timeout=1)
    began = time.monotonic()
    with pytest.raises(nats_queue.NatsUnavailable) as raised:
        await asyncio.wait_for(queue.open(), 10)
    assert time.monotonic() - began < 5
    assert "s3cret" not in str(raised.value)
