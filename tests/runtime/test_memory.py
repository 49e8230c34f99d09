"""The memory watch of kfn dev's workers: resident memory read from /proc, the limit applied.

Real: this process's and a child's /proc entries. The kill itself is exercised end to end in
tests/dev_e2e/test_dev.py (a function over its memoryMiB gets Lambda's "signal: killed").
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from kfn_runtime import memory, settings


def test_resident_memory_counts_children_and_is_zero_for_a_gone_process() -> None:
    alone = memory.resident_bytes(os.getpid())
    assert alone > 10 * 2**20
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(64 * 2**20); time.sleep(30)"])
    try:
        deadline = threading.Event()
        for _ in range(100):
            if memory.resident_bytes(os.getpid()) > alone + 50 * 2**20:
                break
            deadline.wait(0.05)
        assert memory.resident_bytes(os.getpid()) > alone + 50 * 2**20
    finally:
        child.kill()
        child.wait()
    assert memory.resident_bytes(child.pid) == 0


def test_the_watch_acts_only_past_a_limit_it_has() -> None:
    called: list[tuple[int, int]] = []
    done = threading.Event()

    def exceeded(used: int, limit: int) -> None:
        called.append((used, limit))
        done.set()

    limit: list[int | None] = [None]
    watch = memory.MemoryWatch(lambda: limit[0], interval=0.005, exceeded=exceeded)
    watch.start()
    try:
        assert not done.wait(0.1)  # no function loaded: nothing to compare with
        limit[0] = 2**40
        assert not done.wait(0.1)  # far below
        limit[0] = 2**20
        assert done.wait(5)
        used, seen = called[0]
        assert seen == 2**20 and used > seen
    finally:
        watch.stop()


def test_the_setting() -> None:
    assert settings.load_settings({"KFN_POOL": "1"}).memory_watch is False
    assert settings.load_settings({"KFN_POOL": "1", "KFN_MEMORY_WATCH": "1"}).memory_watch is True
