"""``runtime: provided`` end to end: a real ``kfn dev`` whose workers run real bootstraps.

Nothing is faked: requests go over HTTP to the port ``kfn dev`` printed; the functions of
``provided/`` run AWS's runtime interface clients, awslambdaric (Python) and aws-lambda-ric
(Node.js, built for ``examples/node`` by scripts/test-deps), and a shell runtime given inline.
Asserted, for each client: success through the Function URL, a handler error (502), an init
error (502, not a hang), a timeout (504) then success on a new bootstrap, a bootstrap killed
mid-invocation (``Runtime.ExitError``) then success; ``kfn dev examples/`` serving both examples,
and still starting when the Node.js client is not built.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator

import aiohttp
import pytest

from tests.dev_e2e.conftest import DevServer, serving

pytestmark = pytest.mark.e2e

PROVIDED = pathlib.Path(__file__).parent / "provided"
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
NODE_RIC = EXAMPLES / "node" / "node_modules" / ".bin" / "aws-lambda-ric"


def need_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (scripts/test-deps installs them)")
    if not NODE_RIC.exists():
        pytest.fail("examples/node/node_modules has no aws-lambda-ric: run scripts/test-deps to build it")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with serving(PROVIDED, tmp_path_factory.mktemp("provided") / "kfn-dev.log") as server:
        yield server


async def call(dev: DevServer, path: str, body: object = None) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(dev.url + path, json=body, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            return resp.status, dict(resp.headers), await resp.read()


async def invoke(dev: DevServer, name: str, body: object = None) -> tuple[int, dict[str, object]]:
    status, _, raw = await call(dev, f"/fn/default/{name}", body if body is not None else {})
    return status, json.loads(raw)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] == "Z"
    except FileNotFoundError:
        return True


async def wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        await asyncio.sleep(0.05)


CLIENTS = [pytest.param("ric", id="awslambdaric"), pytest.param("node", id="aws-lambda-ric")]


@pytest.mark.parametrize("client", CLIENTS)
async def test_success_through_the_function_url(dev: DevServer, client: str) -> None:
    if client == "node":
        need_node()
    status, first = await invoke(dev, f"{client}-hello", {"name": "kfn"})
    assert status == 200, first
    assert (first["function"], first["rawPath"], first["body"]) == (
        f"{client}-hello", f"/fn/default/{client}-hello", {"name": "kfn"})
    assert 0 < int(first["remainingMs"]) <= 3000  # type: ignore[call-overload]
    status, second = await invoke(dev, f"{client}-hello")
    assert status == 200 and second["pid"] == first["pid"]  # warm: the same bootstrap
    log = dev.log()
    assert f"START RequestId: {first['requestId']} Version: $LATEST" in log
    assert f"REPORT RequestId: {first['requestId']}\tDuration:" in log


@pytest.mark.parametrize(("client", "error_type"), [pytest.param("ric", "ValueError", id="awslambdaric"),
                                                    pytest.param("node", "TypeError", id="aws-lambda-ric")])
async def test_a_handler_error_is_502(dev: DevServer, client: str, error_type: str) -> None:
    if client == "node":
        need_node()
    status, error = await invoke(dev, f"{client}-boom")
    assert status == 502
    assert (error["errorType"], error["errorMessage"]) == (error_type, "the handler failed on purpose")


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_init_error_is_reported_not_hung(dev: DevServer, client: str) -> None:
    if client == "node":
        need_node()
    began = time.monotonic()
    status, error = await invoke(dev, f"{client}-broken")
    assert status == 502 and error["errorType"] == "Runtime.ImportModuleError", error
    assert time.monotonic() - began < 15
    status, error = await invoke(dev, f"{client}-broken")  # tried again, the same clear answer
    assert status == 502 and error["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_timeout_is_504_then_a_new_bootstrap_answers(dev: DevServer, client: str) -> None:
    if client == "node":
        need_node()
    status, first = await invoke(dev, f"{client}-sleepy", {"seconds": 0})
    assert status == 200
    status, error = await invoke(dev, f"{client}-sleepy", {"seconds": 5})
    assert status == 504
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in str(error["errorMessage"])
    await wait_gone(int(first["pid"]))  # type: ignore[call-overload]
    status, after = await invoke(dev, f"{client}-sleepy", {"seconds": 0})
    assert status == 200 and after["pid"] != first["pid"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_bootstrap_killed_mid_invocation(dev: DevServer, client: str) -> None:
    if client == "node":
        need_node()
    status, first = await invoke(dev, f"{client}-victim", {"seconds": 0})
    assert status == 200
    pid = int(first["pid"])  # type: ignore[call-overload]
    slow = asyncio.ensure_future(invoke(dev, f"{client}-victim", {"seconds": 20}))
    await asyncio.sleep(1.0)  # the event is in the bootstrap's hands
    os.kill(pid, signal.SIGKILL)
    status, error = await asyncio.wait_for(slow, 10)
    assert status == 502
    assert error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: signal: killed" in str(error["errorMessage"])
    status, after = await invoke(dev, f"{client}-victim", {"seconds": 0})
    assert status == 200 and after["pid"] != pid


async def test_an_inline_bootstrap(dev: DevServer) -> None:
    status, result = await invoke(dev, "inline-shell", {"x": 1})
    assert status == 200 and result["shell"] is True and int(result["bytes"]) > 100  # type: ignore[call-overload]


def test_kfn_dev_serves_the_examples(tmp_path: pathlib.Path) -> None:
    """Both Runtime API examples, over HTTP and from a bucket notification (their s3 Triggers)."""
    need_node()
    server = DevServer(EXAMPLES, tmp_path / "kfn-dev.log", env={"KFN_S3_WEBHOOK_TOKEN": "t0ken"})
    try:
        for name in ("python-ric", "node-hello"):
            status, _, body = asyncio.run(call(server, f"/fn/default/{name}", {"name": "kfn"}))
            assert status == 200, body
            assert json.loads(body)["message"] == "Hello, kfn!"
        records = [{"eventName": "s3:ObjectCreated:Put", "eventSource": "minio:s3",
                    "s3": {"bucket": {"name": "uploads"}, "object": {"key": key, "size": 1}}}
                   for key in ("ric/a.txt", "node/b.txt")]
        request = urllib.request.Request(
            server.url + "/events/s3", method="POST", data=json.dumps({"Records": records}).encode(),
            headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.loads(resp.read())["queued"] == 2
        deadline = time.monotonic() + 30
        wanted = ("python-ric: s3 s3:ObjectCreated:Put uploads/ric/a.txt",
                  "node-hello: s3 s3:ObjectCreated:Put uploads/node/b.txt")
        while not all(line in server.log() for line in wanted):
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.1)
    finally:
        assert server.stop() == 0, server.log()[-4000:]


def test_kfn_dev_starts_without_the_node_client(tmp_path: pathlib.Path) -> None:
    examples = tmp_path / "examples"
    for name in ("python-ric", "node"):
        shutil.copytree(EXAMPLES / name, examples / name, symlinks=True, ignore=shutil.ignore_patterns("node_modules"))
    server = DevServer(examples, tmp_path / "kfn-dev.log")
    try:
        status, _, body = asyncio.run(call(server, "/fn/default/node-hello", {}))
        error = json.loads(body)
        assert status == 502 and error["errorType"] == "Runtime.ImportModuleError", error
        assert "aws-lambda-ric is not installed" in error["errorMessage"]
        status, _, body = asyncio.run(call(server, "/fn/default/python-ric", {"name": "still"}))
        assert status == 200 and json.loads(body)["message"] == "Hello, still!"
    finally:
        assert server.stop() == 0, server.log()[-4000:]
