"""A gateway that dies: opens a queue, does one thing, reports on stdout, and is killed.

    python crash_client.py ENGINE TARGET claim FUNCTION COUNT   claim with a long lease, print the ids, SIGKILL itself
    python crash_client.py ENGINE TARGET put FUNCTION           put events forever (32 at a time), print each id
                                                                 once its put returned; the test kills it
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pathlib
import signal
import sys
import time

from kfn_gateway.queueing import Queue, new_event


def make(engine: str, target: str) -> Queue:
    if engine == "sqlite":
        from kfn_gateway.sqlite_queue import SqliteQueue
        return SqliteQueue(pathlib.Path(target))
    from kfn_gateway.nats_queue import NatsQueue
    return NatsQueue(target, exclusive=True)


def say(line: str) -> None:
    os.write(1, f"{line}\n".encode())


async def main(engine: str, target: str, action: str, function: str, count: int) -> None:
    queue = make(engine, target)
    await queue.open()
    if action == "claim":
        now = time.time()
        for event in await queue.claim(function, count, now, now + 300):
            say(event.id)
        say("done")
        os.kill(os.getpid(), signal.SIGKILL)
    counter = itertools.count()

    async def putter() -> None:
        while True:
            event = new_event(function, "crash", b'{"n": 1}', time.time(), f"ev-{next(counter)}")
            await queue.put([event])
            say(event.id)
    await asyncio.gather(*(putter() for _ in range(32)))


if __name__ == "__main__":
    engine, target, action, function = sys.argv[1:5]
    asyncio.run(main(engine, target, action, function, int(sys.argv[5]) if len(sys.argv) > 5 else 0))
