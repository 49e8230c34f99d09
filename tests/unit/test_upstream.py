"""The gateway's lean HTTP/1.1 client to runtime replicas.

Real servers, no mocks: an aiohttp server for well-behaved answers (the runtime is one), and raw
asyncio servers that misbehave on purpose (never answer, close midway, send garbage, send too
much, chunked, ``Connection: close``, bytes nobody asked for). Asserted: answers are matched to
their requests under concurrency, connections are reused only when the previous exchange ended
cleanly, deadlines, errors and cancellation close the connection, and the pools stay bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from kfn_gateway import upstream
from tests import http_servers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server running ``handler`` per connection; yields its URL and a one-item connection counter."""
    count = [0]
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count[0] += 1
        writers.append(writer)
        with contextlib.suppress(ConnectionError):
            await handler(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", count
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line.encode(), headers, body


@contextlib.asynccontextmanager
async def runtime_like() -> AsyncIterator[str]:
    """An aiohttp server (what the runtime is) echoing the request id and body."""
    async def invoke(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), headers={
            "X-Request": request.headers.get("X-Kfn-Request-Id", ""), "Content-Type": "application/json"})

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/invoke", invoke)
    async with http_servers.serve(app) as url:
        yield url


async def test_answers_come_back_whole_and_connections_are_reused() -> None:
    ups = upstream.Upstreams()
    async with raw_server(echo_keepalive) as (url, count):
        for i in range(5):
            answer = await ups.post(url, "/invoke", b'{"n": %d}' % i, {"X-Kfn-Request-Id": f"r{i}"}, 5)
            assert answer.status == 200 and answer.body == b'{"n": %d}' % i
            assert answer.headers["x-request"] == f"r{i}" and answer.headers["X-REQUEST"] == f"r{i}"
        assert count[0] == 1  # one keep-alive connection served all five
    ups.close()


async def echo_keepalive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        line, headers, body = await read_request(reader)
        assert line.startswith(b"POST /invoke HTTP/1.1") and headers["content-type"] == "application/json"
        if headers.get("x-sleep"):
            await asyncio.sleep(float(headers["x-sleep"]))
        writer.write(b"HTTP/1.1 200 OK\r\nX-Request: %s\r\nContent-Length: %d\r\n\r\n%s"
                     % (headers.get("x-kfn-request-id", "").encode(), len(body), body))
        await writer.drain()


async def test_concurrent_requests_each_get_their_own_answer() -> None:
    ups = upstream.Upstreams()
    async with raw_server(echo_keepalive) as (url, count):
        async def one(i: int) -> None:
            answer = await ups.post(url, "/invoke", str(i).encode(), {"X-Kfn-Request-Id": str(i),
                                                                      "X-Sleep": str((i % 3) / 50)}, 5)
            assert (answer.body, answer.headers["X-Request"]) == (str(i).encode(), str(i))
        await asyncio.gather(*(one(i) for i in range(30)))
        assert count[0] <= 30 and len(ups.pools[url].idle) == count[0]
        before = count[0]
        await asyncio.gather(*(one(i) for i in range(before)))  # as many as are idle: no new connection
        assert count[0] == before
    ups.close()


async def test_against_an_aiohttp_server_like_the_runtime() -> None:
    ups = upstream.Upstreams()
    async with runtime_like() as url:
        big = b"x" * (3 * 1024 * 1024)
        answer = await ups.post(url, "/invoke", big, {"X-Kfn-Request-Id": "big"}, 10)
        assert answer.status == 200 and answer.body == big and answer.headers["X-Request"] == "big"
        answer = await ups.post(url, "/nothing", b"{}", {}, 5)
        assert answer.status == 404
        answer = await ups.post(url, "/invoke", b"{}", {}, 5)  # the 404 left the connection usable
        assert answer.status == 200 and len(ups.pools[url].idle) == 1
    ups.close()


async def test_chunked_answers_are_read_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    ups = upstream.Upstreams()
    async with raw_server(chunked) as (url, _):
        assert (await ups.post(url, "/invoke", b"{}", {}, 5)).body == b"hello world"
    ups.close()


async def test_connection_close_is_honoured() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    ups = upstream.Upstreams()
    async with raw_server(closing) as (url, count):
        for _ in range(3):
            assert (await ups.post(url, "/invoke", b"{}", {}, 5)).body == b"ok"
        assert count[0] == 3
        assert url not in ups.pools or not ups.pools[url].idle
    ups.close()


