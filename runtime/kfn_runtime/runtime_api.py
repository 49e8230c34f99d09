"""The AWS Lambda Runtime API, served to one bootstrap process on a loopback port of its own.

- ``GET /2018-06-01/runtime/invocation/next``: a long poll answered with the next event and
  Lambda's ``Lambda-Runtime-*`` headers. The first one ends the runtime's init.
- ``POST /2018-06-01/runtime/invocation/{id}/response``: the result (202).
- ``POST /2018-06-01/runtime/invocation/{id}/error``: an error object (202).
- ``POST /2018-06-01/runtime/init/error``: the runtime could not initialise (202); it then exits.

Each bootstrap process gets a fresh ``Exchange`` on a fresh port, so nothing a dead process sent
(a late poll, an answer to an invocation already answered) reaches its successor.
An event is handed to a poll only while the poll's connection is open: a runtime that died
while polling would otherwise take the event with it, so the event goes back to the queue.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kfn_runtime import errors

__all__ = ["Event", "Reply", "Exchange", "Endpoint", "open_endpoint", "MAX_PAYLOAD_BYTES"]

PREFIX = "/2018-06-01/runtime"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 64 * 1024
"""A response up to Lambda's 6 MiB; larger ones fail the invocation with ``Function.ResponseSizeTooLarge``."""
_MAX_HEADER_BYTES = 1024 * 1024 + 1024
"""awslambdaric sends an X-Ray error cause of up to 1 MiB as a header with each error."""
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_SHUTDOWN_SECONDS = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    request_id: str
    payload: bytes
    deadline_ms: int
    """Wall-clock deadline, milliseconds since the epoch (``Lambda-Runtime-Deadline-Ms``)."""
    function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Lambda-Runtime-Aws-Request-Id": self.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
                   "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
                   "Lambda-Runtime-Trace-Id": self.trace_id,
                   "Content-Type": "application/json"}
        if self.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        if self.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    """The result as the runtime sent it, or Lambda's error object."""
    error_type: str | None = None
    """None for a result; the error's type otherwise."""


class Exchange:
    """Hands invocations to one bootstrap's polls and collects what it answers."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.initialised: asyncio.Future[errors.InitError | None] = loop.create_future()
        """None at the first poll; the error when the runtime reports ``/init/error`` first."""
        self._events: collections.deque[Event] = collections.deque()
        self._polls: collections.deque[asyncio.Future[Event | None]] = collections.deque()
        self._replies: dict[str, asyncio.Future[Reply]] = {}
        self._delivered: set[str] = set()
        self._closed = False

    @property
    def polling(self) -> int:
        """Polls waiting for an event."""
        return sum(not poll.done() for poll in self._polls)

    def submit(self, event: Event) -> asyncio.Future[Reply]:
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[event.request_id] = reply
        self._hand_over(event, first=False)
        return reply

    def delivered(self, request_id: str) -> bool:
        """Whether the event went out to the runtime (then a crash may have taken it along)."""
        return request_id in self._delivered

    def withdraw(self, request_id: str) -> None:
        """Forget an invocation that was answered otherwise (timeout, crash)."""
        self._replies.pop(request_id, None)
        self._delivered.discard(request_id)
        self._events = collections.deque(e for e in self._events if e.request_id != request_id)

    def close(self) -> None:
        """The runtime is gone: open polls end empty-handed, as any later one does."""
        self._closed = True
        for poll in self._polls:
            if not poll.done():
                poll.set_result(None)
        self._polls.clear()
        if not self.initialised.done():
            self.initialised.cancel()

    async def next(self, alive: Callable[[], bool]) -> Event | None:
        """The next event for a poll; None when ``alive()`` says its connection has closed."""
        if not self.initialised.done():
            self.initialised.set_result(None)
        while not self._closed:
            if self._events:
                event: Event | None = self._events.popleft()
            else:
                poll: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
                self._polls.append(poll)
                try:
                    event = await poll
                except asyncio.CancelledError:
                    if poll.done() and not poll.cancelled():
                        taken = poll.result()
                        if taken is not None:
                            self._hand_over(taken, first=True)  # taken just as the poll was dropped
                    else:
                        poll.cancel()
                        with contextlib.suppress(ValueError):
                            self._polls.remove(poll)
                    raise
            if event is None:
                return None
            if event.request_id not in self._replies:
                continue  # withdrawn while queued
            if not alive():
                self._hand_over(event, first=True)
                return None
            self._delivered.add(event.request_id)
            return event
        return None

    def returned(self, event: Event) -> None:
        """The event could not be written to the poll's connection: queue it again, first."""
        self._delivered.discard(event.request_id)
        if event.request_id in self._replies:
            self._hand_over(event, first=True)

    def answer(self, request_id: str, reply: Reply) -> bool:
        """Settle an invocation the runtime holds; False for any other request id."""
        if request_id not in self._delivered:
            return False
        self._delivered.discard(request_id)
        future = self._replies.pop(request_id)
        if future.done():
            return False
        future.set_result(reply)
        return True

    def init_failed(self, error: errors.InitError) -> bool:
        if self.initialised.done():
            return False
        self.initialised.set_result(error)
        return True

    def _hand_over(self, event: Event, *, first: bool) -> None:
        while self._polls:
            poll = self._polls.popleft()
            if not poll.done():
                poll.set_result(event)
                return
        if first:
            self._events.appendleft(event)
        else:
            self._events.append(event)


