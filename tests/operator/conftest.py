"""kopf running for real, in-process, against the project's emulator (tests/k8s)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import AsyncIterator

import pytest
from kubernetes_asyncio.client import Configuration

from kfn_operator import running, settings
from tests.k8s.fixtures import Cluster, cluster  # noqa: F401

OPERATOR_ENV = {"KFN_RUNTIME_IMAGE": "kfn-runtime:test", "KFN_GATEWAY_URL": "http://gw.test",
                "KFN_RETRY_DELAY": "0.2", "KFN_AUTOSCALE_INTERVAL": "0.3", "KFN_STATUS_INTERVAL": "0.3",
                "KFN_PORT": "0"}


@dataclasses.dataclass
class Operator:
    settings: settings.OperatorSettings
    url: str
    """Base URL of its health and metrics server."""


@contextlib.asynccontextmanager
async def running_operator(cluster: Cluster, env: dict[str, str]) -> AsyncIterator[Operator]:  # noqa: F811
    config = settings.load_settings(env)
    ready = asyncio.Event()
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(running.run(config, Configuration(host=cluster.url), ready_flag=ready,
                                           listening=url.set_result))
    try:
        async with asyncio.timeout(15):
            await ready.wait()
        yield Operator(config, await url)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[settings.OperatorSettings]:  # noqa: F811 - the fixture above
    async with running_operator(cluster, OPERATOR_ENV) as op:
        yield op.settings
