"""``memoryMiB`` enforced where no cgroup does it (``kfn dev``): a process over its memory is killed.

In a pod the container's memory limit is ``memoryMiB`` and the kernel's OOM killer ends a function
that goes past it, as Lambda does. On one machine nothing would, so a worker of ``kfn dev`` (started
with ``KFN_MEMORY_WATCH=1``) samples its own resident memory, plus its children's (a ``provided``
bootstrap), every ``INTERVAL`` seconds and kills itself with SIGKILL once it is above the limit: the
gateway then answers as Lambda does, ``Runtime exited with error: signal: killed``. A sample is a
read of ``/proc/<pid>/statm``, a few µs; an allocation that rises and falls between two samples
escapes it (the cluster's limit is exact).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

__all__ = ["resident_bytes", "MemoryWatch", "INTERVAL"]

INTERVAL = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and of its direct children (0 for a process that is gone)."""
    total = _rss(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    return total + sum(_rss(c) for c in children)


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _kill(used: int, limit: int) -> None:
    sys.stderr.write(f"kfn: the function used {used // 2**20} MiB, more than its memoryMiB "
                     f"({limit // 2**20}): killed, as the memory limit of a pod or a Lambda would\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class MemoryWatch:
    """A daemon thread comparing the resident memory with ``limit()`` (None: no function loaded yet)."""

    def __init__(self, limit: Callable[[], int | None], *, interval: float = INTERVAL,
                 exceeded: Callable[[int, int], None] = _kill) -> None:
        self.limit = limit
        self.interval = interval
        self.exceeded = exceeded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kfn memory watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.wait(self.interval):
            limit = self.limit()
            if limit is None:
                continue
            used = resident_bytes(pid)
            if used > limit:
                self.exceeded(used, limit)
                return
