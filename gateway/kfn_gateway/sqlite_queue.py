"""The embedded async queue: one SQLite file in WAL mode, owned by one thread.

SQLite calls block, so they never run on the event loop: a dedicated thread owns the connection
and executes operations the loop hands it. Operations waiting together are committed in one
transaction (group commit: the rows of all puts in one statement; if any operation fails, the
batch is run again with each operation in its own savepoint, so one failure spoils nothing else),
and the callers' futures resolve only after that commit: an event is acknowledged once it is on disk.
``synchronous=FULL`` makes the commit survive an OS crash too, not only a gateway crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import pathlib
import queue as thread_queue
import sqlite3
import sys
import threading
from typing import Any, Callable, Sequence

from kfn_gateway.queueing import AsyncEvent

__all__ = ["SqliteQueue"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    trigger TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_due ON events (function, lease_until, not_before);
CREATE INDEX IF NOT EXISTS events_fifo ON events (function, seq);
"""
_COLUMNS = "id, function, trigger, payload, received_at, attempts, not_before"
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_MAX_BATCH = 512
_ROWS_PER_INSERT = 256
"""Rows in one multi-row INSERT (7 parameters each; SQLite allows 32,766 per statement)."""

Op = Callable[[sqlite3.Connection], Any]
"""Runs on the queue's thread. Returns plain values only: a cursor handed to the event loop's thread
would be finalised there, racing the queue's thread on the connection ("API misuse")."""


