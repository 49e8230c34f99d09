"""One invocation sent to a replica's runtime, and its answer read as an Outcome.

Both backends reach runtimes the same way (the runtime's invoke endpoint over HTTP); only what a
failure to reach one means differs (a local process that died, a pod that went away), so the
call and the reading of the answer live here once.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Mapping

import aiohttp
from multidict import CIMultiDictProxy

from kfn_gateway.outcomes import Kind, Outcome

__all__ = ["INVOKE_PATH", "CONTEXT_HEADERS", "Answer", "post", "read", "failure"]

INVOKE_PATH = "/2015-03-31/functions/function/invocations"

CONTEXT_HEADERS = ("X-Amz-Client-Context", "X-Amzn-Trace-Id")
"""What a caller may pass through to the function: the client context and the trace id."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


async def post(session: aiohttp.ClientSession, url: str, payload: bytes, request_id: str, timeout: float,
               log_tail: bool = False, context: Mapping[str, str] | None = None) -> Answer:
    """POST the event; raises TimeoutError past ``timeout`` and aiohttp.ClientError if unreachable."""
    headers = {"X-Kfn-Request-Id": request_id, "Content-Type": "application/json"}
    if log_tail:
        headers["X-Kfn-Log-Type"] = "Tail"
    for name in CONTEXT_HEADERS:
        if context and name in context:
            headers[name] = context[name]
    async with session.post(url + INVOKE_PATH, data=payload, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


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
