"""Fixtures for the runtime's tests: real runtime processes, an HTTP client, and a clean process state
for the tests that load a function into the test process itself."""

from __future__ import annotations

import importlib.util
import io
import os
import pathlib
import sys
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import test_utils

if importlib.util.find_spec("kfn_runtime") is None:  # the project is not installed: use the source tree
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "runtime"))

from kfn_runtime import hosting, server  # noqa: E402

from .inprocess import HostedRuntime  # noqa: E402
from .processes import HANDLERS_DIR, RuntimeProcess, StartRuntime  # noqa: E402


@pytest.fixture
def process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what loading a function does to the test process: cwd, sys.path and imported modules."""
    monkeypatch.chdir(os.getcwd())
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def start_runtime(tmp_path: pathlib.Path) -> AsyncIterator[StartRuntime]:
    """Start runtime processes with the given environment; each is killed at teardown if still alive."""
    started: list[RuntimeProcess] = []

    async def start(env: dict[str, str], *, cwd: pathlib.Path = HANDLERS_DIR) -> RuntimeProcess:
        logs_dir = tmp_path / f"runtime-{len(started)}"
        logs_dir.mkdir()
        process = RuntimeProcess(env, cwd=cwd, logs_dir=logs_dir)
        started.append(process)
        await process.ready()
        return process

    yield start
    for process in started:
        await process.stop()



@pytest.fixture
async def hosted() -> AsyncIterator[HostedRuntime]:
    """A runtime host in this process (pool mode), for provided functions: their bootstraps are
    real child processes, stopped when the host closes."""
    out = io.StringIO()
    host = hosting.Host(environ={"PATH": os.environ.get("PATH", os.defpath), "HOME": "/home/fn"}, out=out)
    async with test_utils.TestClient(test_utils.TestServer(server.build_app(host))) as client:
        yield HostedRuntime(client, host, out)
    await host.close()