async def test_silence_past_the_deadline_is_a_timeout_and_the_connection_is_dropped() -> None:
    async def silent_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    ups = upstream.Upstreams()
    async with raw_server(silent_once) as (url, count):
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TimeoutError):
            await ups.post(url, "/invoke", b"{}", {}, 0.2)
        assert 0.2 <= loop.time() - began < 5
        with pytest.raises(TimeoutError):
            await ups.post(url, "/invoke", b"{}", {}, 0.1)
        assert count[0] == 2  # the first connection was not reused: its answer may still come
    ups.close()


@pytest.mark.parametrize("reply, problem", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", "closed the connection before answering"),
    (b"SMTP ready\r\n\r\n", "invalid HTTP"),
    (b"", "closed the connection before answering"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "invalid HTTP"),
])
async def test_broken_answers_are_unreachable_with_the_reason(reply: bytes, problem: str) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    ups = upstream.Upstreams()
    async with raw_server(broken) as (url, _):
        with pytest.raises(upstream.Unreachable, match=problem):
            await ups.post(url, "/invoke", b"{}", {}, 5)
        await asyncio.sleep(0.05)
        assert url not in ups.pools  # nothing kept for a replica that failed
    ups.close()


async def test_an_oversized_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "MAX_ANSWER_BYTES", 1000)

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()
        await reader.read()

    ups = upstream.Upstreams()
    async with raw_server(huge) as (url, _):
        with pytest.raises(upstream.Unreachable, match="exceeds 1000 bytes"):
            await ups.post(url, "/invoke", b"{}", {}, 5)
    ups.close()


async def test_endless_headers_are_refused() -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(5000):
            writer.write(b"X-Filler-%d: %s\r\n" % (i, b"y" * 100))
        writer.write(b"Content-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    ups = upstream.Upstreams()
    async with raw_server(flood) as (url, _):
        with pytest.raises(upstream.Unreachable, match="bytes of headers"):
            await ups.post(url, "/invoke", b"{}", {}, 5)
    ups.close()


async def test_nobody_listening_names_the_address() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    ups = upstream.Upstreams()
    with pytest.raises(upstream.Unreachable, match=f"cannot connect to 127.0.0.1:{port}"):
        await ups.post(f"http://127.0.0.1:{port}", "/invoke", b"{}", {}, 5)
    assert ups.pools == {}


@pytest.mark.parametrize("headers", [{"X-Trace": "a\r\nX-Injected: 1"}, {"X-Bad\nName": "v"}, {"X:Name": "v"}])
async def test_headers_that_would_split_the_request_are_refused_before_sending(headers: dict[str, str]) -> None:
    ups = upstream.Upstreams()
    async with raw_server(echo_keepalive) as (url, count):
        with pytest.raises(ValueError, match="cannot be sent"):
            await ups.post(url, "/invoke", b"{}", headers, 5)
        assert count[0] == 0
    ups.close()


@pytest.mark.parametrize("url", ["https://127.0.0.1:1", "unix:///tmp/x", "http://:80"])
async def test_urls_other_than_plain_http_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not http://host:port"):
        await upstream.Upstreams().post(url, "/invoke", b"{}", {}, 1)


async def test_a_cancelled_caller_leaves_no_connection_behind() -> None:
    ups = upstream.Upstreams()
    async with raw_server(echo_keepalive) as (url, count):
        task = asyncio.create_task(ups.post(url, "/invoke", b"{}", {"X-Sleep": "5"}, 10))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        assert url not in ups.pools
        assert (await ups.post(url, "/invoke", b"{}", {}, 5)).status == 200
        assert count[0] == 2
    ups.close()


async def test_unsolicited_bytes_and_old_idle_connections_are_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")  # an answer to nothing
        await writer.drain()
        await reader.read()

    ups = upstream.Upstreams()
    async with raw_server(chatty) as (url, count):
        assert (await ups.post(url, "/invoke", b"{}", {}, 5)).body == b"ok"
        await asyncio.sleep(0.2)
        assert (await ups.post(url, "/invoke", b"{}", {}, 5)).body == b"ok"  # not "stale"
        assert count[0] == 2
    async with raw_server(echo_keepalive) as (url, count):
        monkeypatch.setattr(upstream, "IDLE_SECONDS", 0.0)
        for _ in range(3):
            await ups.post(url, "/invoke", b"{}", {}, 5)
        assert count[0] == 3
    ups.close()


async def test_idle_connections_per_replica_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "MAX_IDLE", 4)
    ups = upstream.Upstreams()
    async with raw_server(echo_keepalive) as (url, _):
        await asyncio.gather(*(ups.post(url, "/invoke", b"{}", {"X-Sleep": "0.05"}, 5) for _ in range(12)))
        assert len(ups.pools[url].idle) == 4
    await asyncio.sleep(0.05)
    assert url not in ups.pools  # the server went away: its connections closed, the pool forgotten
    ups.close()
