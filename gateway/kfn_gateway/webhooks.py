"""``/events/s3``: bucket notifications as MinIO, Ceph RGW and other S3-compatible stores send them.

Authenticated with the store's token (MinIO's ``auth_token``): a token containing a space (``Basic
xyz``) must be the whole Authorization value, any other must come as ``Bearer <token>``. With no
token configured every request is refused; the token is compared in constant time and never
logged. ``HEAD`` answers whether the token is right (MinIO checks its target that way at start).
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web

from kfn_gateway import bodies, s3events
from kfn_gateway.keys import EVENTS, METRICS, SETTINGS
from kfn_gateway.outcomes import GatewayError

__all__ = ["s3_webhook", "s3_webhook_check", "authorized"]


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries ``token``. Pure."""
    if not token or not header:
        return False
    expected = token if " " in token else f"Bearer {token}"
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def _check(request: web.Request) -> None:
    if not authorized(request.headers.get("Authorization"), request.app[SETTINGS].s3_webhook_token):
        request.app[METRICS].events_received.labels("s3", "unauthorized").inc()
        raise GatewayError(401, "UnauthorizedException", "missing or wrong token for /events/s3",
                           {"WWW-Authenticate": 'Bearer realm="kfn"'})


async def s3_webhook_check(request: web.Request) -> web.Response:
    _check(request)
    return web.Response(status=200)


async def s3_webhook(request: web.Request) -> web.Response:
    _check(request)
    settings = request.app[SETTINGS]
    body = await bodies.read_bounded(request, settings.events_body_limit)
    try:
        decoded = json.loads(body)
    except ValueError as exc:
        request.app[METRICS].events_received.labels("s3", "rejected").inc()
        raise GatewayError(400, "InvalidRequestContentException", f"body is not JSON: {exc}") from None
    try:
        notification = s3events.parse_notification(decoded)
    except s3events.S3EventError as exc:
        request.app[METRICS].events_received.labels("s3", "rejected").inc()
        raise GatewayError(400, "InvalidRequestContentException", str(exc)) from None
    delivery = await request.app[EVENTS].deliver(notification, "s3")
    result = {"queued": delivery.queued, "invoked": delivery.invoked}
    if delivery.failed:
        # A store retries what was not acknowledged; synchronous triggers that failed ask for that.
        return web.json_response({**result, "failed": delivery.failed}, status=502)
    return web.json_response(result)
