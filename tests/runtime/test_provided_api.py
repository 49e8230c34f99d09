"""The Lambda Runtime API endpoint on its own, driven by a plain HTTP client playing the runtime.

Real: the endpoint on a loopback port and aiohttp's client; the host side is the ``Exchange``,
called directly. Asserted: the documented statuses and headers, the first poll ending init,
``/init/error`` (before and after init), error bodies of any shape, answers to unknown or
answered invocations, an oversized response, and that an event never goes to a poll whose
connection has closed.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kfn_runtime import errors, runtime_api

API = "/2018-06-01/runtime"


def event(request_id: str, payload: bytes = b'{"a": 1}') -> runtime_api.Event:
    return runtime_api.Event(request_id=request_id, payload=payload, deadline_ms=1_700_000_000_000,
                             function_arn="arn:aws:lambda:us-east-1:000000000000:function:f", trace_id="Root=1-x",
                             client_context='{"c": 1}')


class Runtime:
    """The runtime's side: an HTTP client of the endpoint."""

    def __init__(self, exchange: runtime_api.Exchange, endpoint: runtime_api.Endpoint,
                 http: aiohttp.ClientSession) -> None:
        self.exchange, self.http = exchange, http
        self.base = f"http://{endpoint.address}{API}"

    async def next(self) -> tuple[int, dict[str, str], bytes]:
        async with self.http.get(self.base + "/invocation/next") as response:
            return response.status, dict(response.headers), await response.read()

    async def post(self, path: str, data: object, headers: dict[str, str] | None = None) -> tuple[int, object]:
        async with self.http.post(self.base + path, data=data, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    exchange = runtime_api.Exchange()
    endpoint = await runtime_api.open_endpoint(exchange)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield Runtime(exchange, endpoint, http)
    exchange.close()
    await endpoint.close()


async def test_next_hands_out_the_event_and_a_response_answers_it(runtime: Runtime) -> None:
    assert not runtime.exchange.initialised.done()
    poll = asyncio.create_task(runtime.next())
    while not runtime.exchange.polling:
        await asyncio.sleep(0.01)
    assert runtime.exchange.initialised.result() is None  # the first poll ends init
    reply = runtime.exchange.submit(event("rid-1"))
    status, headers, body = await poll
    assert (status, body) == (200, b'{"a": 1}')
    assert {k: v for k, v in headers.items() if k.startswith("Lambda-Runtime-")} == {
        "Lambda-Runtime-Aws-Request-Id": "rid-1", "Lambda-Runtime-Deadline-Ms": "1700000000000",
        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "Lambda-Runtime-Trace-Id": "Root=1-x", "Lambda-Runtime-Client-Context": '{"c": 1}'}
    assert runtime.exchange.delivered("rid-1")
    assert await runtime.post("/invocation/rid-1/response", b'"done"') == (202, {"status": "OK"})
    assert reply.result() == runtime_api.Reply(b'"done"')
    assert await runtime.post("/invocation/rid-1/response", b'"again"') == (
        400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
    assert (await runtime.post("/invocation/nobody/error", b"{}"))[0] == 400


@pytest.mark.parametrize(("body", "header", "expected"), [
    (b'{"errorMessage": "m", "errorType": "T", "stackTrace": ["s"]}', "H",
     {"errorMessage": "m", "errorType": "T", "stackTrace": ["s"]}),
    (b'{"errorMessage": "m"}', "Header.Type", {"errorMessage": "m", "errorType": "Header.Type"}),
    (b"plain text", None, {"errorMessage": "plain text", "errorType": "Runtime.Unknown"}),
    (b"", "Empty", {"errorMessage": "", "errorType": "Empty"}),
])
async def test_an_error_of_any_shape_becomes_an_error_object(runtime: Runtime, body: bytes, header: str | None,
                                                             expected: dict[str, object]) -> None:
    reply = runtime.exchange.submit(event("rid-e"))
    await runtime.next()
    headers = {} if header is None else {"Lambda-Runtime-Function-Error-Type": header}
    assert (await runtime.post("/invocation/rid-e/error", body, headers))[0] == 202
    assert reply.result().error_type == expected["errorType"]
    assert json.loads(reply.result().body) == expected


async def test_an_init_error_before_the_first_poll_and_not_after(runtime: Runtime) -> None:
    error = {"errorMessage": "cannot", "errorType": "Runtime.ImportModuleError", "stackTrace": ["x"]}
    assert (await runtime.post("/init/error", json.dumps(error).encode()))[0] == 202
    reported = runtime.exchange.initialised.result()
    assert isinstance(reported, errors.InitError)
    assert reported.to_object() == error
    assert (await runtime.post("/init/error", b"{}"))[0] == 403


async def test_an_oversized_response_fails_the_invocation(runtime: Runtime) -> None:
    reply = runtime.exchange.submit(event("rid-big"))
    await runtime.next()
    body = io.BytesIO(b'"' + b"x" * runtime_api.MAX_PAYLOAD_BYTES + b'"')
    status, answer = await runtime.post("/invocation/rid-big/response", body)
    assert status == 413 and answer["errorType"] == "RequestEntityTooLarge"  # type: ignore[index]
    assert reply.result().error_type == "Function.ResponseSizeTooLarge"


async def test_an_event_never_goes_to_a_poll_that_disconnected(runtime: Runtime) -> None:
    async with aiohttp.ClientSession() as gone:
        abandoned = asyncio.create_task(gone.get(runtime.base + "/invocation/next"))
        while not runtime.exchange.polling:
            await asyncio.sleep(0.01)
        abandoned.cancel()  # the runtime went away while polling
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    while runtime.exchange.polling:
        await asyncio.sleep(0.01)
    runtime.exchange.submit(event("rid-q"))
    status, headers, _ = await runtime.next()  # its successor
    assert (status, headers["Lambda-Runtime-Aws-Request-Id"]) == (200, "rid-q")


async def test_a_withdrawn_event_is_not_handed_out(runtime: Runtime) -> None:
    runtime.exchange.submit(event("rid-old"))
    runtime.exchange.withdraw("rid-old")
    runtime.exchange.submit(event("rid-new"))
    assert (await runtime.next())[1]["Lambda-Runtime-Aws-Request-Id"] == "rid-new"


async def test_closing_ends_open_polls(runtime: Runtime) -> None:
    poll = asyncio.create_task(runtime.next())
    while not runtime.exchange.polling:
        await asyncio.sleep(0.01)
    runtime.exchange.close()
    assert (await poll)[0] == 410
    assert (await runtime.next())[0] == 410


async def test_an_answer_before_the_event_went_out_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    reply = runtime.exchange.submit(event("rid-early"))
    assert (await runtime.post("/invocation/rid-early/response", b'"guess"'))[0] == 400
    assert not reply.done()
    await runtime.next()
    assert (await runtime.post("/invocation/rid-early/response", b'"real"'))[0] == 202
    assert reply.result().body == b'"real"'
