"""A real ``nats-server`` (Debian's) with JetStream, on 127.0.0.1 and a free port, stopped by PID."""

from __future__ import annotations

import pathlib
import shutil
import signal
import socket
import subprocess
import time

from tests import processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """``nats-server -js`` storing its streams under ``store``; restartable on the same port and store."""

    def __init__(self, store: pathlib.Path, log: pathlib.Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not pathlib.Path(binary).exists():
            raise RuntimeError("nats-server is not installed: run scripts/test-deps")
        self.binary = binary
        self.store = store
        self.log_path = log
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                          "-sd", str(self.store)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    if conn.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"nats-server did not listen within 10s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or shut down cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
