"""One invocation sent to a replica's runtime, and its answer read as an Outcome.

Both backends reach runtimes the same way (the runtime's invoke endpoint over HTTP); only what a
failure to reach one means differs (a local process that died, a pod that went away), so the
call and the reading of the answer live here once.
"""

from __future__ import annotations

import json
import time
from typing import Mapping

from kfn_gateway.outcomes import Kind, Outcome
from kfn_gateway.upstream import Answer, Unreachable, Upstreams

__all__ = ["INVOKE_PATH", "CONTEXT_HEADERS", "Answer", "Unreachable", "Upstreams", "post", "read", "failure"]

INVOKE_PATH = "/2015-03-31/functions/function/invocations"

CONTEXT_HEADERS = ("X-Amz-Client-Context", "X-Amzn-Trace-Id")
"""What a caller may pass through to the function: the client context and the trace id."""


async def post(upstreams: Upstreams, url: str, payload: bytes, request_id: str, timeout: float,
               log_tail: bool = False, context: Mapping[str, str] | None = None) -> Answer:
    """POST the event; raises TimeoutError past ``timeout`` and ``Unreachable`` if the replica fails first."""
    headers = {"X-Kfn-Request-Id": request_id}
    if log_tail:
        headers["X-Kfn-Log-Type"] = "Tail"
    if context:
        for name in CONTEXT_HEADERS:
            if name in context:
                headers[name] = context[name]
    return await upstreams.post(url, INVOKE_PATH, payload, headers, timeout)


def read(answer: Answer, request_id: str, began: float, cold_start: bool) -> Outcome:
    """The runtime's answer as an Outcome: success, handler error, timeout or init error."""
    duration = time.monotonic() - began
    tail = answer.headers.get("X-Kfn-Log-Result")
    if answer.status == 200 and "X-Amz-Function-Error" not in answer.headers:
        return Outcome(Kind.SUCCESS, answer.body, request_id, duration, cold_start, tail)
    if answer.status == 200:
        kind = (Kind.TIMEOUT if "X-Kfn-Timeout" in answer.headers else
                Kind.INIT_ERROR if "X-Kfn-Init-Error" in answer.headers else Kind.ERROR)
        return Outcome(kind, answer.body, request_id, duration, cold_start, tail)
    return failure(Kind.EXIT_ERROR, "Runtime.Unavailable", request_id,
                   f"the runtime answered HTTP {answer.status}: {answer.body[:200].decode('utf-8', 'replace')}",
                   began, cold_start)


def failure(kind: Kind, error_type: str, request_id: str, message: str, began: float, cold_start: bool) -> Outcome:
    """An outcome the gateway writes itself, in Lambda's error shape."""
    body = json.dumps({"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"})
    return Outcome(kind, body.encode(), request_id, time.monotonic() - began, cold_start)
