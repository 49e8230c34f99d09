"""The runtime's HTTP API, served by aiohttp's TestServer inside the test process.

Real: the aiohttp app, a real socket and client, the Host and Invoker, the handlers of
``handlers/lambda_handlers.py`` loaded through ``POST /load`` (pool mode). The environment is a
dict and ``process_state`` undoes the cwd/sys.path/module changes of a load; the function's log
is a StringIO.
Asserted: statuses, bodies and headers of every path of the contract.
"""

from __future__ import annotations

import asyncio
import io
import json
import pathlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import test_utils

from kfn_runtime import hosting, server

from .inprocess import HostedRuntime
from .processes import HANDLERS_DIR, HANDLERS_MODULE

pytestmark = pytest.mark.usefixtures("process_state")
INVOKE = server.INVOKE_PATH


class Runtime(HostedRuntime):
    """A pool-mode runtime in process, loading the test handlers of ``handlers/``."""

    def __init__(self, client: test_utils.TestClient[Any, Any], host: hosting.Host, out: io.StringIO,
                 environ: dict[str, str]) -> None:
        super().__init__(client, host, out)
        self.environ = environ

    async def load(self, handler: str | None = None, **fields: Any) -> tuple[int, Any]:  # type: ignore[override]
        body = {"name": "hello", "handler": f"{HANDLERS_MODULE}.{handler}", "codeDir": str(HANDLERS_DIR),
                "timeoutSeconds": 1, **fields}
        async with self.client.post("/load", json=body) as response:
            return response.status, await response.json()


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    out, environ = io.StringIO(), {"HOME": "/home/fn"}  # the environment, as os.environ would be
    host = hosting.Host(environ=environ, out=out)
    async with test_utils.TestClient(test_utils.TestServer(server.build_app(host))) as client:
        yield Runtime(client, host, out, environ)
    await host.close()


async def test_a_pool_worker_is_idle_until_loaded_then_serves(runtime: Runtime) -> None:
    assert await runtime.health() == (503, {"status": "idle"})
    status, _, body = await runtime.invoke({})
    assert (status, body) == (503, {"errorType": "ServiceException", "errorMessage": "no function loaded"})

    status, body = await runtime.load("echo", namespace="media", env={"BUCKET": "b"})
    assert status == 200 and body["initDurationMs"] > 0
    status, health = await runtime.health()
    assert (status, health["status"], health["function"], health["inFlight"]) == (200, "ready", "media/hello", 0)
    assert health["initDurationMs"] == body["initDurationMs"]

    status, headers, result = await runtime.invoke({"a": 1}, headers={"X-Kfn-Request-Id": "rid-1"})
    assert (status, result) == (200, {"event": {"a": 1}})
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Kfn-Request-Id"] == "rid-1"
    assert float(headers["X-Kfn-Duration-Ms"]) > 0
    assert "X-Amz-Function-Error" not in headers
    assert ("START RequestId: rid-1 Version: $LATEST\nEND RequestId: rid-1\nREPORT RequestId: rid-1\t"
            in runtime.out.getvalue())


async def test_load_sets_the_functions_environment(runtime: Runtime) -> None:
    await runtime.load("environment", env={"BUCKET": "b"}, region="eu-west-1")
    assert (runtime.environ["HOME"], runtime.environ["BUCKET"], runtime.environ["AWS_REGION"]) == (
        "/home/fn", "b", "eu-west-1")


async def test_an_async_handler_and_a_generated_request_id(runtime: Runtime) -> None:
    await runtime.load("async_echo")
    status, headers, result = await runtime.invoke([1])
    assert (status, result) == (200, {"async": True, "event": [1]})
    assert uuid.UUID(headers["X-Kfn-Request-Id"]).version == 4


async def test_the_context_reaches_the_handler(runtime: Runtime) -> None:
    await runtime.load("describe", timeoutSeconds=5, memoryMiB=256)
    _, _, ctx = await runtime.invoke({}, headers={"X-Kfn-Request-Id": "rid-ctx"})
    assert ctx["aws_request_id"] == "rid-ctx"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert (ctx["function_name"], ctx["function_version"], ctx["memory_limit_in_mb"]) == ("hello", "$LATEST", 256)
    first, second = ctx["remaining"]
    assert 4800 < first <= 5000 and second <= first - 50


