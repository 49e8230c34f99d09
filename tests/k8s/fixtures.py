"""Fixtures for tests that need a Kubernetes API: the project's emulator on a free port, with
kfn's CRDs registered from ``crds/`` (the same files ``kubectl apply`` gets)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import pathlib
import warnings
from typing import Any, AsyncIterator

import aiohttp
import kmock
import pytest
import yaml

from tests.k8s.emulator import Emulator

__all__ = ["Cluster", "cluster", "CRDS"]

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"


@dataclasses.dataclass
class Cluster:
    """A running emulator, its URL, and a small JSON client for the test's own reads and writes."""

    emulator: Emulator
    url: str
    session: aiohttp.ClientSession

    async def request(self, method: str, path: str, body: Any = None, *, expect: int | None = None,
                      content_type: str = "application/merge-patch+json", **params: str) -> Any:
        headers = {"Content-Type": content_type if method == "PATCH" else "application/json"}
        async with self.session.request(method, self.url + path, json=body, headers=headers, params=params,
                                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
            data = await resp.json(content_type=None)
            if expect is not None:
                assert resp.status == expect, (resp.status, data)
            elif resp.status >= 400:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def maybe_get(self, path: str) -> Any | None:
        async with self.session.get(self.url + path, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return None if resp.status == 404 else await resp.json()

    async def apply(self, obj: dict[str, Any]) -> Any:
        """Create ``obj``, or merge-patch it when it exists (what kubectl apply amounts to)."""
        path = object_path(obj)
        if await self.maybe_get(path) is None:
            return await self.request("POST", path.rsplit("/", 1)[0], obj)
        return await self.request("PATCH", path, obj)


def object_path(obj: dict[str, Any]) -> str:
    group_version, kind = obj["apiVersion"], obj["kind"]
    plural = {"Function": "functions", "Trigger": "triggers", "ConfigMap": "configmaps", "Secret": "secrets",
              "Deployment": "deployments", "Service": "services", "EndpointSlice": "endpointslices"}[kind]
    prefix = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
    namespace = obj["metadata"].get("namespace", "default")
    return f"{prefix}/namespaces/{namespace}/{plural}/{obj['metadata']['name']}"


@functools.cache
def _bundled() -> kmock.ResourcesArray:
    resources = kmock.ResourcesArray()
    with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        resources.load_bundled()
    return resources


def _bundled_resources() -> dict[Any, kmock.ResourceInfo]:
    """The built-in resources, parsed once per session (it takes half a second)."""
    return {res: copy.deepcopy(info) for res, info in _bundled().items()}


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with Emulator() as emulator, kmock.Server(emulator) as server:
        emulator.resources.update(_bundled_resources())
        for path in sorted(CRDS.glob("*.yaml")):
            emulator.register_crd(yaml.safe_load(path.read_text()))
        async with aiohttp.ClientSession() as session:
            yield Cluster(emulator, str(server.url).rstrip("/"), session)


def write_kubeconfig(path: pathlib.Path, server: str) -> pathlib.Path:
    """A kubeconfig for the emulator, as kubectl and kubernetes_asyncio read it."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "emulator",
                      "context": {"cluster": "emulator", "user": "tester", "namespace": "default"}}],
    }))
    return path
