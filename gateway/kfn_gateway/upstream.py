"""A lean HTTP/1.1 client for the gateway's hot path: POST one event to a runtime replica, read its answer.

Why not aiohttp's ``ClientSession``: per request it builds ``ClientRequest``/``ClientResponse``
objects, merges default headers, consults the cookie jar and arms timeout objects, which was
about 320 µs of the gateway's CPU per warm invocation (bench/RESULTS.md). Here each replica has a
pool of keep-alive connections, one request at a time on each; the request head and the body
go out in one ``write``, and httptools (llhttp, C) parses the answer as it arrives.

Bounded: idle connections per replica (``MAX_IDLE``), their idle age (``IDLE_SECONDS``, below
the runtime's 75 s keep-alive, so the gateway closes first and never sends on a connection the
runtime is closing), the answer's size (``MAX_ANSWER_BYTES``, the runtime's own limit plus room),
and every exchange by its deadline. A connection whose exchange did not complete (deadline,
cancellation, bad HTTP) is closed, never reused. Nothing is retried here: an invocation is not
idempotent, and what a failure means is the backend's to decide.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
import urllib.parse
from typing import Mapping

import httptools
from multidict import CIMultiDict

__all__ = ["Answer", "Unreachable", "Upstreams", "MAX_ANSWER_BYTES", "MAX_HEADER_BYTES", "MAX_IDLE", "IDLE_SECONDS"]

MAX_ANSWER_BYTES = 7 * 1024 * 1024
"""The runtime answers at most 6 MiB (plus its error envelope); more is a broken peer."""
MAX_HEADER_BYTES = 64 * 1024
"""The runtime's headers are a few hundred bytes (a log tail is 4 KiB in base64); more is a broken peer."""
MAX_IDLE = 64
IDLE_SECONDS = 30.0


class Unreachable(ConnectionError):
    """The replica could not be reached, or closed the connection or answered garbage before its answer."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection: ``send`` writes a whole request; the answer resolves its waiter."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body: list[bytes] = []
        self.size = 0
        self.closed = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Unreachable(f"the replica answered invalid HTTP: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.lost(self)
        self._fail(Unreachable(f"the replica closed the connection before answering ({exc or 'EOF'})"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.size += len(name) + len(value)
        if self.size > MAX_HEADER_BYTES:
            self._fail(Unreachable(f"the replica's answer has more than {MAX_HEADER_BYTES} bytes of headers"))
            self.close()
            return
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.size = 0  # from here on it counts the body

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_ANSWER_BYTES:
            self._fail(Unreachable(f"the replica's answer exceeds {MAX_ANSWER_BYTES} bytes"))
            self.close()
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        answer = Answer(self.parser.get_status_code(), self.headers, b"".join(self.body))
        self.headers, self.body, self.size = CIMultiDict(), [], 0
        if not self.parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # ours
    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, waiter: asyncio.Future[Answer]) -> None:
        assert self.transport is not None and self.waiter is None
        self.waiter = waiter
        self.transport.write(data)


class _Pool:
    """Idle connections to one replica (newest last: the warmest socket is reused first)."""

    def __init__(self, owner: Upstreams, key: str, host: str, port: int) -> None:
        self.owner, self.key, self.host, self.port = owner, key, host, port
        self.idle: collections.deque[_Connection] = collections.deque()
        self.busy = 0

    def lost(self, conn: _Connection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        self.forget_if_unused()

    def forget_if_unused(self) -> None:
        if not self.idle and not self.busy and self.owner.pools.get(self.key) is self:
            del self.owner.pools[self.key]

    def take(self) -> _Connection | None:
        """The most recently used idle connection still fit for use, if any (no await: the hot path)."""
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            _, protocol = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError as exc:
            raise Unreachable(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        return protocol

    def release(self, conn: _Connection) -> None:
        if conn.closed or len(self.idle) >= MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Upstreams:
    """Connection pools to every replica the gateway forwards to, keyed by the replica's base URL."""

    def __init__(self) -> None:
        self.pools: dict[str, _Pool] = {}
        self.heads: dict[str, bytes] = {}

    def _pool(self, url: str) -> _Pool:
        pool = self.pools.get(url)
        if pool is None:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"replica URL {url!r} is not http://host:port")
            pool = self.pools[url] = _Pool(self, url, parts.hostname, parts.port or 80)
        return pool

    def _head(self, url: str, path: str) -> bytes:
        """The part of the request head that never changes for a replica and path."""
        key = url + path
        head = self.heads.get(key)
        if head is None:
            netloc = urllib.parse.urlsplit(url).netloc
            head = f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n".encode("ascii")
            if len(self.heads) > 4096:  # replicas come and go (pod IPs): bounded, rebuilt when needed
                self.heads.clear()
            self.heads[key] = head
        return head

    async def post(self, url: str, path: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        """POST ``body`` to ``url + path``; raises ``TimeoutError`` past ``timeout`` seconds and
        ``Unreachable`` when the replica cannot be reached or fails before its answer."""
        extra = []
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} cannot be sent: line breaks or a colon in its name")
            extra.append(f"{name}: {value}\r\n")
        data = b"".join((self._head(url, path), "".join(extra).encode("utf-8", "surrogateescape"),
                         b"Content-Length: %d\r\n\r\n" % len(body), body))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pool = self._pool(url)
        pool.busy += 1
        conn: _Connection | None = None
        try:
            conn = pool.take()
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn = await pool.connect(loop)
            waiter: asyncio.Future[Answer] = loop.create_future()
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                conn.send(data, waiter)
                answer = await waiter
            finally:
                timer.cancel()
        except BaseException:
            if conn is not None:  # the exchange did not complete: the connection is out of step
                conn.waiter = None
                conn.close()
            raise
        else:
            pool.release(conn)
        finally:
            pool.busy -= 1
            pool.forget_if_unused()
        return answer

    def close(self) -> None:
        for pool in list(self.pools.values()):
            for conn in list(pool.idle):
                conn.close()
        self.pools.clear()
