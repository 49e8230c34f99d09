"""Stopping the servers tests start as subprocesses: a signal, a bounded wait, then SIGKILL."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Stop ``proc`` (if still running) and reap it; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
