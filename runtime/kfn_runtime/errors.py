"""Lambda's error objects: what the caller of a failed invocation or a failed init receives.

The shapes and messages follow AWS's Python runtime interface client (awslambdaric), so code
that inspects Lambda errors (``errorType``, ``errorMessage``, ``stackTrace``) works unchanged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import os
import traceback
from types import TracebackType
from typing import Any

__all__ = ["InitError", "from_exception", "stack_trace"]

ErrorObject = dict[str, Any]

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MACHINERY = ("<frozen ",
              *(os.path.dirname(str(m.__file__)) + os.sep for m in (asyncio, concurrent.futures, importlib)))


class InitError(Exception):
    """The function could not be initialised; every invocation answers this error."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []

    def to_object(self, request_id: str | None = None) -> ErrorObject:
        """Lambda's init error object; on an invocation it also names the request."""
        error: ErrorObject = {"errorMessage": self.message, "errorType": self.error_type, "stackTrace": self.trace}
        if request_id is not None:
            error["requestId"] = request_id
        return error


def from_exception(exc: BaseException, request_id: str) -> ErrorObject:
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id,
            "stackTrace": stack_trace(exc.__traceback__)}


def stack_trace(tb: TracebackType | None) -> list[str]:
    """The traceback's frames as Lambda lists them, starting at the function's own code.

    Every traceback starts in this package and the machinery that called the handler (a thread
    pool, asyncio, the import system); those frames say nothing to the function's author and are
    dropped, as awslambdaric drops its bootstrap. Frames become plain tuples first so that the
    lines carry no column carets, as on Lambda.
    """
    frames = [(f.filename, f.lineno or 0, f.name, f.line) for f in traceback.extract_tb(tb)]
    start = 0
    for index, (filename, *_) in enumerate(frames):
        if filename.startswith(_OWN_DIR):
            start = index + 1
        elif not filename.startswith(_MACHINERY):
            break
    while start < len(frames) and frames[start][0].startswith(_MACHINERY):
        start += 1
    return traceback.format_list(frames[start:])
