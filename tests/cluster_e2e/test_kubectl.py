"""kubectl against the emulator with the operator and the test kubelet behind it.

Skipped, with the reason, where kubectl is not installed: the same behaviour is asserted through
the API in tests/operator, so this is never the only proof. Asserted: the examples apply as they
are, ``kubectl get functions``/``triggers`` show the printer columns with the operator's status,
and ``kubectl scale function`` reaches the Deployment and shows in the REPLICAS column.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil

import pytest

from tests.k8s.fixtures import CRDS, Cluster, write_kubeconfig
from tests.k8s.kubelet import Kubelet
from tests.k8s.waiting import eventually

KUBECTL = shutil.which("kubectl")
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]


async def kubectl(kubeconfig: pathlib.Path, *args: str) -> str:
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(KUBECTL, f"--kubeconfig={kubeconfig}", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


def table(text: str) -> dict[str, dict[str, str]]:
    header, *rows = [line.split() for line in text.strip().splitlines()]
    return {row[0]: dict(zip(header, row, strict=False)) for row in rows}


async def test_apply_get_and_scale_with_kubectl(cluster: Cluster, operator: None, kubelet: Kubelet,
                                                tmp_path: pathlib.Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    # The emulator serves no OpenAPI documents, which kubectl's client-side validation downloads.
    await kubectl(config, "apply", "--validate=false", "-f", str(CRDS))
    await kubectl(config, "apply", "--validate=false", "-f", str(EXAMPLES / "orders" / "function.yaml"))

    async def listed() -> dict[str, dict[str, str]]:
        rows = table(await kubectl(config, "get", "functions"))
        assert list(rows["echo"]) == ["NAME", "READY", "REPLICAS", "URL", "AGE"], rows
        assert rows["echo"]["READY"] == "True" and rows["echo"]["URL"] == "http://gw.test/fn/default/echo", rows
        assert rows["orders"]["READY"] == "False", rows  # code.path is for kfn dev only
        return rows
    rows = await eventually(listed, timeout=20)
    assert rows["echo"]["REPLICAS"] == "0"
    triggers = table(await kubectl(config, "get", "triggers"))
    assert triggers["orders-http"]["FUNCTION"] == "orders" and triggers["orders-http"]["HTTP"] == "/orders"

    await kubectl(config, "scale", "function", "echo", "--replicas=1")

    async def scaled() -> bool:
        return table(await kubectl(config, "get", "functions"))["echo"]["REPLICAS"] == "1"
    await eventually(scaled, timeout=30)
    assert kubelet.started["default/fn-echo"] == 1
    reason = await kubectl(config, "get", "function", "orders",
                           "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}")
    assert reason == "UnsupportedCodeSource"
