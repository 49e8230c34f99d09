"""The warm pool of generic runtime workers, with real worker processes.

Asserted: a request that finds no idle worker takes the one the pool is already starting instead
of booting another (which would also compete with it for the CPUs); one that fails to start
makes the waiter start its own; ``ready`` returns once a worker is idle, at once with no pool;
a start cancelled midway (``kfn dev`` stopping) leaves no process behind.
Start attempts are counted by wrapping the real ``spawn_worker``.
"""

from __future__ import annotations

import asyncio
import os
import pathlib

import pytest

from kfn_gateway.backends import local


class Spawns:
    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = False


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> Spawns:
    counter = Spawns()
    real = local.spawn_worker

    async def counting(timeout: float) -> local.Worker:
        counter.calls += 1
        if counter.calls == 1 and counter.fail_first:
            raise local.WorkerStartError("the first start fails (test)")
        return await real(timeout)

    monkeypatch.setattr(local, "spawn_worker", counting)
    return counter


async def test_take_waits_for_the_worker_the_pool_is_starting(spawns: Spawns) -> None:
    pool = local.WarmPool(1, 30.0)
    pool.fill()
    worker = await pool.take()  # nothing idle yet: one is being started
    try:
        assert worker.alive and spawns.calls == 1
    finally:
        await worker.stop(1.0)
        await pool.close()


async def test_a_start_that_fails_makes_the_waiter_start_its_own(spawns: Spawns) -> None:
    spawns.fail_first = True
    pool = local.WarmPool(1, 30.0)
    pool.fill()
    worker = await pool.take()
    try:
        assert worker.alive and spawns.calls == 2
    finally:
        await worker.stop(1.0)
        await pool.close()


async def test_ready_means_a_worker_is_idle(spawns: Spawns) -> None:
    pool = local.WarmPool(2, 30.0)
    await pool.ready()  # nothing being started: no wait
    pool.fill()
    await pool.ready()
    try:
        assert len(pool.idle) >= 1 and all(w.alive for w in pool.idle)
    finally:
        await pool.close()
    assert pool.idle == []


def _runtime_children() -> list[int]:
    """Our child processes running kfn_runtime (zombies included: a child not reaped counts)."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and (b"kfn_runtime" in cmdline or fields[0] == "Z"):
            found.append(int(stat.parent.name))
    return found


async def test_a_start_cancelled_midway_leaves_no_process() -> None:
    task = asyncio.create_task(local.spawn_worker(30.0))
    while not _runtime_children():  # started, still booting (Python takes ~0.5 s to import)
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _runtime_children() == []
