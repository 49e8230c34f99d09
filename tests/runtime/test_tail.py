"""The per-invocation log tail behind the Invoke API's ``LogType: Tail``.

Real contextvars, threads and asyncio tasks; no HTTP. Asserted: each invocation's tail holds only
what that invocation wrote (prints from handler threads and tasks included), is bounded to the
last 4 KB, and writes still reach the real stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import io
import threading

from kfn_runtime import logs


def test_tail_keeps_the_last_4_kb():
    t = logs.Tail()
    for i in range(1000):
        t.add(f"line {i:04d}\n")
    data = base64.b64decode(t.encoded())
    assert len(data) == logs.TAIL_BYTES
    assert data.endswith(b"line 0999\n")


async def test_concurrent_invocations_get_their_own_lines():
    stream = io.StringIO()
    out = logs.TeeOut(stream)

    def sync_handler(name: str) -> None:  # runs in a thread, as sync handlers do
        for i in range(50):
            out.write(f"{name} says {i}\n")

    async def invocation(name: str) -> str:
        mine = logs.Tail()
        token = logs.tail.set(mine)
        try:
            out.write(f"START {name}\n")
            ctx = contextvars.copy_context()
            thread = threading.Thread(target=ctx.run, args=(sync_handler, name))
            thread.start()
            await asyncio.sleep(0.01)
            await asyncio.to_thread(thread.join)
            out.write(f"END {name}\n")
        finally:
            logs.tail.reset(token)
        return base64.b64decode(mine.encoded()).decode()

    a, b = await asyncio.gather(invocation("a"), invocation("b"))
    assert "START a" in a and "END a" in a and "a says 49" in a and " b " not in a and "b says" not in a
    assert "START b" in b and "b says 0" in b and "a says" not in b
    out.write("outside any invocation\n")
    assert stream.getvalue().count("says") == 100 and "outside any invocation" in stream.getvalue()
