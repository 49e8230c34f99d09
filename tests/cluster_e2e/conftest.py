"""Operator + gateways (kubernetes backend) + the test kubelet, all against one emulator.

Real: kopf and the operator's handlers, the gateway application with its kubernetes backend,
the runtime processes that serve the invocations, HTTP everywhere. Emulated: the API server
(tests/k8s/emulator.py) and the controllers and kubelets behind it (tests/k8s/kubelet.py).
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import AsyncIterator

import pytest
from kubernetes_asyncio.client import Configuration

from kfn_gateway import cluster as gateway_cluster
from kfn_gateway import settings as gateway_settings
from tests.k8s.fixtures import Cluster, cluster  # noqa: F401
from tests.k8s.kubelet import Kubelet
from tests.operator.conftest import OPERATOR_ENV, running_operator


@contextlib.asynccontextmanager
async def gateway(cluster: Cluster, state_dir: pathlib.Path,  # noqa: F811
                  **env: str) -> AsyncIterator[gateway_cluster.Gateway]:
    env = {"KFN_PORT": "0", "KFN_ACTIVATION_TIMEOUT": "20", "KFN_STATE_DIR": str(state_dir), **env}
    settings = gateway_settings.load_settings(env)
    state_dir.mkdir(parents=True, exist_ok=True)
    async with gateway_cluster.running(settings, gateway_cluster.load_cluster_settings(env),
                                       Configuration(host=cluster.url)) as gw:
        await gw.backend.synced()
        yield gw


@pytest.fixture
async def kubelet(cluster: Cluster, tmp_path: pathlib.Path) -> AsyncIterator[Kubelet]:  # noqa: F811
    async with Kubelet(cluster, tmp_path / "pods") as k:
        yield k


@pytest.fixture
async def gateways(cluster: Cluster, tmp_path: pathlib.Path) -> AsyncIterator[list[gateway_cluster.Gateway]]:  # noqa: F811
    (tmp_path / "pods").mkdir(exist_ok=True)
    async with gateway(cluster, tmp_path / "gw1") as one, gateway(cluster, tmp_path / "gw2") as two:
        yield [one, two]


@pytest.fixture
async def operator(cluster: Cluster, gateways: list[gateway_cluster.Gateway]) -> AsyncIterator[None]:  # noqa: F811
    env = {**OPERATOR_ENV, "KFN_GATEWAY_STATS_URLS": ",".join(g.url for g in gateways),
           "KFN_STABLE_WINDOW": "0", "KFN_AUTOSCALE_INTERVAL": "0.3"}
    async with running_operator(cluster, env):
        yield
