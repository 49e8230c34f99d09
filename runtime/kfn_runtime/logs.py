"""The function's log stream (stdout), in the shapes Lambda writes to CloudWatch.

stdout carries only the function's log: the START/END/REPORT lines, ``[ERROR]`` records, what
the handler prints, and records of the standard ``logging`` root logger in Lambda's format
(``[INFO]\\t<time>Z\\t<request id>\\t<message>``). The runtime's own diagnostics go to stderr.
Each record is one write of a short string, so the event loop barely notices it.
Multi-line records use ``\\n`` where Lambda uses ``\\r``: a terminal shows them readably.
"""

from __future__ import annotations

import contextvars
import logging
import math
import resource
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["FunctionLog", "request_id", "configure", "format_error", "max_memory_bytes"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("kfn_request_id", default="")
"""The invocation a log record belongs to; set around each invocation, threads included."""


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

    def end(self, rid: str, duration_ms: float, init_duration_ms: float | None) -> None:
        used_mb = math.ceil(max_memory_bytes() / (1024 * 1024))
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
