"""``kfn gateway --backend kubernetes``: the data plane in a cluster.

The same application as ``kfn dev`` (``app.build_app``), assembled with the ``kubernetes``
backend: Functions, Triggers and endpoints come from the API instead of a directory, replicas
are pods, and the autoscaler is the operator's (it reads this gateway's ``GET /stats``), so no
local autoscaler runs here. Async invocations use the queue engine of ``KFN_QUEUE``: NATS
JetStream shared by every gateway replica (the chart's default), or SQLite for a single replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from typing import AsyncIterator, Mapping

import prometheus_client as prom
from aiohttp import web

from kfn import api, names
from kfn_gateway import app as gateway_app
from kfn_gateway import event_routing, listening, logs, queue_engines, sqs_source
from kfn_gateway.async_dispatch import AsyncDispatcher, AsyncSettings
from kfn_gateway.backends import k8s_api, k8s_secrets
from kfn_gateway.backends.kubernetes import KubernetesBackend
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings, SettingsError

__all__ = ["ClusterSettings", "load_cluster_settings", "Gateway", "running", "main"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    namespace: str | None = None
    """The one namespace whose Functions are served (``KFN_WATCH_NAMESPACE``); unset: all of them."""
    api_timeout: float = 10.0
    """Seconds one Kubernetes API call may take (``KFN_API_TIMEOUT``)."""
    watch_timeout: int = 300
    """Seconds after which the API server ends a watch and it is resumed (``KFN_WATCH_TIMEOUT``)."""
    shutdown_delay: float = 5.0
    """Seconds a stopping gateway (SIGTERM) keeps serving with ``/readyz`` at 503 before it stops
    listening (``KFN_SHUTDOWN_DELAY``): Kubernetes takes it out of the Service's endpoints meanwhile,
    so a rolling update refuses no request. In-flight requests then get aiohttp's drain time."""
    token_refresh: float = 10.0
    """Seconds an ``auth: token`` Function's Secret is trusted before it is read again
    (``KFN_TOKEN_REFRESH``): how long a rotated or revoked token takes to count."""


def load_cluster_settings(env: Mapping[str, str]) -> ClusterSettings:
    namespace = env.get("KFN_WATCH_NAMESPACE", "").strip() or None
    if namespace is not None and (problem := names.dns1123_error(namespace)):
        raise SettingsError(f"KFN_WATCH_NAMESPACE: {namespace!r} {problem}")
    values: dict[str, float] = {}
    for name, field, low, high in (("KFN_API_TIMEOUT", "api_timeout", 0.5, 300),
                                   ("KFN_WATCH_TIMEOUT", "watch_timeout", 1, 3600),
                                   ("KFN_TOKEN_REFRESH", "token_refresh", 0.1, 3600),
                                   ("KFN_SHUTDOWN_DELAY", "shutdown_delay", 0, 120)):
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[field] = float(raw)
        except ValueError:
            raise SettingsError(f"{name}: must be a number, got {raw!r}") from None
        if not low <= values[field] <= high:
            raise SettingsError(f"{name}: must be between {low:g} and {high:g}, got {raw}")
    return ClusterSettings(namespace=namespace, api_timeout=values.get("api_timeout", ClusterSettings.api_timeout),
                           watch_timeout=int(values.get("watch_timeout", ClusterSettings.watch_timeout)),
                           token_refresh=values.get("token_refresh", ClusterSettings.token_refresh),
                           shutdown_delay=values.get("shutdown_delay", ClusterSettings.shutdown_delay))


@dataclasses.dataclass
class Gateway:
    url: str
    backend: KubernetesBackend
    states: dict[str, FunctionState]
    draining: asyncio.Event
    """Set when the gateway is stopping: ``/readyz`` answers 503 from then on."""


@contextlib.asynccontextmanager
async def running(settings: GatewaySettings, cluster: ClusterSettings,
                  configuration: k8s_api.Configuration) -> AsyncIterator[Gateway]:
    """A serving gateway, until the block exits; everything it started is stopped after."""
    metrics = Metrics(prom.CollectorRegistry(auto_describe=True))
    states: dict[str, FunctionState] = {}
    routes = RouteTable(())
    async with k8s_api.Api(configuration, cluster.api_timeout) as client:
        def added(state: FunctionState) -> None:
            fn = state.fn
            metrics.describe_function(fn.namespace, fn.name, ["url", "invoke", "destination"], fn.spec.timeout_seconds)
            dispatcher.add_function(state)

        def removed(state: FunctionState) -> None:
            dispatcher.remove_function(state.key)

        def triggers_changed(triggers: list[api.Trigger]) -> None:
            event_router.triggers = event_routing.pushed(triggers)
            pollers.update(triggers)

        backend = KubernetesBackend(settings, metrics, client, states, routes, namespace=cluster.namespace,
                                    on_triggers=triggers_changed, on_function=added, on_forget=removed,
                                    token_refresh=cluster.token_refresh)
        invoker = Invoker(settings, backend, metrics, states)
        queue = queue_engines.make_queue(settings, exclusive=False)
        dispatcher = AsyncDispatcher(
            AsyncSettings(retry_base=settings.async_retry_base, retry_max=settings.async_retry_max),
            queue, invoker, metrics, states)
        event_router = EventRouter((), states, dispatcher, invoker, metrics)
        draining = asyncio.Event()
        pollers = sqs_source.PollerSet(lambda group: EventRouter(group, states, dispatcher, invoker, metrics),
                                       k8s_secrets.sqs_clients(client, asyncio.get_running_loop(), cluster.api_timeout))
        application = gateway_app.build_app(settings=settings, invoker=invoker, metrics_=metrics, routes=routes,
                                            event_router=event_router, dispatcher=dispatcher,
                                            ready=lambda: backend.is_synced() and not draining.is_set())
        runner = web.AppRunner(application, access_log=None, handle_signals=False)
        await runner.setup()
        await queue.open()
        dispatcher.start()  # before the watches: functions join it one by one as they appear
        await backend.start()
        try:
            yield Gateway(url=await listening.listen(runner, settings), backend=backend, states=states,
                          draining=draining)
        finally:
            await pollers.close()
            await runner.cleanup()
            await dispatcher.stop()
            await backend.close()
            await queue.close()


async def serve(settings: GatewaySettings, cluster: ClusterSettings, configuration: k8s_api.Configuration,
                stop: asyncio.Event) -> None:
    async with running(settings, cluster, configuration) as gateway:
        scope = f"namespace {cluster.namespace}" if cluster.namespace else "all namespaces"
        print(f"kfn gateway on {gateway.url} (kubernetes backend, {scope}, API {configuration.host})", flush=True)
        await stop.wait()
        gateway.draining.set()
        logger.info("stopping: not ready, still serving for %gs (KFN_SHUTDOWN_DELAY)", cluster.shutdown_delay)
        await asyncio.sleep(cluster.shutdown_delay)


def main(settings: GatewaySettings, cluster: ClusterSettings, *, kubeconfig: str | None, context: str | None,
         in_cluster: bool) -> int:
    logs.configure(settings.log_format)

    async def run() -> int:
        try:
            configuration = await k8s_api.load_configuration(kubeconfig, context, in_cluster)
        except k8s_api.ApiError as exc:
            print(f"kfn gateway: {exc.message}", file=sys.stderr)
            return 2
        try:
            await serve(settings, cluster, configuration, listening.stop_on_signals())
        except listening.CannotListen as exc:
            print(f"kfn gateway: {exc}", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(run())
