"""Which function an HTTP path belongs to, for Trigger ``http.path`` routes. Pure."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from kfn import api

__all__ = ["HttpRoute", "RouteTable"]


@dataclasses.dataclass(frozen=True)
class HttpRoute:
    path: str
    methods: frozenset[str]
    """Empty means any method."""
    function_key: str
    trigger: str


class RouteTable:
    """Trigger paths, matched on whole segments, longest first (``/a`` serves ``/a`` and ``/a/b``)."""

    def __init__(self, triggers: Iterable[api.Trigger]) -> None:
        routes = []
        for trig in triggers:
            if trig.spec.http is None:
                continue
            routes.append(HttpRoute(path=trig.spec.http.path.rstrip("/"), methods=frozenset(trig.spec.http.methods),
                                    function_key=f"{trig.namespace}/{trig.spec.function}", trigger=trig.name))
        self.routes = sorted(routes, key=lambda r: len(r.path), reverse=True)

    def match(self, path: str) -> HttpRoute | None:
        for route in self.routes:
            if path == route.path or path.startswith(route.path + "/"):
                return route
        return None
