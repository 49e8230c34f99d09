"""What only the SQLite engine promises, beyond the shared contract: transactions and a clean close.

Real SQLite files in tmp_path; nothing faked. Asserted: a put is all or none, ``complete`` with
followups is one transaction (the followup exists iff the original is gone), one failing
operation does not spoil the others committed with it, and no caller waits forever on a queue
that is closing.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
import subprocess
import sys
import time

import pytest

from kfn_gateway.sqlite_queue import SqliteQueue
from tests.queue.test_queue_conformance import FN, OTHER, claim_all, event


@pytest.fixture
async def queue(tmp_path: pathlib.Path):
    q = SqliteQueue(tmp_path / "queue.sqlite3")
    await q.open()
    try:
        yield q
    finally:
        await q.close()


async def test_a_put_is_all_or_none(queue: SqliteQueue) -> None:
    await queue.put([event(1)])
    with pytest.raises(sqlite3.IntegrityError):
        await queue.put([event(2), event(1)])
    assert await queue.depth() == {FN: 1}


async def test_complete_with_a_failing_followup_keeps_the_original(queue: SqliteQueue) -> None:
    await queue.put([event(1), event(7, OTHER)])
    [claimed, _] = await claim_all(queue, limit=1) + [None]
    with pytest.raises(sqlite3.IntegrityError):
        await queue.complete(claimed.id, [event(8, OTHER), event(7, OTHER)])  # fn-b-7 exists already
    assert await queue.depth() == {FN: 1, OTHER: 1}


async def test_one_failing_operation_does_not_spoil_the_others_in_its_commit(queue: SqliteQueue) -> None:
    await queue.put([event(0)])
    results = await asyncio.gather(*(queue.put([event(n)]) for n in range(1, 50)), queue.put([event(0)]),
                                   *(queue.put([event(n)]) for n in range(50, 100)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], sqlite3.IntegrityError)
    assert await queue.depth() == {FN: 100}


async def test_no_caller_waits_forever_on_a_closing_queue(tmp_path: pathlib.Path) -> None:
    q = SqliteQueue(tmp_path / "queue.sqlite3")
    await q.open()
    before = [asyncio.ensure_future(q.put([event(n)])) for n in range(100)]
    closing = asyncio.ensure_future(q.close())
    after = [asyncio.ensure_future(q.put([event(n)])) for n in range(100, 200)]
    async with asyncio.timeout(5):
        results = await asyncio.gather(*before, closing, *after, return_exceptions=True)
    assert all(r is None for r in results[:101])  # queued before close began: committed
    assert all(isinstance(r, RuntimeError) for r in results[101:])
    reopened = SqliteQueue(tmp_path / "queue.sqlite3")
    await reopened.open()
    try:
        assert await reopened.depth() == {FN: 100}
        with pytest.raises(RuntimeError):
            await q.put([event(999)])
    finally:
        await reopened.close()


async def test_claims_stay_fast_with_a_deep_backlog(queue: SqliteQueue) -> None:
    """A claim walks the function's events in order and stops at its limit; it never sorts the backlog."""
    async def claim_and_complete(times: int) -> float:
        now = time.time()
        began = time.perf_counter()
        for _ in range(times):
            [claimed] = await queue.claim(FN, 1, now, now + 60)
            await queue.complete(claimed.id)
        return (time.perf_counter() - began) / times

    await queue.put([event(n) for n in range(100)])
    shallow = await claim_and_complete(50)  # mostly two commits (fsync) per round
    for chunk in range(1, 21):
        await queue.put([event(chunk * 1000 + n) for n in range(1000)])
    deep = await claim_and_complete(50)
    assert deep < 2 * shallow + 0.002, f"{deep * 1000:.1f} ms per claim+complete with 20,000 events waiting, " \
                                       f"{shallow * 1000:.1f} ms with 50"


PUTTING = """
import asyncio, pathlib, sys, time
from kfn_gateway.queueing import new_event
from kfn_gateway.sqlite_queue import SqliteQueue

async def main():
    queue = SqliteQueue(pathlib.Path(sys.argv[1]))
    await queue.open()
    deadline = time.monotonic() + 3

    async def putter():
        while time.monotonic() < deadline:
            await queue.put([new_event("default/fn-a", "t", b'{"Records": [{"a": 1}]}' * 20, time.time())])
    await asyncio.gather(*(putter() for _ in range(16)))
    await queue.close()

asyncio.run(main())
"""


def test_sustained_concurrent_puts_never_fail(tmp_path: pathlib.Path) -> None:
    """Nothing SQLite owns (a cursor) may reach the event loop's thread: freed there, it races the queue's
    thread on the connection ("bad parameter or other API misuse"). Run alone in a process of its own,
    where the race shows at once."""
    done = subprocess.run([sys.executable, "-c", PUTTING, str(tmp_path / "queue.sqlite3")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
