"""An authorizing front for the emulator: the API server's RBAC check, from the chart's own rules.

The emulator authorizes nothing. This proxy sits between it and the components: a request with a
known bearer token is allowed only when the rendered Role/ClusterRole bound to that component
grants its (apiGroup, resource, verb) in its scope — a Role only in its own namespace — and is
refused with 403 Forbidden otherwise, as kube-apiserver does. Discovery paths are open to every
authenticated user, as the ``system:discovery`` ClusterRole makes them. Requests without one of
the known tokens (the test's own, the test kubelet's) pass unchecked. Responses, watches included,
stream through unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

__all__ = ["Grant", "ApiRequest", "parse", "verb", "AuthorizingProxy"]

Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a token may do: (group, resource, verb) triples, everywhere or in one namespace."""

    permissions: frozenset[tuple[str, str, str]]
    namespace: str | None
    """None: a ClusterRole through a ClusterRoleBinding; else a RoleBinding's namespace."""


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    group: str
    resource: str
    """With its subresource: ``deployments/scale``."""
    namespace: str | None
    name: str | None


def parse(path: str) -> ApiRequest | None:
    """The resource a request path names; None for discovery and other non-resource paths."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    return ApiRequest(group, plural + (f"/{sub}" if sub else ""), namespace, name)


def verb(method: str, name: str | None, query: Any) -> str:
    if method == "GET":
        if name is None:
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return "get"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[method]


class AuthorizingProxy:
    def __init__(self, upstream: str, grants: dict[str, Grant]) -> None:
        self.upstream = upstream.rstrip("/")
        self.grants = grants
        self.denied: list[tuple[str, str, str, str, str | None]] = []
        """(token, group, resource, verb, namespace) of every refused request."""
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> "AuthorizingProxy":
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # A client that goes away cancels its request (a watch would otherwise wait on the emulator).
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None and self.session is not None
        await self.runner.cleanup()
        await self.session.close()

    def allowed(self, token: str, method: str, path: str, query: Any) -> bool:
        grant = self.grants[token]
        request = parse(path)
        if request is None:
            return True
        wanted = (request.group, request.resource, verb(method, request.name, query))
        if wanted not in grant.permissions:
            return False
        return grant.namespace is None or request.namespace == grant.namespace

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.grants and not self.allowed(token, request.method, request.path, request.query):
            parsed = parse(request.path)
            assert parsed is not None
            self.denied.append((token, parsed.group, parsed.resource,
                                verb(request.method, parsed.name, request.query), parsed.namespace))
            return web.json_response({
                "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                "message": f'{parsed.resource} is forbidden: User "system:serviceaccount:{token}" cannot '
                           f'{verb(request.method, parsed.name, request.query)} resource "{parsed.resource}"'},
                status=403)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.session.request(request.method, self.upstream + request.path_qs, headers=headers,
                                        data=await request.read(),
                                        timeout=aiohttp.ClientTimeout(total=None)) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")})
            await response.prepare(request)
            async for chunk in _chunks(upstream):
                await response.write(chunk)
            await response.write_eof()
            return response


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, ConnectionResetError):
        return
