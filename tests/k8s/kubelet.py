"""A test "kubelet" for function Deployments: real runtime processes as pods, EndpointSlices for them.

The emulator has no controllers. This plays the deployment controller, the kubelet and the
EndpointSlice controller for Deployments labelled ``kfn.dev/function``, from the API only:

- for each replica ``spec.replicas`` asks for, it starts ``python -m kfn_runtime`` with the pod
  template's environment (``valueFrom`` resolved from the emulator's Secrets and ConfigMaps), its
  ``code`` ConfigMap volume written to a directory that stands for ``/var/task``, and the port
  the process picked (reported through ``KFN_READY_FD``, so there is no port race);
- a pod is ready when its runtime answers ``GET /healthz`` (the readiness probe), and then gets
  an EndpointSlice with the Service's labels (as the real controller copies them), address
  127.0.0.1 and its port (one slice per pod, since every pod listens on its own port);
- a changed pod template replaces the pods (a rollout); fewer replicas stop pods (SIGTERM, then
  SIGKILL) and delete their slices first, as a terminating pod leaves its endpoints;
- the Deployment's status (replicas, readyReplicas, updatedReplicas, availableReplicas,
  observedGeneration) is written after every change.

Each pod's stdout/stderr go to a file under the log directory, for failure messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import pathlib
import signal
import sys
from typing import Any

import aiohttp

from tests.k8s.fixtures import Cluster

__all__ = ["Kubelet", "Pod"]

LABEL = "kfn.dev/function"
READY_TIMEOUT = 20.0
Obj = dict[str, Any]


class Pod:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, port: int, template_hash: str,
                 log: pathlib.Path) -> None:
        self.name, self.proc, self.port, self.template_hash, self.log = name, proc, port, template_hash, log
        self.ready = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self, grace: float = 5.0) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


class Kubelet:
    def __init__(self, cluster: Cluster, workdir: pathlib.Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.pods: dict[str, list[Pod]] = {}
        self.started: dict[str, int] = {}
        """Pods ever started per Deployment key: what tests count cold starts with."""
        self.dirty: dict[str, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.ids = itertools.count(1)

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "Kubelet":
        self.tasks.append(asyncio.create_task(self._watch()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(pod.stop(2.0) for pods in self.pods.values() for pod in pods))

    def logs(self) -> str:
        """Every pod's output, for assertion messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.workdir.glob("*.log")))

    async def _watch(self) -> None:
        path = "/apis/apps/v1/deployments"
        params = {"watch": "true", "labelSelector": LABEL}
        async with self.cluster.session.get(self.cluster.url + path, params=params,
                                            timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                meta = event["object"]["metadata"]
                key = f"{meta['namespace']}/{meta['name']}"
                if key not in self.dirty:
                    self.dirty[key] = asyncio.Event()
                    self.tasks.append(asyncio.create_task(self._loop(key)))
                self.dirty[key].set()

    async def _loop(self, key: str) -> None:
        while True:
            await self.dirty[key].wait()
            self.dirty[key].clear()
            await self._reconcile(key)

    # --- reconciling -------------------------------------------------------------------------

    def _paths(self, key: str) -> tuple[str, str]:
        namespace, name = key.split("/")
        return namespace, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

    async def _reconcile(self, key: str) -> None:
        namespace, path = self._paths(key)
        deployment = await self.cluster.maybe_get(path)
        pods = self.pods.setdefault(key, [])
        if deployment is None:
            await self._stop(key, list(pods))
            return
        template = deployment["spec"]["template"]
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        stale = [p for p in pods if p.template_hash != template_hash or p.proc.returncode is not None]
        await self._stop(key, stale)
        wanted = int(deployment["spec"].get("replicas") or 0)
        extra = pods[wanted:]
        await self._stop(key, extra)
        for _ in range(wanted - len(pods)):
            pod = await self._start(namespace, deployment, template_hash)
            pods.append(pod)
            self.started[key] = self.started.get(key, 0) + 1
            await self._publish(namespace, deployment, pod)
        await self._status(path, deployment, pods)

    async def _stop(self, key: str, pods: list[Pod]) -> None:
        namespace = key.split("/")[0]
        for pod in pods:
            self.pods[key].remove(pod)
            await self.cluster.request(
                "DELETE", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{pod.name}")
        await asyncio.gather(*(pod.stop() for pod in pods))

    async def _status(self, path: str, deployment: Obj, pods: list[Pod]) -> None:
        ready = sum(1 for p in pods if p.ready)
        status = {"observedGeneration": deployment["metadata"].get("generation", 1), "replicas": len(pods),
                  "readyReplicas": ready, "updatedReplicas": len(pods), "availableReplicas": ready}
        if {k: (deployment.get("status") or {}).get(k) for k in status} != status:
            await self.cluster.request("PATCH", f"{path}/status", {"status": status})

    # --- pods --------------------------------------------------------------------------------

    async def _env(self, namespace: str, container: Obj) -> dict[str, str]:
        env: dict[str, str] = {}
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = var["value"]
                continue
            source = var["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = await self.cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{ref['name']}")
                env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
            else:
                ref = source["configMapKeyRef"]
                configmap = await self.cluster.get(f"/api/v1/namespaces/{namespace}/configmaps/{ref['name']}")
                env[var["name"]] = configmap["data"][ref["key"]]
        return env

    async def _mount_code(self, namespace: str, pod_spec: Obj, task_root: pathlib.Path) -> None:
        task_root.mkdir(parents=True)
        for volume in pod_spec.get("volumes") or []:
            if volume["name"] != "code" or "configMap" not in volume:
                continue
            source = volume["configMap"]
            configmap = await self.cluster.get(f"/api/v1/namespaces/{namespace}/configmaps/{source['name']}")
            data = configmap.get("data") or {}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                target = task_root / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[item["key"]])

    async def _start(self, namespace: str, deployment: Obj, template_hash: str) -> Pod:
        pod_spec = deployment["spec"]["template"]["spec"]
        [container] = pod_spec["containers"]
        name = f"{deployment['metadata']['name']}-{template_hash[:5]}-{next(self.ids)}"
        task_root = self.workdir / name / "task"
        await self._mount_code(namespace, pod_spec, task_root)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KFN_", "AWS_", "LAMBDA_", "_HANDLER"))}
        env.update(await self._env(namespace, container))
        read_fd, write_fd = os.pipe()
        env.update({"LAMBDA_TASK_ROOT": str(task_root), "KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": "0",
                    "KFN_READY_FD": str(write_fd), "KFN_PARENT_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1"})
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kfn_runtime", env=env, cwd=task_root, stdout=out, stderr=out,
                stdin=asyncio.subprocess.DEVNULL, pass_fds=(write_fd,))
        os.close(write_fd)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(_read_line, read_fd), READY_TIMEOUT)
        finally:
            os.close(read_fd)
        if not line:
            await proc.wait()
            raise AssertionError(f"pod {name} exited ({proc.returncode}) before listening:\n{log.read_text()}")
        pod = Pod(name, proc, int(json.loads(line)["port"]), template_hash, log)
        await self._probe(pod)
        return pod

    async def _probe(self, pod: Pod) -> None:
        """The readiness probe: ``GET /healthz`` until 200."""
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with self.cluster.session.get(pod.url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        pod.ready = True
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"pod {pod.name} never became ready:\n{pod.log.read_text()}")

    async def _publish(self, namespace: str, deployment: Obj, pod: Pod) -> None:
        service_name = deployment["metadata"]["name"]
        service = await self.cluster.maybe_get(f"/api/v1/namespaces/{namespace}/services/{service_name}")
        labels = dict((service or deployment)["metadata"].get("labels") or {})
        labels.update({"kubernetes.io/service-name": service_name,
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
        await self.cluster.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": pod.name, "namespace": namespace, "labels": labels},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": pod.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "targetRef": {"kind": "Pod", "name": pod.name},
                           "conditions": {"ready": True, "serving": True, "terminating": False}}],
        })


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data
