"""``kfn-runtime`` / ``python -m kfn_runtime``: the entrypoint of function pods and local workers."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Callable

from kfn_runtime import logs, serving, settings

logger = logging.getLogger("kfn_runtime")  # not __name__: under ``-m`` that is "__main__", the function's logger


def main() -> None:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    out = logs.TeeOut(sys.stdout)
    sys.stdout = out  # type: ignore[assignment]  # print() in handlers reaches the invocation's tail
    logs.configure(out)  # type: ignore[arg-type]
    try:
        cfg = settings.load_settings(os.environ)
    except settings.SettingsError as e:
        logger.error("invalid settings: %s", e)
        sys.exit(2)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        host = runner.run(serving.serve(cfg, environ=os.environ, out=out))  # type: ignore[arg-type]
    if host.stuck:
        # Stuck handler threads would hold the interpreter's exit until they return.
        logger.warning("exiting with %d stuck handler thread(s)", host.stuck)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
