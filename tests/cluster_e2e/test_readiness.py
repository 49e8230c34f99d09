"""The cluster gateway is ready only once it knows every Function and Trigger.

Real: the gateway (kubernetes backend) against the project's API emulator, and against an
address where no API server listens. Asserted: before its watches have listed once, ``/readyz``
answers 503 while ``/healthz`` (liveness) answers 200, so a new replica takes no traffic it would
answer 404 for a Function that exists; after they listed, ``/readyz`` answers 200 and the
Function is served.
"""

from __future__ import annotations

import pathlib
import socket

import aiohttp
import pytest
from kubernetes_asyncio.client import Configuration

from kfn_gateway import cluster as gateway_cluster
from kfn_gateway import settings as gateway_settings
from tests.k8s.fixtures import Cluster
from tests.k8s.waiting import eventually

pytestmark = pytest.mark.e2e


async def status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        await resp.read()
        return resp.status


async def test_not_ready_until_the_watches_have_listed(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: connections refused
        env = {"KFN_PORT": "0", "KFN_STATE_DIR": str(tmp_path / "a"), "KFN_API_TIMEOUT": "1"}
        (tmp_path / "a").mkdir()
        async with gateway_cluster.running(gateway_settings.load_settings(env), gateway_cluster.load_cluster_settings(env),
                                           Configuration(host=nowhere)) as gw, aiohttp.ClientSession() as session:
            assert await status(session, f"{gw.url}/healthz") == 200
            assert await status(session, f"{gw.url}/readyz") == 503

    await cluster.request("POST", "/apis/kfn.dev/v1alpha1/namespaces/default/functions", {
        "apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "hello"},
        "spec": {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": "x = 1"}}})
    env = {"KFN_PORT": "0", "KFN_STATE_DIR": str(tmp_path / "b")}
    (tmp_path / "b").mkdir()
    async with gateway_cluster.running(gateway_settings.load_settings(env), gateway_cluster.load_cluster_settings(env),
                                       Configuration(host=cluster.url)) as gw, aiohttp.ClientSession() as session:
        async def ready() -> bool:
            return await status(session, f"{gw.url}/readyz") == 200
        await eventually(ready)
        assert "default/hello" in gw.states  # ready means it knows the Function already
