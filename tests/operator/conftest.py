"""kopf running for real, in-process, against the project's emulator (tests/k8s)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest
from kubernetes_asyncio.client import Configuration

from kfn_operator import running, settings
from tests.k8s.fixtures import Cluster, cluster  # noqa: F401

OPERATOR_ENV = {"KFN_RUNTIME_IMAGE": "kfn-runtime:test", "KFN_GATEWAY_URL": "http://gw.test",
                "KFN_RETRY_DELAY": "0.2", "KFN_AUTOSCALE_INTERVAL": "0.3", "KFN_STATUS_INTERVAL": "0.3"}


@contextlib.asynccontextmanager
async def run_operator(cluster: Cluster, env: dict[str, str]) -> AsyncIterator[settings.OperatorSettings]:  # noqa: F811
    config = settings.load_settings(env)
    ready = asyncio.Event()
    task = asyncio.create_task(running.run(config, Configuration(host=cluster.url), ready_flag=ready))
    try:
        async with asyncio.timeout(15):
            await ready.wait()
        yield config
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[settings.OperatorSettings]:  # noqa: F811 - the fixture above
    async with run_operator(cluster, OPERATOR_ENV) as config:
        yield config
