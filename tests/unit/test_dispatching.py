"""Per-function slots and waiting: FunctionState with plain Replica values, no processes.

Asserted: least-loaded choice, the perReplica hard limit, FIFO hand-over of freed slots,
throttling at concurrency.max, init errors delivered to every waiter, and no slot leaked when a
waiter gives up.
"""

import asyncio

import pytest

from kfn import api
from kfn_gateway.dispatching import FunctionState, InitFailed, Replica
from kfn_gateway.outcomes import Kind, Outcome


def state(per_replica=2, max_=5):
    fn = api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "f"},
                             "spec": {"runtime": "python3.11", "handler": "a.h", "code": {"inline": "x"},
                                      "concurrency": {"perReplica": per_replica, "max": max_}}})
    return FunctionState(fn)


def test_least_loaded_and_hard_limit():
    s = state(per_replica=2)
    a, b = Replica("http://a"), Replica("http://b")
    s.add(a)
    s.add(b)
    got = [s.try_acquire() for _ in range(4)]
    assert sorted(r.url for r in got) == ["http://a", "http://a", "http://b", "http://b"]
    assert s.try_acquire() is None
    s.release(a)
    assert s.try_acquire() is a


def test_admit_throttles_at_max():
    s = state(max_=2)
    assert s.admit() and s.admit()
    assert not s.admit()
    s.finish()
    assert s.admit()


async def test_waiters_are_served_in_order_when_a_replica_arrives():
    s = state(per_replica=1)
    first = asyncio.ensure_future(s.acquire(5))
    second = asyncio.ensure_future(s.acquire(5))
    await asyncio.sleep(0)
    r = Replica("http://r")
    s.add(r)
    assert (await first) is r
    assert not second.done()
    s.release(r)
    assert (await second) is r
    assert r.in_flight == 1


async def test_timeout_leaves_no_waiter_and_no_slot():
    s = state(per_replica=1)
    with pytest.raises(TimeoutError):
        await s.acquire(0.01)
    assert not s.waiters
    r = Replica("http://r")
    s.add(r)
    assert r.in_flight == 0


async def test_init_failure_reaches_every_waiter():
    s = state()
    waiters = [asyncio.ensure_future(s.acquire(5)) for _ in range(3)]
    await asyncio.sleep(0)
    outcome = Outcome(Kind.INIT_ERROR, b'{"errorType": "Runtime.ImportModuleError"}', "r")
    s.fail_waiters(InitFailed(outcome))
    for w in waiters:
        with pytest.raises(InitFailed) as info:
            await w
        assert info.value.outcome is outcome


def test_removed_replica_gets_no_new_requests():
    s = state(per_replica=2)
    r = Replica("http://r")
    s.add(r)
    taken = s.try_acquire()
    assert s.remove(r)
    assert s.try_acquire() is None
    s.release(taken)  # releasing after removal must not route to it again
    assert s.try_acquire() is None
