"""``auth: token`` Functions in a cluster: the gateway reads their Secret, by name, and keeps up with it.

Real: the operator, the gateway (kubernetes backend) and runtime processes started by the test
kubelet, against the project's API emulator. Asserted: requests without one of the Secret's
tokens are refused with 401 and start no pod; one with a token is served, on the Function URL,
a Trigger path and the Invoke API; a rotated token counts, and a revoked one stops counting,
within KFN_TOKEN_REFRESH; a deleted Secret refuses everyone; a flood of refused requests reads
the Secret once per refresh, not once per request.
"""

from __future__ import annotations

import asyncio
import base64
import pathlib
import time

import aiohttp
import pytest

from tests.cluster_e2e.conftest import gateway
from tests.k8s.fixtures import Cluster
from tests.k8s.kubelet import Kubelet
from tests.k8s.waiting import eventually
from tests.operator.conftest import OPERATOR_ENV, running_operator

pytestmark = pytest.mark.e2e

NS = "/api/v1/namespaces/default"
FN = "/apis/kfn.dev/v1alpha1/namespaces/default/functions"
TRIGGERS = "/apis/kfn.dev/v1alpha1/namespaces/default/triggers"
CODE = "def handler(event, context):\n    return {'ok': True}\n"


def secret(**tokens: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hello-tokens"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in tokens.items()}}


def secret_reads(cluster: Cluster) -> int:
    return sum(1 for r in list(cluster.emulator) if str(r.method.value) == "GET" and r.resource is not None
               and r.resource.plural == "secrets" and r.name == "hello-tokens")


async def test_token_functions_in_a_cluster(cluster: Cluster, kubelet: Kubelet, tmp_path: pathlib.Path) -> None:
    await cluster.request("POST", f"{NS}/secrets", secret(ci="s3cret", human="other-token"))
    async with gateway(cluster, tmp_path / "gw", KFN_TOKEN_REFRESH="0.3") as gw, \
            running_operator(cluster, OPERATOR_ENV | {"KFN_GATEWAY_STATS_URLS": gw.url, "KFN_STABLE_WINDOW": "0"}), \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await cluster.request("POST", FN, {
            "apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "hello"},
            "spec": {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": CODE},
                     "auth": {"type": "token", "secretName": "hello-tokens"},
                     "scaling": {"maxReplicas": 1, "scaleToZeroAfterSeconds": 30}}})
        await cluster.request("POST", TRIGGERS, {"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger",
                                                 "metadata": {"name": "hello-http"},
                                                 "spec": {"function": "hello", "http": {"path": "/hello"}}})

        async def known() -> bool:
            deployed = await cluster.maybe_get("/apis/apps/v1/namespaces/default/deployments/fn-hello")
            return deployed is not None and "default/hello" in gw.states and gw.backend.routes.match("/hello") is not None
        await eventually(known)

        async def status(path: str, token: str | None = None, header: str = "Authorization") -> int:
            headers = {header: f"Bearer {token}"} if token else {}
            async with session.post(gw.url + path, data=b"{}", headers=headers) as resp:
                await resp.read()
                return resp.status

        reads_before, began = secret_reads(cluster), time.monotonic()
        refused = await asyncio.gather(*(status("/fn/default/hello", t) for t in [None, "wrong", "S3CRET"] * 30))
        assert set(refused) == {401}
        # One read per refresh (0.3 s) at most, however slow the machine, not one per request (90).
        assert secret_reads(cluster) - reads_before <= 2 + (time.monotonic() - began) / 0.3
        scale = await cluster.get("/apis/apps/v1/namespaces/default/deployments/fn-hello/scale")
        assert scale["spec"]["replicas"] == 0  # a refused request starts nothing

        assert await status("/fn/default/hello", "s3cret") == 200
        assert await status("/hello", "other-token") == 200
        assert await status("/2015-03-31/functions/hello/invocations", "s3cret", "X-Kfn-Authorization") == 200
        assert await status("/2015-03-31/functions/hello/invocations") == 401

        # Rotation: the new token counts, the old one stops counting, within the refresh time.
        await cluster.request("PATCH", f"{NS}/secrets/hello-tokens",
                              {"data": {"ci": base64.b64encode(b"rotated").decode()}})

        async def rotated() -> bool:
            return (await status("/fn/default/hello", "rotated"), await status("/fn/default/hello", "s3cret")) == (200, 401)
        await eventually(rotated, timeout=10)

        await cluster.request("DELETE", f"{NS}/secrets/hello-tokens")

        async def revoked() -> bool:
            return await status("/fn/default/hello", "rotated") == 401
        await eventually(revoked, timeout=10)
        assert await status("/hello", "other-token") == 401
