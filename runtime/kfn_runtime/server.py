"""The runtime's HTTP API, in one place.

- ``POST /2015-03-31/functions/function/invocations``: invoke (the path of AWS's Runtime
  Interface Emulator). A handler error is still a 200, marked ``X-Amz-Function-Error: Unhandled``;
  other statuses mean the invocation did not run: 400 bad event, 429 at the concurrency limit
  (one for a provided runtime), 503 no function or draining, 413 body over the limit.
  ``X-Amz-Client-Context`` and ``X-Amzn-Trace-Id`` reach a provided runtime's ``next``.
- ``POST /load``: specialise a pool worker (pool mode) to one function.
- ``GET /healthz``: readiness; 200 only when invocations can succeed.
- ``GET /metrics``: this process's counters, Prometheus text format.

No middlewares: the invoke path is the hot path, and each concern here is a line or two.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from aiohttp import web

from kfn_runtime import config, errors, hosting, invoking, logs, relaying

__all__ = ["build_app", "HOST", "INVOKE_PATH", "MAX_BODY_BYTES"]

HOST = web.AppKey("host", hosting.Host)
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
MAX_BODY_BYTES = 6 * 1024 * 1024 + 64 * 1024
"""Lambda's 6 MiB synchronous payload, plus room for the envelope a trigger wraps around it."""

REQUEST_ID = "X-Kfn-Request-Id"
LOG_TYPE = "X-Kfn-Log-Type"
"""``Tail`` asks for the invocation's last 4 KB of log in ``X-Kfn-Log-Result`` (base64)."""
LOG_RESULT = "X-Kfn-Log-Result"
CLIENT_CONTEXT = "X-Amz-Client-Context"
"""Base64 JSON, as the Invoke API takes it; a provided runtime gets it decoded (Lambda-Runtime-Client-Context)."""
TRACE_ID = "X-Amzn-Trace-Id"
"""Passed to a provided runtime as Lambda-Runtime-Trace-Id; one is made up when absent."""
_EMPTY_EVENT = b"{}"


def build_app(host: hosting.Host) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[HOST] = host
    app.router.add_post(INVOKE_PATH, _invoke)
    app.router.add_post("/load", _load)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


async def _invoke(request: web.Request) -> web.Response:
    host = request.app[HOST]
    request_id = request.headers.get(REQUEST_ID) or str(uuid.uuid4())
    invoker = host.invoker
    if host.draining:
        return _invoke_error(503, "ServiceException", "the runtime is draining", request_id)
    if invoker is None:
        return _invoke_error(503, "ServiceException", "no function loaded", request_id)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _invoke_error(413, "RequestEntityTooLargeException",
                             f"Request must be smaller than {MAX_BODY_BYTES} bytes for the Invoke operation",
                             request_id)
    try:
        event = json.loads(body or _EMPTY_EVENT)
    except ValueError as e:
        return _invoke_error(400, "InvalidRequestContentException",
                             f"Could not parse request body into json: {e}", request_id)
    try:
        client_context = _client_context(request.headers.get(CLIENT_CONTEXT))
    except ValueError as e:
        return _invoke_error(400, "InvalidRequestContentException", str(e), request_id)
    wanted_tail = logs.Tail() if request.headers.get(LOG_TYPE) == "Tail" else None
    tail_token = logs.tail.set(wanted_tail)
    try:
        if isinstance(invoker, relaying.Relay):  # the bootstrap gets the payload as it came
            outcome = await invoker.invoke(body or _EMPTY_EVENT, request_id, client_context=client_context,
                                           trace_id=request.headers.get(TRACE_ID))
        else:
            outcome = await invoker.invoke(event, request_id)
    except invoking.Throttled:
        return _invoke_error(429, "TooManyRequestsException", "Rate Exceeded.", request_id)
    finally:
        logs.tail.reset(tail_token)
    headers = {REQUEST_ID: request_id, "X-Kfn-Duration-Ms": f"{outcome.duration_ms:.3f}"}
    if wanted_tail is not None:
        headers[LOG_RESULT] = wanted_tail.encoded()
    if outcome.kind != "success":
        headers["X-Amz-Function-Error"] = "Unhandled"
        if outcome.kind == "timeout":
            headers["X-Kfn-Timeout"] = "1"
        if outcome.init_error:
            headers["X-Kfn-Init-Error"] = "1"
    return web.Response(body=outcome.body, headers=headers, content_type="application/json")


async def _load(request: web.Request) -> web.Response:
    host = request.app[HOST]
    try:
        cfg = config.from_load_body(json.loads(await request.read()))
    except config.ConfigError as e:
        return _json(400, {"errorType": "InvalidRequestContentException", "errorMessage": str(e)})
    except ValueError as e:
        return _json(400, {"errorType": "InvalidRequestContentException",
                           "errorMessage": f"Could not parse request body into json: {e}"})
    try:
        init_ms = await host.load(cfg)
    except hosting.AlreadyLoaded as e:
        return _json(409, {"errorType": "ResourceConflictException", "errorMessage": str(e)})
    except errors.InitError as e:
        return _json(502, e.to_object())
    return _json(200, {"initDurationMs": round(init_ms, 3)})


async def _healthz(request: web.Request) -> web.Response:
    status, body = request.app[HOST].health()
    return _json(status, body)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[HOST].render_metrics().encode(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _client_context(header: str | None) -> str | None:
    if header is None:
        return None
    try:
        decoded = base64.b64decode(header, validate=True).decode()
        if isinstance(json.loads(decoded), dict):
            return decoded
    except ValueError:
        pass
    raise ValueError("Client context must be a valid Base64-encoded JSON object.")


def _invoke_error(status: int, error_type: str, message: str, request_id: str) -> web.Response:
    return _json(status, {"errorType": error_type, "errorMessage": message},
                 {REQUEST_ID: request_id, "X-Kfn-Duration-Ms": "0"})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers,
                        content_type="application/json")
