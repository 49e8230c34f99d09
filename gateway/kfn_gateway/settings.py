"""Gateway settings: read once from an environment mapping, validated at start, passed explicitly."""

from __future__ import annotations

import dataclasses
from typing import Mapping

__all__ = ["GatewaySettings", "SettingsError", "load_settings"]

SYNC_BODY_LIMIT = 6 * 1024 * 1024
"""Lambda's synchronous payload limit (6 MB); larger requests get 413."""


class SettingsError(ValueError):
    """A setting is missing or out of range; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    """Address the gateway listens on (``KFN_HOST``)."""
    port: int = 8080
    """Port the gateway listens on, 0 for any free port (``KFN_PORT``)."""
    activation_timeout: float = 30.0
    """Seconds a request may wait for a replica of a function scaling from zero (``KFN_ACTIVATION_TIMEOUT``);
    past it the request gets 503 with the reason."""
    warm_pool_size: int = 2
    """Generic runtime workers kept started and idle, specialised on a function's first request
    (``KFN_WARM_POOL``); 0 starts a fresh process on every cold start."""
    autoscale_interval: float = 1.0
    """Seconds between two autoscaler decisions (``KFN_AUTOSCALE_INTERVAL``)."""
    stable_window: float = 10.0
    """Seconds over which the peak concurrency is remembered before scaling down (``KFN_STABLE_WINDOW``)."""
    forward_grace: float = 2.0
    """Seconds the gateway waits past a function's timeout for its runtime to answer (``KFN_FORWARD_GRACE``)."""
    drain_timeout: float = 10.0
    """Seconds a stopping replica gets to finish in-flight work before it is killed (``KFN_DRAIN_TIMEOUT``)."""
    worker_start_timeout: float = 15.0
    """Seconds a runtime worker process gets to start listening (``KFN_WORKER_START_TIMEOUT``)."""


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be {'an integer' if integer else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low:g} and {high:g}, got {raw}")
    return value


def load_settings(env: Mapping[str, str]) -> GatewaySettings:
    """Build settings from ``env`` (``os.environ`` in production, a dict in tests)."""
    return GatewaySettings(
        host=env.get("KFN_HOST") or GatewaySettings.host,
        port=int(_number(env, "KFN_PORT", GatewaySettings.port, 0, 65535, integer=True)),
        activation_timeout=_number(env, "KFN_ACTIVATION_TIMEOUT", GatewaySettings.activation_timeout, 0.1, 900),
        warm_pool_size=int(_number(env, "KFN_WARM_POOL", GatewaySettings.warm_pool_size, 0, 64, integer=True)),
        autoscale_interval=_number(env, "KFN_AUTOSCALE_INTERVAL", GatewaySettings.autoscale_interval, 0.05, 60),
        stable_window=_number(env, "KFN_STABLE_WINDOW", GatewaySettings.stable_window, 0, 3600),
        forward_grace=_number(env, "KFN_FORWARD_GRACE", GatewaySettings.forward_grace, 0, 60),
        drain_timeout=_number(env, "KFN_DRAIN_TIMEOUT", GatewaySettings.drain_timeout, 0, 900),
        worker_start_timeout=_number(env, "KFN_WORKER_START_TIMEOUT", GatewaySettings.worker_start_timeout, 1, 300),
    )
