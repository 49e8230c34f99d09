"""Starting a real ``kfn dev`` as a subprocess on a free port, talking to it over HTTP only."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import time
from typing import Iterator

import pytest

from tests import processes

FUNCTIONS = pathlib.Path(__file__).parent / "functions"
BANNER = re.compile(r"kfn gateway on (http://\S+)")


class DevServer:
    """A running ``kfn dev DIR``; its stdout and stderr go to one log file the tests can read."""

    def __init__(self, directory: pathlib.Path, log: pathlib.Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self.log_file = log.open("wb")
        full_env = {**os.environ, "KFN_AUTOSCALE_INTERVAL": "0.2", "KFN_STABLE_WINDOW": "0",
                    "KFN_ACTIVATION_TIMEOUT": "20", "KFN_STATE_DIR": str(log.parent / f"{log.stem}-state"),
                    **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "kfn", "dev", str(directory), "--port", "0"],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env=full_env)
        self.url = self._wait_for_banner(30.0)

    def _wait_for_banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = BANNER.search(self.log())
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"kfn dev exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"kfn dev printed no banner within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        code = processes.stop(self.proc, grace=20)
        self.log_file.close()
        return code


@contextlib.contextmanager
def serving(directory: pathlib.Path, log: pathlib.Path, env: dict[str, str] | None = None) -> Iterator[DevServer]:
    """A ``kfn dev`` for the duration of the block, which must then stop cleanly (exit 0)."""
    server = DevServer(directory, log, env)
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"kfn dev did not stop cleanly ({code}):\n{server.log()[-4000:]}"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with serving(FUNCTIONS, tmp_path_factory.mktemp("dev") / "kfn-dev.log") as server:
        yield server
