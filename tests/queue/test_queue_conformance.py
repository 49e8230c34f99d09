"""One contract, every engine: the async queue's semantics, run against SQLite and NATS JetStream.

Nothing is faked: SQLite writes a file in tmp_path, NATS runs as a real ``nats-server`` with
JetStream on a free port. Crashes are real too: a subprocess that claims or puts is SIGKILLed,
and the NATS server itself is SIGKILLed and restarted on the same store. Asserted: what a
``Queue`` promises in ``kfn_gateway.queueing`` and what the dispatcher relies on. Where the
engines differ by design (NATS has no multi-message transaction, its ``next_due`` is a hint), the
test asserts the weaker promise for both and the exact one where the engine gives it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from kfn_gateway.queueing import AsyncEvent, Queue, new_event
from tests.queue.conftest import Engine

FN = "default/fn-a"
OTHER = "default/fn-b"
CRASH_CLIENT = pathlib.Path(__file__).parent / "crash_client.py"


def event(n: int, function: str = FN, not_before: float | None = None, **changes: object) -> AsyncEvent:
    now = time.time()
    e = new_event(function, "trig", f'{{"n": {n}}}'.encode(), now, f"{function.split('/')[1]}-{n}")
    if not_before is not None:
        e = dataclasses.replace(e, not_before=not_before)
    return dataclasses.replace(e, **changes)  # type: ignore[arg-type]


async def claim_all(q: Queue, function: str = FN, lease: float = 60.0, limit: int = 100) -> list[AsyncEvent]:
    now = time.time()
    return await q.claim(function, limit, now, now + lease)


async def eventually_claim(q: Queue, function: str, timeout: float, lease: float = 60.0) -> list[AsyncEvent]:
    deadline = time.monotonic() + timeout
    while True:
        got = await claim_all(q, function, lease)
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


# --- put, claim, complete, retry ----------------------------------------------------------------

async def test_claim_returns_what_was_put_field_for_field(queue: Queue) -> None:
    put = event(1, attempts=0)
    await queue.put([put])
    assert await claim_all(queue) == [put]


async def test_claim_is_fifo_per_function_and_bounded_by_limit(queue: Queue) -> None:
    await queue.put([event(n) for n in range(6)])
    await queue.put([event(n, OTHER) for n in range(3)])
    await queue.put([event(n) for n in range(6, 10)])
    now = time.time()
    first = await queue.claim(FN, 4, now, now + 60)
    rest = await queue.claim(FN, 100, now, now + 60)
    assert [e.id for e in first] == [f"fn-a-{n}" for n in range(4)]
    assert [e.id for e in rest] == [f"fn-a-{n}" for n in range(4, 10)]
    assert [e.id for e in await claim_all(queue, OTHER)] == ["fn-b-0", "fn-b-1", "fn-b-2"]


async def test_complete_removes_the_event(queue: Queue) -> None:
    await queue.put([event(1), event(2)])
    claimed = await claim_all(queue, lease=1)
    await queue.complete(claimed[0].id)
    assert (await queue.depth()).get(FN) == 1
    await asyncio.sleep(1.3)  # past the lease: only the uncompleted one comes back
    assert [e.id for e in await claim_all(queue)] == ["fn-a-2"]


async def test_retry_returns_the_event_with_its_attempts_after_not_before(queue: Queue) -> None:
    original = event(1)
    await queue.put([original])
    [claimed] = await claim_all(queue)
    due = time.time() + 0.6
    await queue.retry(claimed.id, 1, due)
    assert await claim_all(queue) == []
    assert (await queue.depth()).get(FN) == 1
    [again] = await eventually_claim(queue, FN, 5)
    assert time.time() >= due
    assert again == dataclasses.replace(original, attempts=1, not_before=due)


async def test_complete_and_retry_of_an_unknown_event_change_nothing(queue: Queue) -> None:
    await queue.put([event(1)])
    await queue.complete("no-such-event")
    await queue.retry("no-such-event", 3, time.time())
    assert [e.id for e in await claim_all(queue)] == ["fn-a-1"]


# --- leases ---------------------------------------------------------------------------------------

async def test_a_leased_event_is_not_claimed_again_until_its_lease_passes(queue: Queue) -> None:
    await queue.put([event(1)])
    began = time.time()
    assert [e.id for e in await claim_all(queue, lease=1.0)] == ["fn-a-1"]
    assert await claim_all(queue, lease=1.0) == []
    [again] = await eventually_claim(queue, FN, 5, lease=1.0)
    assert again.id == "fn-a-1"
    assert time.time() - began >= 0.95


async def test_open_after_a_crash_makes_leased_events_claimable(engine: Engine, queue: Queue) -> None:
    await queue.put([event(n) for n in range(5)])
    await queue.close()
    crashed = subprocess.run([sys.executable, str(CRASH_CLIENT), engine.name, engine.target, "claim", FN, "3"],
                             capture_output=True, timeout=30)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    assert crashed.stdout.decode().split() == ["fn-a-0", "fn-a-1", "fn-a-2", "done"]
    restarted = engine.make()
    await restarted.open()
    try:
        got = await eventually_claim(restarted, FN, 3)
        assert sorted(e.id for e in got) == [f"fn-a-{n}" for n in range(5)]
    finally:
        await restarted.close()


# --- not_before, next_due, depth ----------------------------------------------------------------

async def test_an_event_is_not_claimed_before_not_before(queue: Queue) -> None:
    due = time.time() + 0.8
    await queue.put([event(1, not_before=due), event(2)])
    assert [e.id for e in await claim_all(queue)] == ["fn-a-2"]
    [later] = await eventually_claim(queue, FN, 5)
    assert later.id == "fn-a-1" and time.time() >= due


async def test_next_due(engine: Engine, queue: Queue) -> None:
    assert await queue.next_due(FN) is None
    due = time.time() + 30
    await queue.put([event(1, not_before=due)])
    hint = await queue.next_due(FN)
    assert hint is not None and hint <= due  # never later than the truth
    if engine.name == "sqlite":
        assert hint == due
    assert await claim_all(queue) == []  # looked at, not due: now the engine knows exactly
    assert await queue.next_due(FN) == pytest.approx(due, abs=1e-3)
    assert await queue.next_due(OTHER) is None
    await queue.put([event(2)])
    [leased] = await claim_all(queue)
    assert leased.id == "fn-a-2"
    assert await queue.next_due(FN) == pytest.approx(due, abs=1e-3)  # a leased event is not waiting


async def test_depth_counts_waiting_and_leased_events_by_function(queue: Queue) -> None:
    assert await queue.depth() == {}
    await queue.put([event(n) for n in range(4)] + [event(n, OTHER) for n in range(2)])
    claimed = await claim_all(queue, limit=2)
    assert await queue.depth() == {FN: 4, OTHER: 2}
    await queue.complete(claimed[0].id)
    await queue.complete(claimed[1].id)
    assert await queue.depth() == {FN: 2, OTHER: 2}


async def test_complete_with_followups_queues_them_and_removes_the_original(queue: Queue) -> None:
    await queue.put([event(1)])
    [claimed] = await claim_all(queue)
    followup = event(9, OTHER)
    await queue.complete(claimed.id, [followup])
    assert await queue.depth() == {OTHER: 1}
    assert await claim_all(queue, OTHER) == [followup]


# --- durability -----------------------------------------------------------------------------------

async def test_concurrent_puts_are_all_durable(engine: Engine, queue: Queue) -> None:
    singles = [event(n) for n in range(300)]
    batches = [[event(1000 + 10 * b + i) for i in range(5)] for b in range(20)]
    await asyncio.gather(*(queue.put([e]) for e in singles), *(queue.put(b) for b in batches))
    await queue.close()
    reopened = engine.make()
    await reopened.open()
    try:
        assert await reopened.depth() == {FN: 400}
        got = await claim_all(reopened, limit=1000)
        assert len({e.id for e in got}) == 400
    finally:
        await reopened.close()


async def test_a_put_that_returned_survives_a_hard_stop(engine: Engine, queue: Queue) -> None:
    """SQLite: the putting process is SIGKILLed. NATS: the server itself is SIGKILLed and restarted."""
    if engine.nats is None:
        await queue.close()  # one gateway per queue file: the putting process takes it
        acked = await _put_then_kill_the_process(engine, minimum=300)
    else:
        acked = set()

        async def putter(k: int) -> None:
            for n in range(40):
                e = event(k * 1000 + n)
                await queue.put([e])
                acked.add(e.id)
        await asyncio.gather(*(putter(k) for k in range(16)))
        engine.nats.kill()
        engine.nats.start()
        await _put_when_reconnected(queue, event(99_999))  # the same client carries on
        acked.add("fn-a-99999")
    await queue.close()
    reopened = engine.make()
    await reopened.open()
    try:
        got = {e.id for e in await claim_all(reopened, limit=100_000)}
        assert acked <= got, f"lost {len(acked - got)} acknowledged event(s)"
        assert len(acked) >= 300
    finally:
        await reopened.close()


async def _put_when_reconnected(queue: Queue, e: AsyncEvent) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            await queue.put([e])
            return
        except Exception:  # noqa: BLE001 - not reconnected yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _put_then_kill_the_process(engine: Engine, minimum: int) -> set[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_CLIENT), engine.name, engine.target, "put", FN,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    acked: set[str] = set()
    try:
        async with asyncio.timeout(30):
            while len(acked) < minimum:
                line = await proc.stdout.readline()
                assert line, "the putting process ended early"
                acked.add(line.decode().strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = await proc.communicate()
    acked.update(rest.decode().split())  # printed before the kill: returned, so durable
    return acked
