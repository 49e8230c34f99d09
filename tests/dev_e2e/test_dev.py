"""``kfn dev`` end to end: a real gateway subprocess with real runtime worker processes.

Nothing is faked: requests go over HTTP to the port ``kfn dev`` printed, and the handlers in
``functions/code`` run in the worker processes it starts. Asserted: the Lambda Function URL
contract (event, response mapping, errors and their status codes), scale from zero, scale-up,
throttling, scale to zero, and a worker killed mid-request.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time

import aiohttp
import pytest

from tests.dev_e2e.conftest import DevServer

pytestmark = pytest.mark.e2e


async def call(dev: DevServer, path: str, body: object = None, method: str = "POST",
               headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as session:
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        if data is None and body is not None:
            headers = {"Content-Type": "application/json", **(headers or {})}
        if payload is not None and len(payload) > 1024 * 1024:
            payload = io.BytesIO(payload)
        async with session.request(method, dev.url + path, data=payload, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=60)) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def metrics(dev: DevServer) -> str:
    status, _, body = await call(dev, "/metrics", method="GET")
    assert status == 200
    return body.decode()


async def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_cold_start_then_warm_with_function_url_event(dev):
    status, headers, body = await call(dev, "/fn/default/hello/some/path?a=1&a=2", {"name": "kfn"})
    assert status == 200, body
    first = json.loads(body)
    assert first["rawPath"] == "/fn/default/hello/some/path"
    assert first["query"] == {"a": "1,2"}
    assert json.loads(first["body"]) == {"name": "kfn"} and first["isBase64Encoded"] is False
    assert first["function"] == "hello" and first["memory"] == 128
    assert 0 < first["remainingMs"] <= 3000
    assert headers["x-amzn-RequestId"] == first["requestId"]
    status, _, body = await call(dev, "/fn/default/hello", method="GET")
    second = json.loads(body)
    assert status == 200 and second["pid"] == first["pid"]  # warm: the same replica
    assert second["requestId"] != first["requestId"]
    text = await metrics(dev)
    assert metric(text, "kfn_function_cold_starts_total", function="hello") == 1
    assert metric(text, "kfn_function_invocations_total", function="hello", outcome="success") >= 2
    assert f"START RequestId: {first['requestId']} Version: $LATEST" in dev.log()
    assert f"REPORT RequestId: {first['requestId']}\tDuration:" in dev.log()


async def test_non_ascii_text_reaches_the_handler_intact(dev):
    text = {"name": "Zoë ☃ 日本 \U0001F600", "quote": "\"\\\n\t"}
    status, _, body = await call(dev, "/fn/default/hello/caf%C3%A9?q=%E2%98%83", text)
    assert status == 200, body
    got = json.loads(body)
    assert json.loads(got["body"]) == text and got["isBase64Encoded"] is False
    assert got["rawPath"] == "/fn/default/hello/caf%C3%A9" and got["query"] == {"q": "☃"}


async def test_binary_body_and_trigger_route(dev):
    status, _, body = await call(dev, "/greet", data=b"\x00\xff\x10", headers={"Content-Type": "image/png"})
    assert status == 200
    got = json.loads(body)
    assert got["isBase64Encoded"] is True and got["body"] == "AP8Q"
    assert got["rawPath"] == "/greet"
    status, headers, body = await call(dev, "/greet", method="GET")
    assert status == 405 and json.loads(body)["errorType"] == "MethodNotAllowedException"
    assert headers["Allow"] == "POST"


async def test_structured_response_from_async_handler(dev):
    status, headers, body = await call(dev, "/fn/default/asyncy", {})
    assert status == 201 and body == b"made"
    assert headers["X-Color"] == "blue"
    assert headers["Set-Cookie"] == "flavour=async"


async def test_unknown_function_and_path_are_404(dev):
    for path in ("/fn/default/nope", "/fn/Bad_Name/x", "/nowhere"):
        status, _, body = await call(dev, path, {})
        assert status == 404, path
        assert json.loads(body)["errorType"] == "ResourceNotFoundException"
    text = await metrics(dev)
    assert 'function="nope"' not in text and "Bad_Name" not in text


async def test_body_over_6_mb_is_413(dev):
    status, _, body = await call(dev, "/fn/default/hello", data=b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413
    assert json.loads(body)["errorType"] == "RequestTooLargeException"


async def test_handler_error_is_502_with_error_type(dev):
    status, _, body = await call(dev, "/fn/default/boom", {})
    assert status == 502
    assert json.loads(body) == {"errorType": "ValueError", "errorMessage": "the handler failed on purpose"}
    assert "[ERROR] ValueError: the handler failed on purpose" in dev.log()
    text = await metrics(dev)
    assert metric(text, "kfn_function_errors_total", function="boom", error_type="Unhandled") == 1


async def test_init_error_is_reported_not_hung(dev):
    began = time.monotonic()
    status, _, body = await call(dev, "/fn/default/broken", {})
    assert status == 502
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in error["errorMessage"]
    assert time.monotonic() - began < 10
    status, _, body = await call(dev, "/fn/default/broken", {})  # tried again, same clear answer
    assert status == 502 and json.loads(body)["errorType"] == "Runtime.ImportModuleError"


async def test_timeout_is_504_and_next_call_succeeds(dev):
    status, _, body = await call(dev, "/fn/default/sleepy", {"seconds": 3})
    assert status == 504
    error = json.loads(body)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    status, _, body = await call(dev, "/fn/default/sleepy", {"seconds": 0})
    assert status == 200 and json.loads(body)["slept"] == 0


async def test_throttle_beyond_concurrency_max(dev):
    slow = asyncio.ensure_future(call(dev, "/fn/default/single", {"seconds": 1.5}))
    async def in_flight():
        return metric(await metrics(dev), "kfn_function_concurrent_executions", function="single") == 1
    await wait_for(in_flight, 20)
    status, headers, body = await call(dev, "/fn/default/single", {"seconds": 0})
    assert status == 429
    assert json.loads(body)["errorType"] == "TooManyRequestsException"
    assert (await slow)[0] == 200
    assert metric(await metrics(dev), "kfn_function_throttles_total", function="single") == 1
    assert (await call(dev, "/fn/default/single", {"seconds": 0}))[0] == 200


async def test_scale_up_under_load_then_to_zero(dev):
    results = await asyncio.gather(*(call(dev, "/fn/default/wide", {"seconds": 4.0}) for _ in range(3)))
    assert all(status == 200 for status, _, _ in results)
    pids = {json.loads(body)["pid"] for _, _, body in results}
    assert len(pids) == 3, "perReplica 1 and 3 concurrent requests must run on 3 replicas"
    text = await metrics(dev)
    assert metric(text, "kfn_function_cold_starts_total", function="wide") == 3

    async def at_zero():
        return metric(await metrics(dev), "kfn_function_replicas_ready", function="wide") == 0
    await wait_for(at_zero, 15)
    await wait_for(lambda: asyncio.sleep(0, result=not any(alive(p) for p in pids)), 10)


async def test_idle_function_scales_to_zero_and_back(dev):
    status, _, body = await call(dev, "/fn/default/idle", {})
    assert status == 200
    pid = json.loads(body)["pid"]

    async def at_zero():
        return metric(await metrics(dev), "kfn_function_replicas_ready", function="idle") == 0
    await wait_for(at_zero, 10)
    await wait_for(lambda: asyncio.sleep(0, result=not alive(pid)), 10)
    status, _, body = await call(dev, "/fn/default/idle", {})
    assert status == 200 and json.loads(body)["pid"] != pid
    assert metric(await metrics(dev), "kfn_function_cold_starts_total", function="idle") == 2


async def test_worker_killed_mid_request_gets_a_clear_error(dev):
    status, _, body = await call(dev, "/fn/default/victim", {"seconds": 0})
    assert status == 200
    pid = json.loads(body)["pid"]
    slow = asyncio.ensure_future(call(dev, "/fn/default/victim", {"seconds": 20}))

    async def running():
        return metric(await metrics(dev), "kfn_function_concurrent_executions", function="victim") == 1
    await wait_for(running, 10)
    await asyncio.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    status, _, body = await asyncio.wait_for(slow, 10)
    assert status == 502
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in error["errorMessage"]
    status, _, body = await call(dev, "/fn/default/victim", {"seconds": 0})
    assert status == 200 and json.loads(body)["pid"] != pid


async def test_a_function_over_its_memory_is_killed_as_lambda_would(dev):
    status, _, body = await call(dev, "/fn/default/hungry", {"mib": 16})
    assert status == 200 and json.loads(body) == {"mib": 16, "limit": 128}, body
    status, _, body = await call(dev, "/fn/default/hungry", {"mib": 300, "hold": 2})
    error = json.loads(body)
    assert status == 502 and error["errorType"] == "Runtime.ExitError", body
    assert "Runtime exited with error: signal: killed" in error["errorMessage"]
    assert "more than its memoryMiB (128): killed" in dev.log()
    status, _, body = await call(dev, "/fn/default/hungry", {"mib": 16})  # a fresh replica serves again
    assert status == 200, body


async def test_healthz(dev):
    status, _, body = await call(dev, "/healthz", method="GET")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = await call(dev, "/readyz", method="GET")  # kfn dev listens once it can serve
    assert status == 200 and json.loads(body)["status"] == "ready"