class _Insert:
    """A ``put``: inserts only, so the rows of every put in a batch can go in one statement."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __call__(self, c: sqlite3.Connection) -> None:
        c.executemany(_INSERT, self.rows)


def _row(row: tuple[Any, ...]) -> AsyncEvent:
    return AsyncEvent(id=row[0], function=row[1], trigger=row[2], payload=bytes(row[3]), received_at=row[4],
                      attempts=row[5], not_before=row[6])


class SqliteQueue:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._ops: thread_queue.SimpleQueue[tuple[Op, asyncio.Future[Any]] | None] = thread_queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_file: Any = None

    # --- the thread ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.path.with_name(self.path.name + ".lock"))
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        return conn

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._ops.get()
            if first is None:
                conn.close()
                return
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._ops.get_nowait()
                except thread_queue.Empty:
                    break
                if item is None:
                    self._ops.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._run_batch(conn, batch)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        try:
            results = self._run_together(conn, batch)
        except Exception:  # noqa: BLE001 - one operation failed: run each alone to tell which
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            results = self._run_isolated(conn, batch)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, results)

    def _run_together(self, conn: sqlite3.Connection, batch: list[tuple[Op, asyncio.Future[Any]]]
                      ) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        """The common case, nothing fails: all puts' rows in one statement, no savepoints.

        Every sqlite3 call hands the GIL over and back; under load the event loop's thread holds
        it, so fewer calls per commit is what keeps the queue's thread (and the 200s) fast.
        """
        rows = [row for op, _ in batch if isinstance(op, _Insert) for row in op.rows]
        chunks = [rows[i:i + _ROWS_PER_INSERT] for i in range(0, len(rows), _ROWS_PER_INSERT)]
        # Only puts, in one statement: that statement is the transaction (autocommit).
        alone = len(chunks) == 1 and all(isinstance(op, _Insert) for op, _ in batch)
        if not alone:
            conn.execute("BEGIN IMMEDIATE")
        for chunk in chunks:  # one step per statement, not one per row
            conn.execute(_INSERT + ", (?, ?, ?, ?, ?, ?, ?)" * (len(chunk) - 1),
                         [value for row in chunk for value in row])
        results = [(future, True, None if isinstance(op, _Insert) else op(conn)) for op, future in batch]
        if not alone:
            conn.execute("COMMIT")
        return results

    def _run_isolated(self, conn: sqlite3.Connection, batch: list[tuple[Op, asyncio.Future[Any]]]
                      ) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        """Each operation in its own savepoint, so one failure spoils nothing else."""
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, False, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((future, True, value))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.error("async queue: commit failed: %s", exc)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            results = [(future, False, exc) for _, future in batch]
        return results

    async def _call(self, op: Op) -> Any:
        # Once close() has queued its stop, nothing queued after it would ever run.
        if self._thread is None or self._closing or not self._thread.is_alive():
            raise RuntimeError("the async queue is not open")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._ops.put((op, future))
        return await future

    # --- the Queue protocol ----------------------------------------------------------------

    async def open(self) -> None:
        # The queue's thread needs the GIL briefly for each commit; with Python's default 5 ms switch
        # interval it waits behind the busy event loop, and every acknowledgement with it (this bounds
        # webhook ingest at about half the rate: bench/webhook.py). Process-wide, so set by the engine
        # that needs it, when it starts.
        sys.setswitchinterval(0.0005)
        self._loop = asyncio.get_running_loop()
        self._closing = False
        conn = await asyncio.to_thread(self._connect)
        self._thread = threading.Thread(target=self._serve, args=(conn,), name="kfn-async-queue", daemon=True)
        self._thread.start()
        # Leases belong to this gateway's workers; after a crash nobody holds them any more.
        released = await self._call(lambda c: c.execute("UPDATE events SET lease_until = 0 WHERE lease_until > 0").rowcount)
        if released:
            logger.warning("async queue: %d event(s) in flight when the gateway stopped will run again", released)

    async def close(self) -> None:
        if self._thread is not None and not self._closing:
            self._closing = True
            self._ops.put(None)
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    async def put(self, events: Sequence[AsyncEvent]) -> None:
        await self._call(_Insert([(e.id, e.function, e.trigger, e.payload, e.received_at, e.attempts, e.not_before)
                                  for e in events]))

    async def claim(self, function: str, limit: int, now: float, lease_until: float) -> list[AsyncEvent]:
        def op(c: sqlite3.Connection) -> list[AsyncEvent]:
            # Walk the function's events in queue order and stop at ``limit``: without the
            # hint SQLite sorts every due event of the function on each claim (slow with a backlog).
            rows = c.execute(
                f"UPDATE events SET lease_until = ? WHERE seq IN ("
                f" SELECT seq FROM events INDEXED BY events_fifo"
                f" WHERE function = ? AND lease_until <= ? AND not_before <= ?"
                f" ORDER BY seq LIMIT ?) RETURNING {_COLUMNS}, seq",
                (lease_until, function, now, now, limit)).fetchall()
            return [_row(r) for r in sorted(rows, key=lambda r: r[-1])]
        return await self._call(op)

    async def complete(self, event_id: str, followups: Sequence[AsyncEvent] = ()) -> None:
        rows = [(e.id, e.function, e.trigger, e.payload, e.received_at, e.attempts, e.not_before) for e in followups]

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM events WHERE id = ?", (event_id,))
            if rows:
                c.executemany(_INSERT, rows)
        await self._call(op)

    async def retry(self, event_id: str, attempts: int, not_before: float) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("UPDATE events SET attempts = ?, not_before = ?, lease_until = 0 WHERE id = ?",
                      (attempts, not_before, event_id))
        await self._call(op)

    async def next_due(self, function: str) -> float | None:
        row = await self._call(lambda c: c.execute(
            "SELECT MIN(not_before) FROM events WHERE function = ? AND lease_until = 0", (function,)).fetchone())
        return None if row is None or row[0] is None else float(row[0])

    async def depth(self) -> dict[str, int]:
        rows = await self._call(lambda c: c.execute(
            "SELECT function, COUNT(*) FROM events GROUP BY function").fetchall())
        return {fn: int(n) for fn, n in rows}


class QueueInUse(RuntimeError):
    """Another gateway process holds this queue: leases would be stolen, events run twice."""


def _lock(path: pathlib.Path) -> Any:
    """An exclusive lock held for the process's life (the kernel drops it if the process dies)."""
    handle = path.open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise QueueInUse(f"{path.parent} is in use by another kfn gateway; give each one its own "
                         f"KFN_STATE_DIR") from None
    return handle


def _resolve(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
