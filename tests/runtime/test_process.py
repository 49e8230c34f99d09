"""End to end: ``python -m kfn_runtime`` as a real subprocess, driven over HTTP.

Real: the process (uvloop when installed), its ready pipe, its socket, signals, the handlers of
``handlers/lambda_handlers.py``. stdout and stderr go to files that the tests read.
Asserted: the ready line, the log stream on stdout (START/END/REPORT, Init Duration on the first
invocation only, handler output), pool mode, init errors from the environment, a timeout in a
real process, draining on SIGTERM and the exit code.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import subprocess
import sys

import aiohttp

from kfn_runtime import server

from .processes import HANDLERS_DIR, HANDLERS_MODULE, RUNTIME_SOURCE, RuntimeProcess, StartRuntime, function_env

INVOKE = server.INVOKE_PATH


async def invoke(http: aiohttp.ClientSession, runtime: RuntimeProcess, event: object,
                 request_id: str | None = None) -> tuple[int, dict[str, str], object]:
    headers = {} if request_id is None else {"X-Kfn-Request-Id": request_id}
    async with http.post(runtime.url + INVOKE, json=event, headers=headers) as response:
        return response.status, dict(response.headers), await response.json()


async def health(http: aiohttp.ClientSession, runtime: RuntimeProcess) -> tuple[int, dict[str, object]]:
    async with http.get(runtime.url + "/healthz") as response:
        return response.status, await response.json()


async def test_ready_line_and_lambda_log_lines(start_runtime: StartRuntime, http: aiohttp.ClientSession) -> None:
    runtime = await start_runtime(function_env("echo"))
    assert runtime.port > 0
    assert runtime.stdout() == ""  # stdout carries the function's log only
    for rid in ("rid-1", "rid-2"):
        status, _, body = await invoke(http, runtime, {"n": rid}, rid)
        assert (status, body) == (200, {"event": {"n": rid}})
    lines = runtime.stdout().splitlines()
    assert lines[0:2] == ["START RequestId: rid-1 Version: $LATEST", "END RequestId: rid-1"]
    assert re.fullmatch(r"REPORT RequestId: rid-1\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms", lines[2])
    assert lines[3:5] == ["START RequestId: rid-2 Version: $LATEST", "END RequestId: rid-2"]
    assert re.fullmatch(r"REPORT RequestId: rid-2\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB", lines[5])
    assert "listening on 127.0.0.1" in runtime.stderr()


async def test_handler_output_goes_to_the_log_stream(start_runtime: StartRuntime, http: aiohttp.ClientSession) -> None:
    runtime = await start_runtime(function_env("say"))
    await invoke(http, runtime, {"say": "hello from the handler"}, "rid-p")
    runtime_log = await start_runtime(function_env("log"))
    await invoke(http, runtime_log, {}, "rid-l")
    assert "START RequestId: rid-p Version: $LATEST\nhello from the handler\nEND RequestId: rid-p\n" in runtime.stdout()
    assert re.search(r"START RequestId: rid-l Version: \$LATEST\n"
                     r"\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\trid-l\ta logging record\n"
                     r"END RequestId: rid-l\n", runtime_log.stdout())


async def test_pool_mode(start_runtime: StartRuntime, http: aiohttp.ClientSession, tmp_path: pathlib.Path) -> None:
    runtime = await start_runtime({"KFN_POOL": "1"}, cwd=tmp_path)
    assert await health(http, runtime) == (503, {"status": "idle"})
    load = {"name": "hello", "namespace": "media", "handler": f"{HANDLERS_MODULE}.environment",
            "codeDir": str(HANDLERS_DIR), "env": {"BUCKET": "uploads"}, "memoryMiB": 256}
    async with http.post(runtime.url + "/load", json=load) as response:
        assert response.status == 200
        assert (await response.json())["initDurationMs"] > 0
    async with http.post(runtime.url + "/load", json=load) as response:
        assert response.status == 409
    status, body = await health(http, runtime)
    assert (status, body["status"], body["function"]) == (200, "ready", "media/hello")
    names = ["BUCKET", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
             "LAMBDA_TASK_ROOT", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"]
    status, _, result = await invoke(http, runtime, {"names": names})
    assert status == 200
    assert result == {"cwd": str(HANDLERS_DIR), "env": {
        "BUCKET": "uploads", "AWS_LAMBDA_FUNCTION_NAME": "hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "_HANDLER": f"{HANDLERS_MODULE}.environment", "LAMBDA_TASK_ROOT": str(HANDLERS_DIR),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1"}}
    assert "\tInit Duration: " in runtime.stdout()


async def test_an_init_error_at_start_is_answered_on_invoke(
        start_runtime: StartRuntime, http: aiohttp.ClientSession) -> None:
    runtime = await start_runtime(function_env("nope"))
    status, body = await health(http, runtime)
    assert (status, body["status"], body["errorType"]) == (503, "initError", "Runtime.HandlerNotFound")
    status, headers, error = await invoke(http, runtime, {}, "rid-i")
    assert (status, headers["X-Amz-Function-Error"], headers["X-Kfn-Init-Error"]) == (200, "Unhandled", "1")
    assert error == {"errorMessage": f"Handler 'nope' missing on module '{HANDLERS_MODULE}'",
                     "errorType": "Runtime.HandlerNotFound", "requestId": "rid-i", "stackTrace": []}
    assert runtime.stdout().startswith("[ERROR] Runtime.HandlerNotFound: Handler 'nope' missing")


async def test_a_timeout_and_exit_with_a_stuck_thread(
        start_runtime: StartRuntime, http: aiohttp.ClientSession) -> None:
    runtime = await start_runtime(function_env("sleep", KFN_TIMEOUT_SECONDS="1"))
    status, headers, error = await invoke(http, runtime, {"seconds": 30}, "rid-t")
    assert (status, headers["X-Kfn-Timeout"]) == (200, "1")
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": "RequestId: rid-t Error: Task timed out after 1.00 seconds"}
    assert (await invoke(http, runtime, {"seconds": 0}))[2] == "slept"
    assert re.search(r"\d\dZ rid-t Task timed out after 1\.00 seconds\nEND RequestId: rid-t\n", runtime.stdout())
    runtime.terminate()
    assert await runtime.wait(timeout=5) == 0  # the thread still sleeping in C does not hold the exit


async def test_sigterm_drains_an_invocation_in_flight_then_exits_0(
        start_runtime: StartRuntime, http: aiohttp.ClientSession) -> None:
    runtime = await start_runtime(function_env("sleep", KFN_TIMEOUT_SECONDS="10"))
    slow = asyncio.create_task(invoke(http, runtime, {"seconds": 1}, "rid-slow"))
    while (await health(http, runtime))[1].get("inFlight") != 1:
        await asyncio.sleep(0.02)
    runtime.terminate()
    await asyncio.sleep(0.2)
    assert await health(http, runtime) == (503, {"status": "draining"})
    status, _, body = await invoke(http, runtime, {"seconds": 0})
    assert (status, body) == (503, {"errorType": "ServiceException", "errorMessage": "the runtime is draining"})
    assert (await slow)[::2] == (200, "slept")
    assert await runtime.wait() == 0
    assert "END RequestId: rid-slow" in runtime.stdout()


def test_invalid_settings_exit_2_naming_the_variable(tmp_path: pathlib.Path) -> None:
    env = {**function_env("echo"), "KFN_TIMEOUT_SECONDS": "1000", "PYTHONPATH": RUNTIME_SOURCE,
           "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-m", "kfn_runtime"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "invalid settings: KFN_TIMEOUT_SECONDS: must be between 1 and 900 (got 1000)" in done.stderr
    assert done.stdout == ""


def test_a_runtime_whose_parent_stopped_reading_exits_quietly(tmp_path):
    """The ready pipe's reader is gone (a gateway killed while workers started): exit, no traceback."""
    import os as _os
    import subprocess as _subprocess
    import sys as _sys

    read_fd, write_fd = _os.pipe()
    _os.close(read_fd)
    env = {**_os.environ, "KFN_POOL": "1", "KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": "0",
           "KFN_READY_FD": str(write_fd)}
    try:
        result = _subprocess.run([_sys.executable, "-m", "kfn_runtime"], env=env, pass_fds=(write_fd,),
                                 capture_output=True, text=True, timeout=30)
    finally:
        _os.close(write_fd)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "stopped listening" in result.stderr
