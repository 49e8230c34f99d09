"""Starting ``python -m kfn_runtime`` as a real subprocess, the way the local backend does."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable

import kfn_runtime

RUNTIME_SOURCE = str(pathlib.Path(list(kfn_runtime.__path__)[0]).resolve().parent)
"""The folder holding ``kfn_runtime``, put on the child's PYTHONPATH whether or not it is installed."""
READY_TIMEOUT = 15.0
HANDLERS_DIR = pathlib.Path(__file__).resolve().parent / "handlers"
HANDLERS_MODULE = "lambda_handlers"


def function_env(handler: str, **extra: str) -> dict[str, str]:
    """The environment a pod gives the runtime for a function of the handlers directory."""
    return {"_HANDLER": f"{HANDLERS_MODULE}.{handler}", "LAMBDA_TASK_ROOT": str(HANDLERS_DIR),
            "AWS_LAMBDA_FUNCTION_NAME": "hello", **extra}


class RuntimeProcess:
    """One runtime process; its stdout (the function's log) and stderr go to files under ``logs_dir``."""

    def __init__(self, env: dict[str, str], *, cwd: pathlib.Path, logs_dir: pathlib.Path) -> None:
        self.stdout_path = logs_dir / "stdout.log"
        self.stderr_path = logs_dir / "stderr.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KFN_", "AWS_", "LAMBDA_"))}
        full_env.pop("_HANDLER", None)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [RUNTIME_SOURCE, full_env.get("PYTHONPATH")]))
        full_env.update({"KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": "0"}, **env)
        self._ready_r, ready_w = os.pipe()
        full_env["KFN_READY_FD"] = str(ready_w)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "kfn_runtime"], env=full_env, cwd=cwd,
                                         stdout=out, stderr=err, pass_fds=(ready_w,))
        os.close(ready_w)
        self.port = 0
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> dict[str, int]:
        """Wait for the ready line; fails with the child's stderr if it exits first."""
        try:
            line = await asyncio.wait_for(asyncio.to_thread(_read_all, self._ready_r), READY_TIMEOUT)
        finally:
            self._close_ready()
        if not line:
            await asyncio.to_thread(self.proc.wait, 5)
            raise AssertionError(f"runtime exited ({self.proc.returncode}) before ready: {self.stderr()}")
        announced: dict[str, int] = json.loads(line)
        self.port = announced["port"]
        return announced

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def terminate(self) -> None:
        os.kill(self.pid, signal.SIGTERM)

    async def wait(self, timeout: float = 15.0) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        await self.wait()
        self._close_ready()

    def _close_ready(self) -> None:
        if self._ready_r >= 0:
            os.close(self._ready_r)
            self._ready_r = -1


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


StartRuntime = Callable[..., Awaitable[RuntimeProcess]]
"""The ``start_runtime`` fixture: ``await start_runtime(env, cwd=...)``."""