async def test_an_empty_body_is_an_empty_event_and_a_bad_one_is_refused(runtime: Runtime) -> None:
    await runtime.load("echo")
    assert (await runtime.invoke(data=b""))[2] == {"event": {}}
    assert (await runtime.invoke(data=b"null"))[2] == {"event": None}
    status, _, body = await runtime.invoke(data=b"{not json")
    assert status == 400 and body["errorType"] == "InvalidRequestContentException"
    assert body["errorMessage"].startswith("Could not parse request body into json: Expecting property name")


async def test_a_handler_exception_is_a_200_marked_unhandled(runtime: Runtime) -> None:
    await runtime.load("fail")
    status, headers, error = await runtime.invoke({}, headers={"X-Kfn-Request-Id": "rid-e"})
    assert status == 200 and headers["X-Amz-Function-Error"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("ValueError", "bad thing", "rid-e")
    assert error["stackTrace"][0].startswith(f'  File "{HANDLERS_DIR}/lambda_handlers.py", line ')
    assert "[ERROR] ValueError: bad thing\nTraceback (most recent call last):\n" in runtime.out.getvalue()


async def test_a_marshal_error(runtime: Runtime) -> None:
    await runtime.load("unmarshallable")
    _, headers, error = await runtime.invoke({})
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"


async def test_a_timeout_is_marked_and_the_next_invocation_works(runtime: Runtime) -> None:
    await runtime.load("sleep")
    status, headers, error = await runtime.invoke({"seconds": 1.3}, headers={"X-Kfn-Request-Id": "rid-t"})
    assert status == 200
    assert (headers["X-Amz-Function-Error"], headers["X-Kfn-Timeout"]) == ("Unhandled", "1")
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": "RequestId: rid-t Error: Task timed out after 1.00 seconds"}
    assert (await runtime.invoke({"seconds": 0}))[:3:2] == (200, "slept")


async def test_invocations_past_the_concurrency_are_throttled(runtime: Runtime) -> None:
    await runtime.load("sleep", concurrency=1)
    slow = asyncio.create_task(runtime.invoke({"seconds": 0.5}))
    while runtime.host.invoker is None or runtime.host.invoker.in_flight == 0:
        await asyncio.sleep(0.01)
    status, headers, body = await runtime.invoke({"seconds": 0})
    assert (status, body) == (429, {"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded."})
    assert "X-Kfn-Request-Id" in headers
    assert (await slow)[2] == "slept"


async def test_a_body_over_the_limit_is_refused_with_413(runtime: Runtime) -> None:
    await runtime.load("echo")
    status, _, body = await runtime.invoke(data=io.BytesIO(b'"' + b"x" * (7 * 1024 * 1024) + b'"'))
    assert (status, body["errorType"]) == (413, "RequestEntityTooLargeException")
    status, _, result = await runtime.invoke(data=io.BytesIO(b'"' + b"x" * (6 * 1024 * 1024 - 2) + b'"'))
    assert status == 200 and len(result["event"]) == 6 * 1024 * 1024 - 2


async def test_load_once_only(runtime: Runtime) -> None:
    assert (await runtime.load("echo"))[0] == 200
    status, body = await runtime.load("echo")
    assert (status, body) == (409, {"errorType": "ResourceConflictException",
                                    "errorMessage": "default/hello is loaded"})


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": None}, "name: must be a string"),
    ({"timeoutSeconds": 0}, "timeoutSeconds: must be between 1 and 900 (got 0)"),
    ({"concurrency": "4"}, "concurrency: must be an integer"),
    ({"env": {"A": 1}}, "env.A: must be a string"),
])
async def test_load_with_bad_fields_names_the_field(runtime: Runtime, fields: dict[str, Any], message: str) -> None:
    status, body = await runtime.load("echo", **fields)
    assert (status, body) == (400, {"errorType": "InvalidRequestContentException", "errorMessage": message})
    assert await runtime.health() == (503, {"status": "idle"})  # a refused load leaves the worker usable


