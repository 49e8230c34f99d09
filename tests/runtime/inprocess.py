"""A runtime host served by aiohttp's TestServer inside the test process, for provided functions.

Loading a provided function changes nothing in the test process (no import, no cwd, no
sys.path): the function runs as a real ``bootstrap`` child process.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pathlib
import signal
import time
from typing import Any

from aiohttp import test_utils

from kfn_runtime import hosting, server

PROVIDED_DIR = pathlib.Path(__file__).resolve().parent / "provided"
TINY = PROVIDED_DIR / "tiny"
"""A custom runtime written with urllib: every behaviour is chosen by the event."""
RIC = PROVIDED_DIR / "ric"
"""AWS's awslambdaric running ``app.handler``."""
INVOKE = server.INVOKE_PATH


class HostedRuntime:
    def __init__(self, client: test_utils.TestClient[Any, Any], host: hosting.Host, out: io.StringIO) -> None:
        self.client, self.host, self.out = client, host, out

    async def load(self, code_dir: pathlib.Path, handler: str | None = None, **fields: Any) -> tuple[int, Any]:
        body = {"name": "hello", "runtime": "provided", "codeDir": str(code_dir), "timeoutSeconds": 3, **fields}
        if handler is not None:
            body["handler"] = handler
        async with self.client.post("/load", json=body) as response:
            return response.status, await response.json()

    async def health(self) -> tuple[int, Any]:
        async with self.client.get("/healthz") as response:
            return response.status, await response.json()

    async def invoke(self, event: Any = None, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        if event is not None:
            kwargs["json"] = event
        async with self.client.post(INVOKE, **kwargs) as response:
            text = await response.text()
            return response.status, dict(response.headers), json.loads(text) if text else None

    def log(self) -> str:
        return self.out.getvalue()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
