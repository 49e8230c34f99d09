"""Invocations run by the Invoker directly, without HTTP.

Real: handlers (defined below), the thread pool, the event loop, the wall clock (timeouts are the
minimum of 1 s, so these tests take a few seconds). The function's log is a StringIO.
Asserted: results and Lambda's error objects, timeouts that stop the handler and leave the
invoker working, the concurrency limit, stuck-thread accounting, and the START/END/REPORT lines.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time
from typing import Any

import pytest

from kfn_runtime import config, context, errors, invoking, loading, metrics


def make_invoker(handler: Any, *, out: io.StringIO | None = None, counters: metrics.Metrics | None = None,
                 **overrides: Any) -> invoking.Invoker:
    cfg = config.FunctionConfig(**{"name": "hello", "handler": "test.handler", "code_dir": "/code",
                                   "timeout_seconds": 1, **overrides})
    target = handler if isinstance(handler, errors.InitError) else loading.Loaded(
        handler=handler, is_async=asyncio.iscoroutinefunction(handler))
    return invoking.Invoker(cfg, target, identity=context.identify(cfg), init_duration_ms=12.5,
                            out=out or io.StringIO(), counters=counters or metrics.Metrics())


@pytest.fixture
async def closing() -> Any:
    invokers: list[invoking.Invoker] = []
    yield invokers.append
    for invoker in invokers:
        invoker.close()


def echo(event: Any, ctx: Any) -> Any:
    return {"event": event, "thread": threading.current_thread().name}


async def async_echo(event: Any, ctx: Any) -> Any:
    return {"event": event, "thread": threading.current_thread().name}


def fail(event: Any, ctx: Any) -> Any:
    raise ValueError("bad thing")


def sleep(event: Any, ctx: Any) -> str:
    time.sleep(event["seconds"])
    return "slept"


def spin(event: Any, ctx: Any) -> str:
    end = time.monotonic() + event["seconds"]
    while time.monotonic() < end:
        pass
    return "spun"


async def async_sleep(event: Any, ctx: Any) -> str:
    await asyncio.sleep(event["seconds"])
    return "slept"


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_sync_handler_runs_in_a_handler_thread(closing: Any) -> None:
    closing(invoker := make_invoker(echo))
    outcome = await invoker.invoke({"a": 1}, "rid-1")
    assert outcome.kind == "success" and not outcome.init_error
    assert json.loads(outcome.body) == {"event": {"a": 1}, "thread": "kfn-handler_0"}
    assert outcome.duration_ms > 0


async def test_an_async_handler_runs_on_the_loop(closing: Any) -> None:
    closing(invoker := make_invoker(async_echo))
    outcome = await invoker.invoke([1, 2], "rid-1")
    assert outcome.kind == "success"
    assert json.loads(outcome.body) == {"event": [1, 2], "thread": threading.current_thread().name}


async def test_none_becomes_null_and_decimals_become_numbers(closing: Any) -> None:
    import decimal
    closing(invoker := make_invoker(lambda event, ctx: None))
    assert (await invoker.invoke({}, "r")).body == b"null"
    closing(invoker := make_invoker(lambda event, ctx: decimal.Decimal("1.5")))
    assert (await invoker.invoke({}, "r")).body == b"1.5"


async def test_the_lambda_log_lines_and_init_duration_only_once(closing: Any) -> None:
    out = io.StringIO()
    closing(invoker := make_invoker(echo, out=out, memory_mib=256, version="7"))
    await invoker.invoke({}, "rid-1")
    await invoker.invoke({}, "rid-2")
    lines = out.getvalue().splitlines()
    assert lines[0] == "START RequestId: rid-1 Version: 7"
    assert lines[1] == "END RequestId: rid-1"
    assert re.fullmatch(r"REPORT RequestId: rid-1\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: 12\.50 ms", lines[2])
    assert lines[3:5] == ["START RequestId: rid-2 Version: 7", "END RequestId: rid-2"]
    assert re.fullmatch(r"REPORT RequestId: rid-2\tDuration: [^\t]+\tBilled Duration: [^\t]+\t"
                        r"Memory Size: 256 MB\tMax Memory Used: \d+ MB", lines[5])


async def test_a_handler_exception_becomes_lambdas_error_object(closing: Any) -> None:
    out = io.StringIO()
    closing(invoker := make_invoker(fail, out=out))
    outcome = await invoker.invoke({}, "rid-1")
    assert outcome.kind == "error"
    error = json.loads(outcome.body)
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert (error["errorMessage"], error["errorType"], error["requestId"]) == ("bad thing", "ValueError", "rid-1")
    assert len(error["stackTrace"]) == 1  # the runtime's own frames are not shown
    assert re.fullmatch(r'  File ".*test_invoking\.py", line \d+, in fail\n    raise ValueError\("bad thing"\)\n',
                        error["stackTrace"][0])
    log = out.getvalue()
    assert "[ERROR] ValueError: bad thing\nTraceback (most recent call last):\n  File " in log
    assert log.index("[ERROR]") < log.index("END RequestId: rid-1")


async def test_an_async_handler_exception_too(closing: Any) -> None:
    async def afail(event: Any, ctx: Any) -> None:
        raise KeyError("k")
    closing(invoker := make_invoker(afail))
    error = json.loads((await invoker.invoke({}, "r")).body)
    assert (error["errorType"], error["errorMessage"]) == ("KeyError", "'k'")
    assert "in afail" in error["stackTrace"][0]


async def test_a_result_that_is_not_json_is_a_marshal_error(closing: Any) -> None:
    closing(invoker := make_invoker(lambda event, ctx: {"a": {1, 2}}))
    outcome = await invoker.invoke({}, "r")
    assert outcome.kind == "error"
    error = json.loads(outcome.body)
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: {1, 2} is not JSON serializable"


async def test_an_init_error_is_the_answer_to_every_invocation(closing: Any) -> None:
    closing(invoker := make_invoker(errors.InitError("Runtime.ImportModuleError", "Unable to import module 'x'")))
    for rid in ("r1", "r2"):
        outcome = await invoker.invoke({}, rid)
        assert (outcome.kind, outcome.init_error) == ("error", True)
        assert json.loads(outcome.body) == {"errorMessage": "Unable to import module 'x'",
                                            "errorType": "Runtime.ImportModuleError", "requestId": rid,
                                            "stackTrace": []}


@pytest.mark.parametrize("handler", [sleep, spin, async_sleep], ids=["sleep", "busy-loop", "async"])
async def test_a_timeout_answers_at_once_and_the_next_invocation_works(closing: Any, handler: Any) -> None:
    out = io.StringIO()
    closing(invoker := make_invoker(handler, out=out))
    started = time.monotonic()
    outcome = await invoker.invoke({"seconds": 1.5}, "rid-1")
    assert 1.0 <= time.monotonic() - started < 1.45  # not the handler's 1.5 s
    assert outcome.kind == "timeout"
    assert json.loads(outcome.body) == {"errorType": "Sandbox.Timedout",
                                        "errorMessage": "RequestId: rid-1 Error: Task timed out after 1.00 seconds"}
    assert re.search(r"Z rid-1 Task timed out after 1\.00 seconds\nEND RequestId: rid-1\n", out.getvalue())
    await eventually(lambda: invoker.stuck == 0)  # the handler stopped (sleep: once the C call returned)
    outcome = await invoker.invoke({"seconds": 0}, "rid-2")
    assert outcome.kind == "success"
    assert json.loads(outcome.body) in ("slept", "spun")


async def test_a_busy_loop_is_stopped_inside_its_thread(closing: Any) -> None:
    counters = metrics.Metrics()
    closing(invoker := make_invoker(spin, counters=counters))
    await invoker.invoke({"seconds": 60}, "rid-1")
    await eventually(lambda: invoker.stuck == 0, timeout=2)  # it would spin for 60 s
    assert counters.invocations == {"success": 0, "error": 0, "timeout": 1}


async def test_more_than_concurrency_invocations_are_throttled(closing: Any) -> None:
    counters = metrics.Metrics()
    closing(invoker := make_invoker(sleep, counters=counters, concurrency=2))
    running = [asyncio.create_task(invoker.invoke({"seconds": 0.3}, f"r{i}")) for i in range(2)]
    await eventually(lambda: invoker.in_flight == 2)
    with pytest.raises(invoking.Throttled):
        await invoker.invoke({"seconds": 0}, "r3")
    assert [o.kind for o in await asyncio.gather(*running)] == ["success", "success"]
    assert counters.throttles == 1
    assert (await invoker.invoke({"seconds": 0}, "r4")).kind == "success"
