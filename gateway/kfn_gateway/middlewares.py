"""Errors mapped to HTTP in one place: every refusal is JSON ``{errorType, errorMessage}``.

The names are the ones Lambda uses, so clients that already handle Lambda's errors handle
kfn's too.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from kfn_gateway.outcomes import GatewayError
from kfn_gateway.settings import SYNC_BODY_LIMIT

__all__ = ["errors"]

logger = logging.getLogger(__name__)

_HTTP_ERROR_TYPES = {
    400: "InvalidRequestContentException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    413: "RequestTooLargeException",
    429: "TooManyRequestsException",
}


def _json(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers,
                        body=json.dumps({"errorType": error_type, "errorMessage": message}).encode(),
                        content_type="application/json")


@web.middleware
async def errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return _json(exc.status, exc.error_type, exc.message, exc.headers)
    except web.HTTPRequestEntityTooLarge:
        return _json(413, "RequestTooLargeException",
                     f"Request must be smaller than {SYNC_BODY_LIMIT} bytes for the InvokeFunction operation")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        error_type = _HTTP_ERROR_TYPES.get(exc.status, "ServiceException")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return _json(exc.status, error_type, message or exc.reason, headers)
    except Exception:
        logger.exception("unhandled error serving %s %s", request.method, request.path)
        return _json(500, "ServiceException", "internal error in the gateway")
