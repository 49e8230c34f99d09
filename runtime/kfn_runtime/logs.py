"""The function's log stream (stdout), in the shapes Lambda writes to CloudWatch.

stdout carries only the function's log: the START/END/REPORT lines, ``[ERROR]`` records, what
the handler prints, and records of the standard ``logging`` root logger in Lambda's format
(``[INFO]\\t<time>Z\\t<request id>\\t<message>``). The runtime's own diagnostics go to stderr.
Each record is one write of a short string, so the event loop barely notices it.
Multi-line records use ``\\n`` where Lambda uses ``\\r``: a terminal shows them readably.
"""

from __future__ import annotations

import base64
import collections
import contextvars
import logging
import math
import resource
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["FunctionLog", "Tail", "TeeOut", "request_id", "tail", "configure", "format_error", "max_memory_bytes"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("kfn_request_id", default="")
"""The invocation a log record belongs to; set around each invocation, threads included."""

TAIL_BYTES = 4096
"""What ``X-Amz-Log-Type: Tail`` returns: the last 4 KB of the invocation's log, as Lambda does."""


class Tail:
    """The end of one invocation's log, kept while it runs (bounded to ``TAIL_BYTES``)."""

    def __init__(self) -> None:
        self._parts: collections.deque[bytes] = collections.deque()
        self._size = 0

    def add(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        self._parts.append(data)
        self._size += len(data)
        while self._parts and self._size - len(self._parts[0]) >= TAIL_BYTES:
            self._size -= len(self._parts.popleft())

    def encoded(self) -> str:
        return base64.b64encode(b"".join(self._parts)[-TAIL_BYTES:]).decode("ascii")


tail: contextvars.ContextVar[Tail | None] = contextvars.ContextVar("kfn_log_tail", default=None)
"""The invocation's Tail when its caller asked for one; copied into handler threads and tasks."""


class TeeOut:
    """stdout for the function: writes through, and into the current invocation's Tail if any.

    Installed as ``sys.stdout`` so that ``print`` in a handler, the ``logging`` root handler and
    the START/END/REPORT lines all reach the tail of the invocation that wrote them.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        written = self._out.write(text)
        current = tail.get()
        if current is not None:
            current.add(text)
        return written

    def flush(self) -> None:
        self._out.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


def max_memory_bytes() -> int:
    """The process's peak resident memory (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class FunctionLog:
    """Writes the per-invocation records Lambda writes around a handler."""

    def __init__(self, out: TextIO, *, version: str, memory_mib: int) -> None:
        self._out = out
        self._flush = not getattr(out, "line_buffering", False)
        """A line-buffered stream (the process's stdout) flushes itself at each newline."""
        self._version = version
        self._memory = f"\tMemory Size: {memory_mib} MB\tMax Memory Used: "

    def start(self, rid: str) -> None:
        self._write(f"START RequestId: {rid} Version: {self._version}\n")

    def end(self, rid: str, duration_ms: float, init_duration_ms: float | None,
            memory_bytes: int | None = None) -> None:
        """``memory_bytes``: the peak of the process that ran the handler, when not this one."""
        used_mb = math.ceil((max_memory_bytes() if memory_bytes is None else memory_bytes) / (1024 * 1024))
        init = "" if init_duration_ms is None else f"\tInit Duration: {init_duration_ms:.2f} ms"
        self._write(f"END RequestId: {rid}\n"
                    f"REPORT RequestId: {rid}\tDuration: {duration_ms:.2f} ms\t"
                    f"Billed Duration: {max(1, math.ceil(duration_ms))} ms"
                    f"{self._memory}{used_mb} MB{init}\n")

    def error(self, error: Mapping[str, Any]) -> None:
        self._write(format_error(error))

    def timed_out(self, rid: str, timeout_seconds: float) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        self._write(f"{stamp}Z {rid} Task timed out after {timeout_seconds:.2f} seconds\n")

    def runtime_exited(self, rid: str, reason: str) -> None:
        """Lambda's record of a provided runtime that exited during an invocation."""
        self._write(f"RequestId: {rid} Error: {reason}\nRuntime.ExitError\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        if self._flush:
            self._out.flush()


def format_error(error: Mapping[str, Any]) -> str:
    """awslambdaric's ``[ERROR] Type: message`` record followed by the traceback."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    trace = error.get("stackTrace") or []
    if trace:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            lines.extend(element.splitlines())
    return "\n".join(lines) + "\n"


class _LambdaFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                         "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        record.aws_request_id = request_id.get()
        return super().format(record)


def configure(out: TextIO, err: TextIO = sys.stderr) -> None:
    """Give the handler's ``logging`` Lambda's root handler and keep the runtime's own on stderr.

    The root logger's level stays WARNING, as on Lambda, where ``logger.setLevel`` is the
    function's business.
    """
    function_handler = logging.StreamHandler(out)
    function_handler.setFormatter(_LambdaFormatter())
    logging.getLogger().addHandler(function_handler)
    own = logging.getLogger("kfn_runtime")
    own_handler = logging.StreamHandler(err)
    own_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    own.addHandler(own_handler)
    own.setLevel(logging.INFO)
    own.propagate = False
