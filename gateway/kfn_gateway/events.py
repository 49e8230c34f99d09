"""Building the event a handler receives for an HTTP request: Lambda's Function URL event.

Payload format 2.0, field for field, so a handler written for a Lambda Function URL (or an API
Gateway HTTP API) runs unchanged. Pure: the HTTP handler passes in what it read.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import time
from typing import Any, Iterable
from urllib.parse import parse_qsl

__all__ = ["HttpRequest", "url_event", "is_text"]

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "application/graphql", "application/yaml")


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query_string: str
    headers: Iterable[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    protocol: str = "HTTP/1.1"


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type is passed as text; anything else is base64, as Lambda does."""
    if not content_type:
        return True  # curl -d sends form-urlencoded; bare bodies without a type are usually text
    ctype = content_type.split(";", 1)[0].strip().lower()
    return (ctype.startswith("text/") or ctype in _TEXT_TYPES
            or ctype.endswith("+json") or ctype.endswith("+xml"))


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


@functools.lru_cache(maxsize=4)
def _clock(second: int) -> str:
    """The request time as Lambda writes it; formatted once per second, not once per request."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


def url_event(req: HttpRequest, request_id: str, now: float | None = None) -> dict[str, Any]:
    """The Function URL event (payload 2.0) for ``req``."""
    now = time.time() if now is None else now
    cookies: list[str] = []
    header_pairs: list[tuple[str, str]] = []
    for key, value in req.headers:
        key = key.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            header_pairs.append((key, value))
    headers = _joined(header_pairs)
    host = req.host or headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query_string,
        "headers": headers,
    }
    if cookies:
        event["cookies"] = cookies
    if req.query_string:
        event["queryStringParameters"] = _joined(parse_qsl(req.query_string, keep_blank_values=True))
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": host.split(".", 1)[0].split(":", 1)[0],
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": req.method,
            "path": req.path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _clock(int(now)),
        "timeEpoch": int(now * 1000),
    }
    if req.body:
        text = None
        if is_text(headers.get("content-type")):
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(req.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event
