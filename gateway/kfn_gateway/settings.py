"""Gateway settings: read once from an environment mapping, validated at start, passed explicitly."""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping

from kfn.envconfig import SettingsError
from kfn.envconfig import choice as _choice
from kfn.envconfig import flag as _flag
from kfn.envconfig import number as _number

__all__ = ["GatewaySettings", "SettingsError", "load_settings"]

SYNC_BODY_LIMIT = 6 * 1024 * 1024
"""Lambda's synchronous payload limit (6 MB); larger requests get 413."""
ASYNC_BODY_LIMIT = 256 * 1024
"""Lambda's asynchronous payload limit (256 KB); larger Event invocations get 413."""


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
    state_dir: str = ".kfn"
    """Where ``kfn dev`` keeps its durable async queue (``KFN_STATE_DIR``), relative to the working directory."""
    s3_webhook_token: str | None = dataclasses.field(default=None, repr=False)
    """The token S3-compatible stores must send on ``/events/s3`` (``KFN_S3_WEBHOOK_TOKEN``; MinIO's
    ``auth_token``): ``Bearer <token>``, or the whole Authorization value when it has a space.
    Unset, the endpoint refuses every request."""
    events_body_limit: int = 1024 * 1024
    """Largest notification body an event endpoint reads, bytes (``KFN_EVENTS_BODY_LIMIT``); larger → 413."""
    async_retry_base: float = 1.0
    """Seconds before the first retry of a failed async invocation, doubled each time (``KFN_ASYNC_RETRY_BASE``)."""
    log_format: str = "text"
    """``text`` or ``json`` (``KFN_LOG_FORMAT``); JSON adds one line per invocation with its request id."""
    async_retry_max: float = 300.0
    """Longest wait between two async attempts, seconds (``KFN_ASYNC_RETRY_MAX``)."""
    queue: str = "sqlite"
    """The durable queue of async invocations (``KFN_QUEUE``): ``sqlite`` (a file under ``state_dir``,
    the embedded default) or ``nats`` (a NATS JetStream server at ``nats_url``)."""
    nats_url: str = dataclasses.field(default="nats://127.0.0.1:4222", repr=False)
    """The NATS server(s) of the ``nats`` queue (``KFN_NATS_URL``): ``nats://`` or ``tls://`` URLs,
    comma-separated for a cluster; may carry ``user:password@``, so it is never printed."""
    sns_topics: tuple[str, ...] = ()
    """SNS topic ARNs whose messages ``/events/sns`` accepts and whose subscriptions it confirms
    (``KFN_SNS_TOPICS``, comma-separated; ``*`` accepts any topic). Empty, every SNS message is
    refused with 403 and no subscription is confirmed."""
    sns_verify: bool = True
    """Whether SNS message signatures are verified (``KFN_SNS_VERIFY``, ``1``/``0``). Only S3-compatible
    emulators that cannot sign (moto) need ``0``; then confirmation URLs may be any http(s) URL."""


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
        state_dir=env.get("KFN_STATE_DIR") or GatewaySettings.state_dir,
        s3_webhook_token=_token(env, "KFN_S3_WEBHOOK_TOKEN"),
        events_body_limit=int(_number(env, "KFN_EVENTS_BODY_LIMIT", GatewaySettings.events_body_limit, 1024,
                                      SYNC_BODY_LIMIT, integer=True)),
        async_retry_base=_number(env, "KFN_ASYNC_RETRY_BASE", GatewaySettings.async_retry_base, 0.001, 3600),
        log_format=_choice(env, "KFN_LOG_FORMAT", ("text", "json"), GatewaySettings.log_format),
        async_retry_max=_number(env, "KFN_ASYNC_RETRY_MAX", GatewaySettings.async_retry_max, 0.001, 3600),
        queue=_choice(env, "KFN_QUEUE", ("sqlite", "nats"), GatewaySettings.queue),
        nats_url=_nats_url(env, "KFN_NATS_URL", GatewaySettings.nats_url),
        sns_topics=_topics(env, "KFN_SNS_TOPICS"),
        sns_verify=_flag(env, "KFN_SNS_VERIFY", GatewaySettings.sns_verify),
    )


NATS_URL = re.compile(r"^(nats|tls)://([^\s/@,]+@)?[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?$")


def _nats_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    for i, url in enumerate(raw.split(",")):
        if not NATS_URL.fullmatch(url.strip()):  # the value is not echoed: it may hold a password
            raise SettingsError(f"{name}: URL {i + 1} is not a nats:// or tls:// URL (nats://HOST:PORT)")
    return raw


def _token(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    if raw != raw.strip() or "\n" in raw:
        raise SettingsError(f"{name}: must not have surrounding whitespace or newlines")
    return raw


SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")


def _topics(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    topics = tuple(t.strip() for t in raw.split(",") if t.strip())
    for topic in topics:
        if topic != "*" and not SNS_TOPIC_ARN.fullmatch(topic):
            raise SettingsError(f"{name}: {topic!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or *")
    return topics
