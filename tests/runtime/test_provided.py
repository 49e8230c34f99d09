"""``runtime: provided``: the host serves the Lambda Runtime API to a real ``bootstrap`` child.

Real: the host's aiohttp app (in this process, pool mode), the Runtime API endpoint on its own
loopback port, and ``provided/tiny/bootstrap``, a custom runtime written with urllib whose
behaviour each event chooses (answer, fail, sleep, exit, print). Processes are killed with
real signals. The function's log is a StringIO.
Asserted: the event and its ``Lambda-Runtime-*`` headers, the bootstrap's environment, results
and errors, init errors (reported by the runtime, an exit before the first poll, a missing or
unrunnable bootstrap, a hang), the host's deadline (kill, restart), a crash mid-invocation,
a crash while polling (the event reaches the successor), one invocation at a time, 6 MB
payloads both ways, and START/END/REPORT lines.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import pathlib
import re
import shutil
import time

import pytest

from kfn_runtime import relaying

from .inprocess import TINY, HostedRuntime, alive, gone, kill


async def test_the_event_its_headers_and_the_bootstraps_environment(hosted: HostedRuntime) -> None:
    status, body = await hosted.load(TINY, "tiny.handler", namespace="media", memoryMiB=256, timeoutSeconds=7,
                                     env={"BUCKET": "uploads", "KFN_SECRET": "x"})
    assert status == 200 and body["initDurationMs"] > 0
    status, health = await hosted.health()
    assert (status, health["status"], health["function"]) == (200, "ready", "media/hello")

    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    before = time.time() * 1000
    status, headers, result = await hosted.invoke({"echo": "hi"}, headers={
        "X-Kfn-Request-Id": "rid-1", "X-Amz-Client-Context": context, "X-Amzn-Trace-Id": "Root=1-abc"})
    assert status == 200 and "X-Amz-Function-Error" not in headers
    assert result["echo"] == "hi"
    got = result["headers"]
    assert got["Lambda-Runtime-Aws-Request-Id"] == "rid-1"
    assert got["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:us-east-1:000000000000:function:media_hello"
    assert got["Lambda-Runtime-Trace-Id"] == "Root=1-abc"
    assert json.loads(got["Lambda-Runtime-Client-Context"]) == {"custom": {"k": "v"}}
    assert before + 6000 < int(got["Lambda-Runtime-Deadline-Ms"]) <= time.time() * 1000 + 7000

    names = ["AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME",
             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION",
             "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "BUCKET", "HOME", "KFN_SECRET"]
    _, _, env = await hosted.invoke({"env": names})
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env.pop("AWS_LAMBDA_RUNTIME_API"))
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env.pop("AWS_LAMBDA_LOG_STREAM_NAME"))
    assert env == {"_HANDLER": "tiny.handler", "LAMBDA_TASK_ROOT": str(TINY), "AWS_LAMBDA_FUNCTION_NAME": "hello",
                   "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                   "AWS_REGION": "us-east-1", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello", "BUCKET": "uploads",
                   "HOME": "/home/fn", "KFN_SECRET": "x", "cwd": str(TINY)}

    _, _, traced = await hosted.invoke({"echo": 2})
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0",
                        traced["headers"]["Lambda-Runtime-Trace-Id"])
    assert "Lambda-Runtime-Client-Context" not in traced["headers"]
    assert traced["pid"] == result["pid"]  # warm: one bootstrap serves them all

    lines = hosted.log().splitlines()
    assert lines[0:2] == ["START RequestId: rid-1 Version: $LATEST", "END RequestId: rid-1"]
    assert re.fullmatch(r"REPORT RequestId: rid-1\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms", lines[2])
    assert "Init Duration" not in lines[5]


async def test_an_invalid_client_context_is_refused(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    status, _, body = await hosted.invoke({}, headers={"X-Amz-Client-Context": "not base64!"})
    assert (status, body["errorType"]) == (400, "InvalidRequestContentException")


async def test_output_goes_to_the_log_before_the_end_line(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    await hosted.invoke({"print": "hello from the bootstrap"}, headers={"X-Kfn-Request-Id": "rid-p"})
    assert ("START RequestId: rid-p Version: $LATEST\nhello from the bootstrap\nEND RequestId: rid-p\n"
            in hosted.log())


async def test_a_handler_error_is_the_runtimes_error_object(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    status, headers, error = await hosted.invoke({"fail": "no luck"}, headers={"X-Kfn-Request-Id": "rid-e"})
    assert status == 200 and headers["X-Amz-Function-Error"] == "Unhandled"
    assert "X-Kfn-Init-Error" not in headers and "X-Kfn-Timeout" not in headers
    assert error == {"errorMessage": "no luck", "errorType": "Tiny.Failure", "stackTrace": ["bootstrap line 1"]}
    status, headers, result = await hosted.invoke({"echo": 1})
    assert status == 200 and "X-Amz-Function-Error" not in headers and result["echo"] == 1


async def test_an_init_error_the_runtime_reports(hosted: HostedRuntime) -> None:
    status, error = await hosted.load(TINY, env={"TINY_INIT": "error"})
    assert (status, error) == (502, {"errorMessage": "tiny cannot start", "errorType": "Tiny.InitError",
                                     "stackTrace": []})
    status, health = await hosted.health()
    assert (status, health["status"], health["errorType"]) == (503, "initError", "Tiny.InitError")
    status, headers, body = await hosted.invoke({}, headers={"X-Kfn-Request-Id": "rid-i"})
    assert (status, headers["X-Amz-Function-Error"], headers["X-Kfn-Init-Error"]) == (200, "Unhandled", "1")
    assert body == {"errorMessage": "tiny cannot start", "errorType": "Tiny.InitError", "stackTrace": [],
                    "requestId": "rid-i"}
    assert "tiny: cannot start\n" in hosted.log()


async def test_a_bootstrap_that_exits_before_polling(hosted: HostedRuntime) -> None:
    status, error = await hosted.load(TINY, env={"TINY_INIT": "exit"})
    assert (status, error["errorType"], error["errorMessage"]) == (
        502, "Runtime.ExitError", "Runtime exited with error: exit status 3")
    assert "tiny: giving up\n[ERROR] Runtime.ExitError: Runtime exited with error: exit status 3\n" in hosted.log()


async def test_a_missing_or_unrunnable_bootstrap(hosted: HostedRuntime, tmp_path: pathlib.Path) -> None:
    status, error = await hosted.load(tmp_path)
    assert (status, error["errorType"]) == (502, "Runtime.InvalidEntrypoint")
    assert error["errorMessage"] == f"Couldn't find valid bootstrap(s): [{tmp_path}/bootstrap]"


async def test_a_bootstrap_without_the_execute_bit(hosted: HostedRuntime, tmp_path: pathlib.Path) -> None:
    shutil.copy(TINY / "bootstrap", tmp_path / "bootstrap")
    (tmp_path / "bootstrap").chmod(0o644)
    status, error = await hosted.load(tmp_path)
    assert (status, error["errorType"]) == (502, "Runtime.InvalidEntrypoint")
    assert error["errorMessage"] == f"fork/exec {tmp_path}/bootstrap: permission denied"


async def test_a_bootstrap_that_never_polls(hosted: HostedRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relaying, "INIT_TIMEOUT_SECONDS", 0.5)
    began = time.monotonic()
    status, error = await hosted.load(TINY, env={"TINY_INIT": "hang"})
    assert (status, error["errorType"]) == (502, "Sandbox.Timedout")
    assert "did not poll for an invocation within 0.50 seconds" in error["errorMessage"]
    assert time.monotonic() - began < 5


async def test_a_timeout_kills_the_bootstrap_and_the_next_invocation_gets_a_new_one(hosted: HostedRuntime) -> None:
    await hosted.load(TINY, timeoutSeconds=1)
    _, _, first = await hosted.invoke({"echo": 1})
    began = time.monotonic()
    status, headers, error = await hosted.invoke({"sleep": 30}, headers={"X-Kfn-Request-Id": "rid-t"})
    assert time.monotonic() - began < 3
    assert (status, headers["X-Amz-Function-Error"], headers["X-Kfn-Timeout"]) == (200, "Unhandled", "1")
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": "RequestId: rid-t Error: Task timed out after 1.00 seconds"}
    assert await gone(first["pid"])
    status, headers, result = await hosted.invoke({"echo": 2}, headers={"X-Kfn-Request-Id": "rid-after"})
    assert status == 200 and result["echo"] == 2 and result["pid"] != first["pid"]
    log = hosted.log()
    assert re.search(r"\d\dZ rid-t Task timed out after 1\.00 seconds\nEND RequestId: rid-t\n", log)
    assert re.search(r"REPORT RequestId: rid-after\t.*\tInit Duration: \d+\.\d\d ms\n", log)  # a new init


@pytest.mark.parametrize(("event", "reason"), [
    ({"sleep": 30}, "Runtime exited with error: signal: killed"),
    ({"exit": 7}, "Runtime exited with error: exit status 7"),
])
async def test_a_bootstrap_that_dies_mid_invocation(hosted: HostedRuntime, event: dict[str, int],
                                                    reason: str) -> None:
    await hosted.load(TINY, timeoutSeconds=30)
    _, _, first = await hosted.invoke({"echo": 1})
    call = asyncio.create_task(hosted.invoke(event, headers={"X-Kfn-Request-Id": "rid-k"}))
    if "sleep" in event:
        await asyncio.sleep(0.3)  # the event is in the bootstrap's hands
        kill(first["pid"])
    status, headers, error = await asyncio.wait_for(call, 10)
    assert (status, headers["X-Amz-Function-Error"]) == (200, "Unhandled")
    assert "X-Kfn-Init-Error" not in headers
    assert error == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: rid-k Error: {reason}"}
    assert f"RequestId: rid-k Error: {reason}\nRuntime.ExitError\nEND RequestId: rid-k\n" in hosted.log()
    status, _, result = await hosted.invoke({"echo": 2})
    assert status == 200 and result["pid"] != first["pid"]


async def test_a_bootstrap_killed_while_polling_loses_no_event(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    pid = (await hosted.invoke({"echo": 0}))[2]["pid"]
    for attempt in range(3):
        # It is waiting in GET /next; the invocation follows as soon as the process is dead (its
        # socket closed), before or after the host noticed. An event handed out in the instant
        # between the kill and the socket's closing counts as taken: Runtime.ExitError.
        await polling(hosted)
        kill(pid)
        assert await gone(pid)
        status, headers, result = await hosted.invoke({"echo": attempt})
        assert status == 200 and "X-Amz-Function-Error" not in headers, result
        assert result["echo"] == attempt and result["pid"] != pid
        pid = result["pid"]
    settled = await hosted.invoke({"echo": "idle"})
    assert settled[0] == 200


async def polling(hosted: HostedRuntime) -> None:
    """Wait until the bootstrap waits in ``GET /next``."""
    relay = hosted.host.invoker
    assert isinstance(relay, relaying.Relay)
    for _ in range(500):
        sandbox = relay.sandbox
        if sandbox is not None and sandbox.exchange.polling:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bootstrap never polled")


async def test_a_bootstrap_that_dies_between_invocations_is_replaced(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    pid = (await hosted.invoke({"echo": 0}))[2]["pid"]
    kill(pid)
    assert await gone(pid)
    await asyncio.sleep(0.1)
    status, _, result = await hosted.invoke({"echo": 1})
    assert status == 200 and result["pid"] != pid


async def test_one_invocation_at_a_time(hosted: HostedRuntime) -> None:
    await hosted.load(TINY, concurrency=10)  # a sandbox runs one whatever the replica's setting
    slow = asyncio.create_task(hosted.invoke({"sleep": 0.5, "echo": "slow"}))
    while (await hosted.health())[1]["inFlight"] == 0:
        await asyncio.sleep(0.01)
    status, _, body = await hosted.invoke({"echo": "fast"})
    assert (status, body) == (429, {"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded."})
    assert (await slow)[2]["echo"] == "slow"
    async with hosted.client.get("/metrics") as response:
        assert "kfn_runtime_throttles_total 1\n" in await response.text()


async def test_six_megabyte_payloads_both_ways(hosted: HostedRuntime) -> None:
    await hosted.load(TINY, timeoutSeconds=10)
    event = json.dumps({"echo": "big", "blob": "x" * (6 * 1024 * 1024 - 32)}).encode()
    status, _, result = await hosted.invoke(data=io.BytesIO(event))  # a large bytes body warns
    assert status == 200 and result["length"] == len(event)
    status, headers, result = await hosted.invoke({"size": 6 * 1024 * 1024 - 2})
    assert status == 200 and "X-Amz-Function-Error" not in headers and len(result) == 6 * 1024 * 1024 - 2
    status, headers, error = await hosted.invoke({"size": 7 * 1024 * 1024})
    assert (status, headers["X-Amz-Function-Error"], error["errorType"]) == (
        200, "Unhandled", "Function.ResponseSizeTooLarge")


async def test_closing_the_host_stops_the_bootstrap(hosted: HostedRuntime) -> None:
    await hosted.load(TINY)
    pid = (await hosted.invoke({"echo": 0}))[2]["pid"]
    assert alive(pid)
    await hosted.host.close()
    assert not alive(pid)
