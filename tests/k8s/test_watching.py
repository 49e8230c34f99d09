"""The gateway's Watcher against the emulator: it keeps a complete copy through watch ends and 410s.

Faked: the API server only. Asserted: events after the list arrive; a watch ended by the server's
timeout resumes without losing events; a resourceVersion too old to resume (410) makes it list
again, and the copy is right after.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import kmock
from kubernetes_asyncio.client import Configuration

from kfn_gateway.backends.k8s_api import Api
from kfn_gateway.backends.k8s_watching import Watcher
from tests.k8s.emulator import Emulator
from tests.k8s.fixtures import Cluster, _bundled_resources
from tests.k8s.waiting import eventually

CM = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, labelled: bool = True) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"kfn.dev/function": "f"} if labelled else {}}}


class Copy:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.resets = 0

    def reset(self, items: list[dict[str, Any]]) -> None:
        self.resets += 1
        self.names = {i["metadata"]["name"] for i in items}

    def event(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.names.discard(name)
        else:
            self.names.add(name)


@contextlib.asynccontextmanager
async def watching(url: str, copy: Copy):  # type: ignore[no-untyped-def]
    async with Api(Configuration(host=url), timeout=5) as client:
        watcher = Watcher(client, "/api/v1/configmaps", reset=copy.reset, event=copy.event,
                          label_selector="kfn.dev/function", watch_timeout=1)
        task = asyncio.create_task(watcher.run())
        try:
            await asyncio.wait_for(watcher.synced.wait(), 5)
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_events_arrive_across_watch_timeouts(cluster: Cluster) -> None:
    await cluster.request("POST", CM, configmap("a"))
    copy = Copy()
    async with watching(cluster.url, copy):
        assert copy.names == {"a"}
        await cluster.request("POST", CM, configmap("b"))
        await cluster.request("POST", CM, configmap("unlabelled", labelled=False))
        await eventually(lambda: _has(copy, {"a", "b"}))

        async def resumed() -> bool:  # the server ended the first watch after 1 s; a second began
            return sum(1 for r in list(cluster.emulator) if r.params.get("watch") == "true") >= 2
        await eventually(resumed)
        await cluster.request("DELETE", f"{CM}/a")
        await cluster.request("POST", CM, configmap("c"))
        await eventually(lambda: _has(copy, {"b", "c"}))
        assert copy.resets == 1


async def test_a_watch_too_old_to_resume_lists_again() -> None:
    async with Emulator(history_size=2) as emulator, kmock.Server(emulator) as server:
        emulator.resources.update(_bundled_resources())
        url = str(server.url).rstrip("/")
        async with aiohttp.ClientSession() as session:
            cluster = Cluster(emulator, url, session)
            copy = Copy()
            async with watching(url, copy):
                for i in range(5):  # changes the watch does not see move the history past its version
                    await cluster.request("POST", CM, configmap(f"other-{i}", labelled=False))
                # The server ends the watch after 1 s; resuming from the list's version gets 410.
                await eventually(lambda: _resets(copy, 2))
                await cluster.request("POST", CM, configmap("late"))
                await eventually(lambda: _has(copy, {"late"}))


async def _has(copy: Copy, names: set[str]) -> bool:
    assert copy.names == names, copy.names
    return True


async def _resets(copy: Copy, at_least: int) -> bool:
    return copy.resets >= at_least
