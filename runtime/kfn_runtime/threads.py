"""The threads that run synchronous handlers, and stopping one whose invocation timed out.

Python cannot kill a thread; it can raise an exception in one at its next bytecode
(``PyThreadState_SetAsyncExc``). A busy loop stops at once; a long C call (``time.sleep``, a
blocking read) stops only when the call returns, and until then its thread is stuck. The pool
has room for as many stuck threads as the function's concurrency, so a host with stuck threads
keeps serving at full concurrency until it reports itself unhealthy and is replaced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import ctypes
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["HandlerThreads", "Job"]


class _InvocationTimeout(BaseException):
    """Raised in a handler thread past its deadline; not an Exception, so ``except Exception`` lets it through."""


class Job:
    """One handler call's claim on a thread; the lock below guards its fields."""

    __slots__ = ("thread_id", "done", "abandoned")

    def __init__(self) -> None:
        self.thread_id: int | None = None
        self.done = False
        self.abandoned = False


class HandlerThreads:
    def __init__(self, concurrency: int) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2 * concurrency + 1, thread_name_prefix="kfn-handler")
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> tuple[asyncio.Future[Any], Job]:
        """Run ``fn(*args)`` in a thread, in a copy of the caller's context (it holds the request id)."""
        job = Job()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._run, job, contextvars.copy_context(), fn, args)
        return future, job

    def interrupt(self, job: Job) -> None:
        """Give up on ``job``: it will not start if still queued, and stops at its next bytecode if running."""
        with self._lock:
            job.abandoned = True
            if job.thread_id is not None and not job.done:
                _set_async_exc(job.thread_id, _InvocationTimeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, ctx: contextvars.Context, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        # An exception raised here by interrupt() can only arrive after thread_id is set and before
        # done is: inside this call, where the executor catches it (BaseException included).
        with self._lock:
            if job.abandoned:
                return None
            job.thread_id = threading.get_ident()
        try:
            return ctx.run(fn, *args)
        finally:
            with self._lock:
                job.done = True
                if job.abandoned:
                    _set_async_exc(job.thread_id, None)  # take back an exception not delivered yet


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    # Untyped ctypes call: None is passed as NULL, which clears a pending exception.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               None if exc is None else ctypes.py_object(exc))
