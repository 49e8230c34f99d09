"""``kfn operator`` and ``kfn gateway --backend kubernetes`` as real processes, from a kubeconfig.

Faked: the API server (the emulator) and its controllers. Asserted: both commands load a
kubeconfig, reach the API, and do their part (the operator makes the Deployment and the status,
the gateway serves the function's stats and a 503 naming why it cannot start a pod without a
kubelet behind the emulator); both stop cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import socket
import sys
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.k8s.fixtures import Cluster, write_kubeconfig
from tests.k8s.waiting import eventually

FN = "/apis/kfn.dev/v1alpha1/namespaces/default/functions"


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, log: pathlib.Path) -> None:
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return int(self.proc.returncode or 0)


@pytest.fixture
async def kfn(cluster: Cluster, tmp_path: pathlib.Path) -> AsyncIterator[object]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    started: list[Process] = []

    async def start(*args: str, **env: str) -> Process:
        log = tmp_path / f"{args[0]}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KFN_", "KUBERNETES_"))}
        full_env.update({"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1", **env})
        with open(log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kfn", *args, env=full_env,
                                                        stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL)
        started.append(Process(proc, log))
        return started[-1]

    yield start
    codes = await asyncio.gather(*(process.stop() for process in started))
    for process, code in zip(started, codes, strict=True):
        assert code == 0, process.output()[-3000:]


@pytest.mark.e2e
async def test_operator_and_gateway_commands(cluster: Cluster, kfn: object, tmp_path: pathlib.Path) -> None:
    start = kfn  # type: ignore[assignment]
    gateway = await start("gateway", "--backend", "kubernetes", "--port", "0",  # type: ignore[operator]
                          KFN_ACTIVATION_TIMEOUT="1", KFN_STATE_DIR=str(tmp_path / "state"),
                          KFN_SHUTDOWN_DELAY="2")
    operator = await start("operator", KFN_RETRY_DELAY="0.2", KFN_PORT="0")  # type: ignore[operator]
    await cluster.request("POST", FN, {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function",
                                       "metadata": {"name": "hello"},
                                       "spec": {"runtime": "python3.12", "handler": "app.handler",
                                                "code": {"inline": "def handler(e, c):\n    return 1\n"}}})

    async def deployed() -> bool:
        fn = await cluster.get(f"{FN}/hello")
        conditions = (fn.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    await eventually(deployed, timeout=30)
    deployment = await cluster.maybe_get("/apis/apps/v1/namespaces/default/deployments/fn-hello")
    assert deployment is not None, operator.output()

    def banner(process: Process, pattern: str) -> Callable[[], Awaitable[str]]:
        async def found() -> str:
            match = re.search(pattern, process.output())
            assert match, process.output()
            return match.group(1)
        return found
    url = await eventually(banner(gateway, r"kfn gateway on (http://\S+)"), timeout=30)
    operator_url = await eventually(banner(operator, r"health and metrics on (http://\S+)"))
    async with cluster.session.get(f"{operator_url}/readyz") as resp:
        assert resp.status == 200
    async with cluster.session.get(f"{operator_url}/metrics") as resp:
        assert 'kfn_operator_reconciliations_total{kind="Function",reason="Deployed"}' in await resp.text()

    async def serves() -> bool:
        async with cluster.session.get(f"{url}/stats", timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return "default/hello" in (await resp.json())["functions"]
    await eventually(serves)
    # No kubelet behind the emulator: the activator scales the Deployment, no pod comes, 503 says so.
    async with cluster.session.post(f"{url}/fn/default/hello", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        body = await resp.json()
    assert resp.status == 503 and "no ready replica" in body["errorMessage"], body
    assert (await cluster.get("/apis/apps/v1/namespaces/default/deployments/fn-hello/scale"))["spec"]["replicas"] >= 1

    # SIGTERM: not ready at once, still serving for KFN_SHUTDOWN_DELAY (endpoints are removed
    # meanwhile in a cluster), then a clean exit.
    async with cluster.session.get(f"{url}/readyz") as resp:
        assert resp.status == 200
    gateway.proc.send_signal(signal.SIGTERM)

    async def draining() -> bool:
        async with cluster.session.get(f"{url}/readyz") as resp:
            return resp.status == 503
    await eventually(draining, timeout=5)
    async with cluster.session.get(f"{url}/stats") as resp:
        assert resp.status == 200  # still serving
    assert await asyncio.wait_for(gateway.proc.wait(), 15) == 0
    assert "not ready, still serving for 2s" in gateway.output()


@pytest.mark.e2e
async def test_operator_refuses_a_port_in_use(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KFN_", "KUBERNETES_"))}
        env |= {"KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", cluster.url)), "KFN_PORT": str(port)}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kfn", "operator", env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, (out, err)
    assert f"cannot listen on 127.0.0.1:{port} (KFN_HOST, KFN_PORT)" in err.decode(), err