async def test_load_with_a_missing_field_or_bad_json(runtime: Runtime) -> None:
    async with runtime.client.post("/load", json={"name": "hello", "codeDir": "/x"}) as response:
        assert (response.status, await response.json()) == (
            400, {"errorType": "InvalidRequestContentException", "errorMessage": "handler: required"})
    async with runtime.client.post("/load", data=b"{") as response:
        assert response.status == 400


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("kfn_absent_module.handler", "Runtime.ImportModuleError",
     "Unable to import module 'kfn_absent_module': No module named 'kfn_absent_module'"),
    (f"{HANDLERS_MODULE}.nope", "Runtime.HandlerNotFound", f"Handler 'nope' missing on module '{HANDLERS_MODULE}'"),
    ("raises_on_import.handler", "Runtime.ImportModuleError",
     "Unable to import module 'raises_on_import': BUCKET is not set"),
    ("handler", "Runtime.MalformedHandlerName",
     "Bad handler 'handler': not enough values to unpack (expected 2, got 1)"),
])
async def test_init_errors_on_load_healthz_and_every_invoke(
        runtime: Runtime, tmp_path: pathlib.Path, handler: str, error_type: str, message: str) -> None:
    (tmp_path / f"{HANDLERS_MODULE}.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('BUCKET is not set')\n")
    async with runtime.client.post("/load", json={"name": "hello", "handler": handler,
                                                  "codeDir": str(tmp_path)}) as response:
        status, error = response.status, await response.json()
    assert status == 502
    assert (list(error), error["errorType"], error["errorMessage"]) == (
        ["errorMessage", "errorType", "stackTrace"], error_type, message)

    status, health = await runtime.health()
    assert health == {"status": "initError", "errorMessage": message, "errorType": error_type,
                      "stackTrace": error["stackTrace"]}
    assert status == 503

    for rid in ("rid-1", "rid-2"):
        status, headers, body = await runtime.invoke({}, headers={"X-Kfn-Request-Id": rid})
        assert status == 200
        assert (headers["X-Amz-Function-Error"], headers["X-Kfn-Init-Error"]) == ("Unhandled", "1")
        assert (body["errorType"], body["errorMessage"], body["requestId"]) == (error_type, message, rid)
    assert (await runtime.load("echo"))[0] == 409
    assert f"[ERROR] {error_type}: {message}" in runtime.out.getvalue()


async def test_stuck_invocations_make_the_host_unhealthy(runtime: Runtime) -> None:
    await runtime.load("stubborn", concurrency=1)
    await runtime.invoke({"seconds": 2.5})
    assert (await runtime.health())[0] == 200  # one stuck thread: the pool still has room for it
    await runtime.invoke({"seconds": 2.5})
    assert await runtime.health() == (503, {"status": "unhealthy", "reason": "stuck invocations"})
    while runtime.host.stuck:
        await asyncio.sleep(0.05)
    assert (await runtime.health())[0] == 200


async def test_draining_refuses_new_invocations(runtime: Runtime) -> None:
    await runtime.load("echo")
    await runtime.host.drain()
    assert await runtime.health() == (503, {"status": "draining"})
    status, _, body = await runtime.invoke({})
    assert (status, body["errorType"]) == (503, "ServiceException")


async def test_metrics(runtime: Runtime) -> None:
    await runtime.load("fail")
    await runtime.invoke({})
    async with runtime.client.get("/metrics") as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert samples['kfn_runtime_invocations_total{outcome="error"}'] == "1"
    assert samples['kfn_runtime_invocations_total{outcome="success"}'] == "0"
    assert samples["kfn_runtime_in_flight"] == "0"
    assert samples["kfn_runtime_duration_seconds_count"] == "1"
    assert float(samples["kfn_runtime_duration_seconds_sum"]) > 0
    assert int(samples["kfn_runtime_max_memory_bytes"]) > 10 * 1024 * 1024
