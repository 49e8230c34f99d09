"""AWS's runtime interface clients as provided runtimes: awslambdaric (Python) and aws-lambda-ric (Node.js).

Real: the clients, unchanged, as the ``bootstrap`` of a provided function (``provided/ric`` for
Python; ``examples/node`` with the aws-lambda-ric that scripts/test-deps builds), served by a
host in this process, and a real runtime process started as a pod starts it
(``KFN_RUNTIME_KIND=provided``, the function from the environment).
Asserted: the context each client builds from the Runtime API, results, handler errors in each
client's shape, init errors, timeouts followed by a working bootstrap, and SIGTERM stopping the
bootstrap with the host.
"""

from __future__ import annotations

import pathlib
import re
import shutil

import aiohttp
import pytest

from kfn_runtime import server

from .inprocess import RIC, HostedRuntime, alive, gone
from .processes import StartRuntime

NODE_EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "node"


def node_example() -> pathlib.Path:
    """The Node.js example with its client built; skipped only where there is no Node.js at all."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (scripts/test-deps installs them)")
    if not (NODE_EXAMPLE / "node_modules" / ".bin" / "aws-lambda-ric").exists():
        pytest.fail("examples/node/node_modules has no aws-lambda-ric: run scripts/test-deps to build it")
    return NODE_EXAMPLE


async def test_awslambdaric_round_trip_with_lambdas_context(hosted: HostedRuntime) -> None:
    status, _ = await hosted.load(RIC, "app.handler", memoryMiB=512, timeoutSeconds=5)
    assert status == 200
    status, headers, result = await hosted.invoke({"echo": "hi"}, headers={"X-Kfn-Request-Id": "rid-1"})
    assert status == 200 and "X-Amz-Function-Error" not in headers
    assert {k: result[k] for k in ("echo", "requestId", "function", "arn", "memory")} == {
        "echo": "hi", "requestId": "rid-1", "function": "hello", "memory": "512",
        "arn": "arn:aws:lambda:us-east-1:000000000000:function:hello"}
    assert 4000 < result["remainingMs"] <= 5000
    assert (await hosted.invoke({}))[2]["pid"] == result["pid"]


async def test_awslambdaric_handler_error(hosted: HostedRuntime) -> None:
    await hosted.load(RIC, "app.handler")
    status, headers, error = await hosted.invoke({"fail": "bad input"}, headers={"X-Kfn-Request-Id": "rid-e"})
    assert (status, headers["X-Amz-Function-Error"]) == (200, "Unhandled")
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("ValueError", "bad input", "rid-e")
    assert error["stackTrace"][0].startswith(f'  File "{RIC}/app.py", line ')
    # awslambdaric's record, its \r line ends shown as lines
    assert "[ERROR] ValueError: bad input\nTraceback (most recent call last):\n" in hosted.log()


async def test_awslambdaric_init_error(hosted: HostedRuntime) -> None:
    status, error = await hosted.load(RIC, "no_such_module.handler")
    assert (status, error["errorType"]) == (502, "Runtime.ImportModuleError")
    assert "Unable to import module 'no_such_module'" in error["errorMessage"]
    status, headers, body = await hosted.invoke({})
    assert (headers["X-Kfn-Init-Error"], body["errorType"]) == ("1", "Runtime.ImportModuleError")


async def test_awslambdaric_timeout_then_success(hosted: HostedRuntime) -> None:
    await hosted.load(RIC, "app.handler", timeoutSeconds=1)
    first = (await hosted.invoke({}))[2]
    status, headers, error = await hosted.invoke({"sleep": 10})
    assert (status, headers["X-Kfn-Timeout"], error["errorType"]) == (200, "1", "Sandbox.Timedout")
    assert await gone(first["pid"])
    status, _, result = await hosted.invoke({"echo": "again"})
    assert status == 200 and result["echo"] == "again" and result["pid"] != first["pid"]


async def test_awslambdaric_six_megabyte_response(hosted: HostedRuntime) -> None:
    await hosted.load(RIC, "app.handler", timeoutSeconds=10)
    status, _, result = await hosted.invoke({"size": 6 * 1024 * 1024 - 2})
    assert status == 200 and len(result) == 6 * 1024 * 1024 - 2


async def test_node_round_trip_error_and_timeout(hosted: HostedRuntime) -> None:
    code = node_example()
    status, body = await hosted.load(code, "index.handler", timeoutSeconds=1)
    assert status == 200, body
    status, headers, result = await hosted.invoke({"name": "node"}, headers={"X-Kfn-Request-Id": "rid-n"})
    assert status == 200 and "X-Amz-Function-Error" not in headers
    assert (result["message"], result["requestId"], result["function"]) == ("Hello, node!", "rid-n", "hello")
    assert 0 < result["remainingMs"] <= 1000
    assert re.search(r"rid-n\tINFO\thello from hello\nEND RequestId: rid-n\n", hosted.log())

    status, headers, error = await hosted.invoke({"fail": "node says no"})
    assert (status, headers["X-Amz-Function-Error"]) == (200, "Unhandled")
    assert (error["errorType"], error["errorMessage"]) == ("Error", "node says no")
    assert error["trace"][0] == "Error: node says no"

    status, headers, error = await hosted.invoke({"sleep": 5})
    assert (headers["X-Kfn-Timeout"], error["errorType"]) == ("1", "Sandbox.Timedout")
    assert await gone(result["pid"])
    status, _, again = await hosted.invoke({"name": "again"})
    assert status == 200 and again["message"] == "Hello, again!" and again["pid"] != result["pid"]


async def test_node_init_error(hosted: HostedRuntime) -> None:
    code = node_example()
    status, error = await hosted.load(code, "missing.handler")
    assert (status, error["errorType"]) == (502, "Runtime.ImportModuleError")
    assert "missing" in error["errorMessage"]


async def test_node_without_its_client_says_so(hosted: HostedRuntime, tmp_path: pathlib.Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (scripts/test-deps installs it)")
    for name in ("bootstrap", "index.js"):
        shutil.copy2(NODE_EXAMPLE / name, tmp_path / name)
    status, error = await hosted.load(tmp_path, "index.handler")
    assert (status, error["errorType"]) == (502, "Runtime.ImportModuleError")
    assert error["errorMessage"] == (f"aws-lambda-ric is not installed in {tmp_path}: run 'npm ci' there "
                                     "(scripts/test-deps does)")


async def test_a_pod_style_runtime_process_starts_and_stops_its_bootstrap(
        start_runtime: StartRuntime, tmp_path: pathlib.Path) -> None:
    runtime = await start_runtime({"KFN_RUNTIME_KIND": "provided.al2023", "LAMBDA_TASK_ROOT": str(RIC),
                                   "_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "hello"}, cwd=tmp_path)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(runtime.url + "/healthz") as response:
            health = await response.json()
            assert (response.status, health["status"]) == (200, "ready")
        async with http.post(runtime.url + server.INVOKE_PATH, json={"echo": 1}) as response:
            result = await response.json()
            assert response.status == 200 and result["echo"] == 1
    assert alive(result["pid"])
    runtime.terminate()
    assert await runtime.wait() == 0
    assert not alive(result["pid"])
    assert re.search(r"REPORT RequestId: \S+\tDuration: .*\tInit Duration: ", runtime.stdout())