_EXCHANGE = web.AppKey("exchange", Exchange)


def build_app(exchange: Exchange) -> web.Application:
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
    app[_EXCHANGE] = exchange
    app.router.add_get(PREFIX + "/invocation/next", _next)
    app.router.add_post(PREFIX + "/invocation/{id}/response", _response)
    app.router.add_post(PREFIX + "/invocation/{id}/error", _error)
    app.router.add_post(PREFIX + "/init/error", _init_error)
    return app


class Endpoint:
    """An ``Exchange`` served on ``127.0.0.1``, on a port of its own."""

    def __init__(self, runner: web.AppRunner) -> None:
        self._runner = runner
        port = runner.addresses[0][1]
        self.address = f"127.0.0.1:{port}"
        """What ``AWS_LAMBDA_RUNTIME_API`` says."""

    async def close(self) -> None:
        await self._runner.cleanup()


async def open_endpoint(exchange: Exchange) -> Endpoint:
    # handler_cancellation: a poll whose runtime disconnects is cancelled, and its event requeued.
    runner = web.AppRunner(build_app(exchange), access_log=None, handle_signals=False, handler_cancellation=True,
                           max_field_size=_MAX_HEADER_BYTES, max_line_size=_MAX_HEADER_BYTES,
                           shutdown_timeout=_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
    except BaseException:
        await runner.cleanup()
        raise
    return Endpoint(runner)


async def _next(request: web.Request) -> web.StreamResponse:
    exchange = request.app[_EXCHANGE]
    event = await exchange.next(lambda: _connected(request))
    if event is None:
        return web.Response(status=410)  # nobody reads it: the connection is gone
    response = web.Response(body=event.payload, headers=event.headers())
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionResetError:
        exchange.returned(event)  # aiohttp then drops the connection quietly
    return response


async def _response(request: web.Request) -> web.Response:
    exchange = request.app[_EXCHANGE]
    request_id = request.match_info["id"]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        exchange.answer(request_id, Reply(json.dumps({
            "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                            f"({MAX_PAYLOAD_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}).encode(), "Function.ResponseSizeTooLarge"))
        return _status(413, "RequestEntityTooLarge",
                       f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).")
    if not exchange.answer(request_id, Reply(body)):
        return _invalid_id()
    return _accepted()


async def _error(request: web.Request) -> web.Response:
    exchange = request.app[_EXCHANGE]
    body = await request.read()
    error = _error_object(body, request.headers.get(_ERROR_TYPE))
    if not exchange.answer(request.match_info["id"], Reply(json.dumps(error).encode(), error["errorType"])):
        return _invalid_id()
    return _accepted()


async def _init_error(request: web.Request) -> web.Response:
    body = await request.read()
    error = _error_object(body, request.headers.get(_ERROR_TYPE))
    trace = error.get("stackTrace")
    reported = errors.InitError(str(error["errorType"]), str(error.get("errorMessage", "")),
                                [str(line) for line in trace] if isinstance(trace, list) else None)
    if not request.app[_EXCHANGE].init_failed(reported):
        return _status(403, "InvalidStateTransition", "the runtime has initialised already")
    return _accepted()


def _error_object(body: bytes, header_type: str | None) -> dict[str, Any]:
    """The error object the runtime posted; a body that is not one is kept as the message.

    The body's ``errorType`` wins over the header's, as the caller sees the body.
    """
    try:
        error = json.loads(body) if body else {}
    except ValueError:
        error = None
    if not isinstance(error, dict):
        error = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(error.get("errorType"), str) or not error["errorType"]:
        error["errorType"] = header_type or "Runtime.Unknown"
    if "errorMessage" not in error:
        error["errorMessage"] = ""
    return error


def _connected(request: web.Request) -> bool:
    """Whether the poll's client is still there: a peek finds the end of a closed connection
    before the event loop has noticed it."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return False
    sock = transport.get_extra_info("socket")
    if sock is None:
        return True
    try:
        with socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM) as peer:
            return peer.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True  # nothing to read: open and quiet, as a poll should be
    except OSError:
        return False


def _accepted() -> web.Response:
    return web.json_response({"status": "OK"}, status=202)


def _invalid_id() -> web.Response:
    return _status(400, "InvalidRequestID", "Invalid request ID")


def _status(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorMessage": message, "errorType": error_type}, status=status)
