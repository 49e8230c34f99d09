"""Choosing the async queue's engine from settings: SQLite on one machine, NATS JetStream in a cluster."""

from __future__ import annotations

import pathlib

from kfn_gateway.queueing import Queue
from kfn_gateway.settings import GatewaySettings
from kfn_gateway.sqlite_queue import SqliteQueue

__all__ = ["make_queue"]


def make_queue(settings: GatewaySettings, *, exclusive: bool) -> Queue:
    """The configured engine. ``exclusive``: this gateway is the queue's only reader (``kfn dev``),
    so leases a killed predecessor held are released at start; cluster gateways share a stream
    and wait for a dead peer's leases to expire instead."""
    if settings.queue == "nats":
        from kfn_gateway import nats_queue  # nats-py is needed only by this engine
        return nats_queue.NatsQueue([u.strip() for u in settings.nats_url.split(",")], exclusive=exclusive)
    return SqliteQueue(pathlib.Path(settings.state_dir) / "queue.sqlite3")
