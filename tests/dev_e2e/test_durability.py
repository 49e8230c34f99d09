"""Nothing acknowledged is lost: async events survive a killed gateway and a killed runtime worker.

Real processes only: ``kfn dev`` as a subprocess (SQLite queue, or NATS JetStream on a real
``nats-server`` that stays up), a recording function (tests/dev_e2e/durability) that appends each
event's id to a file in tmp_path on every invocation, and an HTTP client streaming events with
bounded concurrency: MinIO-format ``POST /events/s3`` notifications and Invoke API calls with
``X-Amz-Invocation-Type: Event``, each carrying a unique id. The client retries what was not
acknowledged, as a bucket's webhook does. Asserted: every event that got a 2xx was invoked at
least once (duplicates are allowed and reported), after ``kill -9`` of ``kfn dev`` mid-stream and
a restart on the same state, and after ``kill -9`` of a worker mid-invocation.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import time

import aiohttp
import pytest

from tests import minio
from tests.dev_e2e.conftest import DevServer
from tests.queue.nats_server import NatsServer

pytestmark = pytest.mark.e2e

FIXTURES = pathlib.Path(__file__).parent / "durability"
TOKEN = "durability-token"
CONCURRENCY = 16


@dataclasses.dataclass
class Setup:
    directory: pathlib.Path
    records: pathlib.Path
    env: dict[str, str]
    tmp: pathlib.Path

    def start(self, name: str) -> DevServer:
        return DevServer(self.directory, self.tmp / f"{name}.log", self.env)

    def records_of(self, name: str) -> list[tuple[str, int]]:
        """(event id, pid) of each invocation that ``started`` or was ``done``."""
        path = self.records / name
        lines = path.read_text().splitlines() if path.exists() else []
        return [(event_id, int(pid)) for event_id, pid in (line.split() for line in lines)]

    def done(self) -> set[str]:
        return {event_id for event_id, _ in self.records_of("done")}


def make_setup(tmp: pathlib.Path, sleep: float, env: dict[str, str] | None = None) -> Setup:
    directory = tmp / "functions"
    shutil.copytree(FIXTURES / "code", directory / "code")
    records = tmp / "records"
    records.mkdir()
    manifest = (FIXTURES / "functions.yaml.in").read_text()
    (directory / "functions.yaml").write_text(
        manifest.replace("@RECORD_DIR@", str(records)).replace("@SLEEP@", str(sleep)))
    full_env = {"KFN_STATE_DIR": str(tmp / "state"), "KFN_S3_WEBHOOK_TOKEN": TOKEN,
                "KFN_ASYNC_RETRY_BASE": "0.1", "KFN_WARM_POOL": "2", **(env or {})}
    return Setup(directory, records, full_env, tmp)


class Stream:
    """Sends events ``0..count-1`` with bounded concurrency to whatever ``url`` is now, until each is acknowledged."""

    def __init__(self, count: int, prefix: str) -> None:
        self.ids = [f"{prefix}{n:05d}" for n in range(count)]
        self.url = ""
        self.acked: set[str] = set()
        self.refused = 0

    async def _send(self, session: aiohttp.ClientSession, n: int, event_id: str) -> bool:
        try:
            if n % 2:
                async with session.post(f"{self.url}/events/s3", json=minio.notification("durable", f"in/{event_id}.json"),
                                        headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    await resp.read()
                    ok = resp.status == 200
            else:
                async with session.post(f"{self.url}/2015-03-31/functions/recorder/invocations",
                                        data=json.dumps({"id": event_id}),
                                        headers={"X-Amz-Invocation-Type": "Event"}) as resp:
                    await resp.read()
                    ok = resp.status == 202
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            ok = False
        if not ok:
            self.refused += 1
        return ok

    async def run(self) -> None:
        todo = collections.deque(enumerate(self.ids))
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
            async def sender() -> None:
                while todo:
                    n, event_id = todo.popleft()
                    if await self._send(s, n, event_id):
                        self.acked.add(event_id)
                    else:
                        todo.append((n, event_id))  # as a webhook retries what was not acknowledged
                        await asyncio.sleep(0.05)
            await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))


async def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


def report(setup: Setup, stream: Stream) -> tuple[set[str], int]:
    done = collections.Counter(event_id for event_id, _ in setup.records_of("done"))
    duplicates = sum(n - 1 for event_id, n in done.items() if event_id in stream.acked and n > 1)
    print(f"\n{len(stream.acked)} acknowledged, {len(set(done) & stream.acked)} invoked, "
          f"{duplicates} duplicate invocation(s), {stream.refused} refused send(s) retried")
    return stream.acked - set(done), duplicates


async def kill_gateway_mid_stream(setup: Setup, count: int) -> None:
    server = setup.start("before")
    restarted: DevServer | None = None
    stream = Stream(count, "e")
    stream.url = server.url
    try:
        sending = asyncio.ensure_future(stream.run())
        # Kill while events are being invoked, others wait in the queue, and the stream goes on.
        assert await wait_until(lambda: (len(stream.acked) >= count * 0.3 and len(setup.done()) >= 50)
                                or len(stream.acked) >= count * 0.8 or sending.done(), 30)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        acked_before_kill = len(stream.acked)
        invoked_before_kill = len(setup.done())
        print(f"\nkilled kfn dev after {acked_before_kill} acknowledged, {invoked_before_kill} invoked")
        restarted = await asyncio.to_thread(setup.start, "after")
        stream.url = restarted.url
        await asyncio.wait_for(sending, 40)
        assert acked_before_kill < count, "the stream ended before the kill: nothing was tested"
        await wait_until(lambda: stream.acked <= setup.done(), 30)
        lost, _ = report(setup, stream)
        assert not lost, f"{len(lost)} acknowledged event(s) never invoked, e.g. {sorted(lost)[:5]}"
        assert 0 < invoked_before_kill < acked_before_kill < count, "the kill came too early or too late"
    finally:
        server.stop()
        if restarted is not None:
            assert restarted.stop() == 0, restarted.log()[-3000:]


async def test_kill_9_of_the_gateway_loses_no_acknowledged_event(tmp_path: pathlib.Path) -> None:
    await kill_gateway_mid_stream(make_setup(tmp_path, sleep=0.0), 1200)


async def test_kill_9_of_the_gateway_loses_no_acknowledged_event_on_nats(tmp_path: pathlib.Path,
                                                                          nats_server: NatsServer) -> None:
    setup = make_setup(tmp_path, sleep=0.0, env={"KFN_QUEUE": "nats", "KFN_NATS_URL": nats_server.url})
    await kill_gateway_mid_stream(setup, 1200)


async def test_a_worker_killed_mid_invocation_has_its_event_retried(tmp_path: pathlib.Path) -> None:
    setup = make_setup(tmp_path, sleep=0.3)
    server = setup.start("dev")
    stream = Stream(300, "w")
    stream.url = server.url
    killed: set[int] = set()
    try:
        sending = asyncio.ensure_future(stream.run())
        for _ in range(2):  # two workers, each killed while it runs invocations
            def busy_worker() -> int | None:
                done = set(setup.records_of("done"))
                running = {pid for event_id, pid in setup.records_of("started") if (event_id, pid) not in done}
                return next(iter(running - killed), None)
            assert await wait_until(lambda: busy_worker() is not None, 20)
            pid = busy_worker()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            await asyncio.sleep(0.5)
        await asyncio.wait_for(sending, 40)
        await wait_until(lambda: stream.acked <= setup.done(), 40)
        lost, _ = report(setup, stream)
        assert not lost, f"{len(lost)} acknowledged event(s) never invoked, e.g. {sorted(lost)[:5]}"
        done = set(setup.records_of("done"))
        interrupted = {e for e, pid in setup.records_of("started") if pid in killed and (e, pid) not in done}
        assert interrupted, "no invocation was interrupted by the kills"
        print(f"{len(interrupted)} invocation(s) interrupted by the kills")
        assert interrupted <= setup.done(), f"interrupted and never run again: {interrupted - setup.done()}"
        assert "Runtime.ExitError" in server.log()
    finally:
        assert server.stop() == 0, server.log()[-3000:]
