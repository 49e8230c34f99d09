"""Operator settings: read once from an environment mapping, validated at start, passed explicitly.

Nothing else in the operator reads ``os.environ``; ``kfn operator`` passes it in, tests pass a dict.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from typing import Mapping

from kfn.envconfig import SettingsError
from kfn.envconfig import choice as _choice
from kfn.envconfig import number as _number

from kfn import names

__all__ = ["OperatorSettings", "SettingsError", "load_settings", "DEFAULT_RUNTIME_IMAGE"]

DEFAULT_RUNTIME_IMAGE = "ghcr.io/kfn-dev/kfn-runtime:0.1.0"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorSettings:
    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    """Image of the function pods (``KFN_RUNTIME_IMAGE``); a Function's ``code.image`` replaces it."""
    namespaces: tuple[str, ...] = ()
    """Namespaces watched (``KFN_NAMESPACES``, comma-separated); empty means the whole cluster."""
    log_format: str = "text"
    """``text`` or ``json`` (``KFN_LOG_FORMAT``): JSON lines for log pipelines."""
    gateway_url: str = "http://kfn-gateway.kfn-system.svc"
    """Public base URL of the gateway, for ``status.url`` (``KFN_GATEWAY_URL``)."""
    stats_urls: tuple[str, ...] = ()
    """Base URLs of every gateway replica whose ``GET /stats`` feeds the autoscaler
    (``KFN_GATEWAY_STATS_URLS``, comma-separated); empty disables load-based scaling, so
    functions stay at ``minReplicas`` plus whatever the activators ask for."""
    stats_dns: tuple[str, int] | None = None
    """A DNS name and port whose addresses are the gateway replicas (``KFN_GATEWAY_STATS_DNS``,
    ``host:port``; the chart gives the gateway's headless Service, which resolves to its ready
    pods), resolved before every read, so replicas added or removed are read without a restart.
    Read together with ``stats_urls``."""
    autoscale_interval: float = 2.0
    """Seconds between two autoscaler decisions for a function (``KFN_AUTOSCALE_INTERVAL``)."""
    stable_window: float = 30.0
    """Seconds over which the peak in-flight is remembered before scaling down (``KFN_STABLE_WINDOW``)."""
    stats_timeout: float = 2.0
    """Seconds one ``GET /stats`` may take; a gateway that does not answer skips the decision
    (``KFN_STATS_TIMEOUT``): the autoscaler never scales down on missing data."""
    api_timeout: float = 10.0
    """Seconds one Kubernetes API call of the operator's own may take (``KFN_API_TIMEOUT``)."""
    retry_delay: float = 10.0
    """Seconds before a Function or Trigger that cannot be reconciled yet is tried again
    (a missing Secret, its Function not created yet) (``KFN_RETRY_DELAY``)."""
    status_interval: float = 5.0
    """Seconds between two refreshes of a Function's replica counts in its status (``KFN_STATUS_INTERVAL``)."""
    run_as_user: int = 65532
    """UID of the function containers (``KFN_RUN_AS_USER``); never 0, the pods run as non-root."""
    host: str = "127.0.0.1"
    """Address of the health and metrics server (``KFN_HOST``); the chart sets ``0.0.0.0``."""
    port: int = 8081
    """Port of the health and metrics server (``KFN_PORT``), 0 for any free port."""


def _url(name: str, raw: str) -> str:
    parsed = urllib.parse.urlsplit(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{name}: {raw!r} is not an http(s) URL")
    return raw.rstrip("/")


def _host(raw: str) -> str:
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        if raw != "localhost":
            raise SettingsError(f"KFN_HOST: {raw!r} is not an IP address") from None
    return raw


def _host_port(name: str, raw: str) -> tuple[str, int] | None:
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in "/ @"):
        raise SettingsError(f"{name}: {raw!r} is not host:port (a DNS name or an IP address, and a port)")
    return host, int(port)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def load_settings(env: Mapping[str, str]) -> OperatorSettings:
    """Build settings from ``env`` (``os.environ`` in production, a dict in tests)."""
    image = env.get("KFN_RUNTIME_IMAGE", "").strip() or DEFAULT_RUNTIME_IMAGE
    if any(c.isspace() for c in image):
        raise SettingsError(f"KFN_RUNTIME_IMAGE: {image!r} is not an image reference")
    namespaces = _list(env, "KFN_NAMESPACES")
    for ns in namespaces:
        problem = names.dns1123_error(ns)
        if problem:
            raise SettingsError(f"KFN_NAMESPACES: {ns!r} {problem}")
    gateway_url = _url("KFN_GATEWAY_URL", env.get("KFN_GATEWAY_URL", "").strip() or OperatorSettings.gateway_url)
    stats_urls = tuple(_url("KFN_GATEWAY_STATS_URLS", u) for u in _list(env, "KFN_GATEWAY_STATS_URLS"))
    return OperatorSettings(
        log_format=_choice(env, "KFN_LOG_FORMAT", ("text", "json"), "text"),
        runtime_image=image,
        namespaces=namespaces,
        gateway_url=gateway_url,
        stats_urls=stats_urls,
        stats_dns=_host_port("KFN_GATEWAY_STATS_DNS", env.get("KFN_GATEWAY_STATS_DNS", "").strip()),
        autoscale_interval=_number(env, "KFN_AUTOSCALE_INTERVAL", OperatorSettings.autoscale_interval, 0.1, 600),
        stable_window=_number(env, "KFN_STABLE_WINDOW", OperatorSettings.stable_window, 0, 3600),
        stats_timeout=_number(env, "KFN_STATS_TIMEOUT", OperatorSettings.stats_timeout, 0.1, 60),
        api_timeout=_number(env, "KFN_API_TIMEOUT", OperatorSettings.api_timeout, 0.5, 300),
        retry_delay=_number(env, "KFN_RETRY_DELAY", OperatorSettings.retry_delay, 0.1, 3600),
        status_interval=_number(env, "KFN_STATUS_INTERVAL", OperatorSettings.status_interval, 0.1, 600),
        host=_host(env.get("KFN_HOST", "").strip() or OperatorSettings.host),
        port=int(_number(env, "KFN_PORT", OperatorSettings.port, 0, 65535, integer=True)),
        run_as_user=int(_number(env, "KFN_RUN_AS_USER", OperatorSettings.run_as_user, 1, 2**31 - 1, integer=True)),
    )
