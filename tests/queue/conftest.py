"""Queue engines under test: SQLite over a file in tmp_path, NATS JetStream on a real nats-server.

``engine.make()`` gives a new, unopened queue over the same storage (file / stream), which is how
the tests play a second gateway or a gateway restarted after a crash.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import AsyncIterator, Callable

import pytest

from kfn_gateway.queueing import Queue
from kfn_gateway.sqlite_queue import SqliteQueue
from tests.queue.nats_server import NatsServer


@dataclasses.dataclass
class Engine:
    name: str
    make: Callable[[], Queue]
    target: str
    """Where the storage is, for a subprocess: the SQLite file or the NATS URL."""
    nats: NatsServer | None = None


@pytest.fixture(params=["sqlite", "nats"])
def engine(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Engine:
    if request.param == "sqlite":
        path = tmp_path / "state" / "queue.sqlite3"
        return Engine("sqlite", lambda: SqliteQueue(path), str(path))
    from kfn_gateway.nats_queue import NatsQueue
    server: NatsServer = request.getfixturevalue("nats_server")
    return Engine("nats", lambda: NatsQueue(server.url, exclusive=True), server.url, server)


@pytest.fixture
async def queue(engine: Engine) -> AsyncIterator[Queue]:
    q = engine.make()
    await q.open()
    try:
        yield q
    finally:
        await q.close()
