"""Typed application keys: how handlers reach the gateway's long-lived parts, without globals."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from kfn_gateway.async_dispatch import AsyncDispatcher
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings

__all__ = ["INVOKER", "METRICS", "ROUTES", "SETTINGS", "EVENTS", "DISPATCHER", "READY"]

INVOKER = web.AppKey("invoker", Invoker)
METRICS = web.AppKey("metrics", Metrics)
ROUTES = web.AppKey("routes", RouteTable)
SETTINGS = web.AppKey("settings", GatewaySettings)
EVENTS = web.AppKey("events", EventRouter)
DISPATCHER = web.AppKey("dispatcher", AsyncDispatcher)
READY: web.AppKey[Callable[[], bool]] = web.AppKey("ready")
"""Whether the gateway may take traffic (``/readyz``)."""
