"""The gateway's aiohttp application: routes, handlers and their composition, in one place.

Chain for every request: ``errors`` middleware (maps every refusal to JSON) → route handler →
``Invoker`` (throttle → activator → backend forward → metrics). Routes: Function URLs
(``/fn/…``), Trigger paths, the Lambda Invoke API (``invoke_api``), bucket notifications
(``webhooks``), health and metrics. Bodies are bounded by
``client_max_size`` (Lambda's 6 MB), which answers 413 before a handler sees the body.
"""

from __future__ import annotations

from typing import Callable


import orjson
from aiohttp import web

from kfn import names
from kfn_gateway import events, invoke_api, middlewares, requestids, responses, sns, stats, webhooks
from kfn_gateway.async_dispatch import AsyncDispatcher
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.keys import DISPATCHER, EVENTS, INVOKER, METRICS, READY, ROUTES, SETTINGS
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import SYNC_BODY_LIMIT, GatewaySettings

__all__ = ["build_app"]

URL_TRIGGER = "url"
"""The ``trigger`` label of invocations through ``/fn/{namespace}/{name}`` (the Function URL)."""


async def _invoke_http(request: web.Request, state: FunctionState, trigger: str) -> web.Response:
    await request.app[INVOKER].authorize(state, request.headers)
    body = await request.read()
    request_id = requestids.new()
    raw_path = request.rel_url.raw_path
    req = events.HttpRequest(
        method=request.method, path=raw_path, query_string=request.rel_url.raw_query_string,
        headers=request.headers.items(), body=body, source_ip=request.remote or "", host=request.host,
        protocol=f"HTTP/{request.version.major}.{request.version.minor}")
    # Our own dict of str, int and bool; JSON fell from 55 to 19 µs per request with orjson (bench/RESULTS.md profile).
    payload = orjson.dumps(events.url_event(req, request_id))
    outcome = await request.app[INVOKER].invoke(state, payload, trigger, request_id)
    resp = responses.url_response(outcome)
    headers = [*resp.headers, ("x-amzn-RequestId", request_id)]
    return web.Response(status=resp.status, body=resp.body, headers=headers)


async def function_url(request: web.Request) -> web.Response:
    """``ANY /fn/{namespace}/{name}[/{path}]``: the Function URL of every function."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not (names.is_dns1123_label(namespace) and names.is_dns1123_label(name)):
        raise GatewayError(404, "ResourceNotFoundException", f"Function not found: {namespace}/{name}")
    state = request.app[INVOKER].state(namespace, name)
    return await _invoke_http(request, state, URL_TRIGGER)


async def trigger_route(request: web.Request) -> web.Response:
    """Any other path: a Trigger's ``http.path``, or 404."""
    route = request.app[ROUTES].match(request.rel_url.raw_path)
    if route is None:
        raise GatewayError(404, "ResourceNotFoundException", f"No function is routed at {request.path}")
    if route.methods and request.method not in route.methods and not (
            request.method == "HEAD" and "GET" in route.methods):
        raise GatewayError(405, "MethodNotAllowedException",
                           f"{request.method} is not allowed on {route.path}",
                           {"Allow": ", ".join(sorted(route.methods))})
    namespace, name = route.function_key.split("/", 1)
    state = request.app[INVOKER].state(namespace, name)
    return await _invoke_http(request, state, route.trigger)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return web.json_response({"status": "ok", "functions": len(request.app[INVOKER].states)})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the gateway knows every Function and Trigger (in a cluster: its watches have
    listed once), so it never answers 404 for a function that exists."""
    if not request.app[READY]():
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ready", "functions": len(request.app[INVOKER].states)})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].exposition(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def build_app(*, settings: GatewaySettings, invoker: Invoker, metrics_: Metrics, routes: RouteTable,
              event_router: EventRouter, dispatcher: AsyncDispatcher,
              ready: Callable[[], bool] = lambda: True) -> web.Application:
    app = web.Application(client_max_size=SYNC_BODY_LIMIT, middlewares=[middlewares.errors])
    app[SETTINGS] = settings
    app[INVOKER] = invoker
    app[METRICS] = metrics_
    app[ROUTES] = routes
    app[EVENTS] = event_router
    app[DISPATCHER] = dispatcher
    app[READY] = ready
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/stats", stats.handler(invoker))
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke_api.invoke)
    app.router.add_post("/events/s3", webhooks.s3_webhook)
    app.router.add_route("HEAD", "/events/s3", webhooks.s3_webhook_check)
    app[sns.RECEIVER] = sns.SnsReceiver.from_settings(settings)  # tests replace it to sign with their own key
    app.router.add_post("/events/sns", sns.sns_webhook)
    app.router.add_route("*", "/fn/{namespace}/{name}", function_url)
    app.router.add_route("*", "/fn/{namespace}/{name}/{path:.*}", function_url)
    app.router.add_route("*", "/{path:.*}", trigger_route)
    return app
