"""Fixtures shared by several test folders."""

from __future__ import annotations

import pathlib
from typing import Iterator

import pytest

from tests.queue.nats_server import NatsServer


@pytest.fixture
def nats_server(tmp_path: pathlib.Path) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on a free port, stopped by PID after the test."""
    server = NatsServer(tmp_path / "jetstream", tmp_path / "nats-server.log")
    try:
        yield server
    finally:
        server.stop()
