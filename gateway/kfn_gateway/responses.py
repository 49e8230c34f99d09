"""Turning an invocation's outcome into the HTTP response a Lambda Function URL would give.

Pure: ``url_response`` takes an :class:`Outcome` and returns status, headers and body.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from kfn_gateway.outcomes import Kind, Outcome

__all__ = ["HttpResponse", "url_response"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
                         "proxy-connection", "te", "trailer"})
_JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _error(status: int, error: dict[str, Any]) -> HttpResponse:
    body = {"errorType": error.get("errorType", "Runtime.Unknown"), "errorMessage": error.get("errorMessage", "")}
    return HttpResponse(status, [("Content-Type", _JSON)], json.dumps(body).encode())


def _invalid(reason: str) -> HttpResponse:
    return _error(502, {"errorType": "Runtime.InvalidResponse",
                        "errorMessage": f"The function returned an invalid HTTP response: {reason}"})


def _structured(result: dict[str, Any]) -> HttpResponse:
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return _invalid("statusCode must be an integer between 100 and 599")
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers")
    raw_headers = {} if raw_headers is None else raw_headers
    if not isinstance(raw_headers, dict):
        return _invalid("headers must be an object")
    for key, value in raw_headers.items():
        if not isinstance(value, (str, int, float, bool)) or "\n" in str(value) or "\r" in str(value):
            return _invalid(f"header {key!r} must be a single-line string")
        if key.lower() not in _HOP_BY_HOP:
            headers.append((str(key), str(value).lower() if isinstance(value, bool) else str(value)))
    cookies = result.get("cookies")
    cookies = [] if cookies is None else cookies
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        return _invalid("cookies must be a list of strings")
    headers.extend(("Set-Cookie", c) for c in cookies)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                return _invalid("body is not valid base64 although isBase64Encoded is true")
        else:
            data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode()  # Lambda serialises a non-string body as JSON
    if not any(k.lower() == "content-type" for k, _ in headers) and data:
        headers.append(("Content-Type", _JSON if not isinstance(body, str) else "text/plain; charset=utf-8"))
    return HttpResponse(status, headers, data)


def url_response(outcome: Outcome) -> HttpResponse:
    """Map an outcome the way Lambda Function URLs do (DESIGN §3)."""
    if outcome.kind is Kind.TIMEOUT:
        return _error(504, outcome.error())
    if outcome.is_error:
        return _error(502, outcome.error())
    try:
        result = json.loads(outcome.payload) if outcome.payload else None
    except ValueError:
        return _invalid("the runtime's answer is not JSON")
    if isinstance(result, dict) and "statusCode" in result:
        return _structured(result)
    return HttpResponse(200, [("Content-Type", _JSON)], outcome.payload or b"null")
