"""The ``kubernetes`` backend: replicas are the pods of each function's Deployment.

Three watches feed it — Functions, Triggers, and the EndpointSlices of every function's
Service (one label selector, ``kfn.dev/function``, not one watch per function). A ready endpoint
becomes a :class:`Replica` of the function's :class:`FunctionState`, so routing (least in-flight
first, ``perReplica`` slots, waiting requests first come first served), throttling and timeouts
are the same code as for the ``local`` backend.

The activator's part: a request that finds no ready replica makes the invoker call ``scale``,
which raises the Deployment's scale subresource to at least what the load needs. It only ever
raises it, with the resourceVersion as a precondition, re-reading on a conflict — so several
gateway replicas converge on the same count instead of fighting, and scaling down stays the
operator's. The request waits (bounded by ``KFN_ACTIVATION_TIMEOUT``) for an endpoint to turn
ready, then is forwarded to the pod's runtime.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any, Callable, Mapping

import aiohttp

from kfn import api
from kfn_gateway import background, forwarding
from kfn_gateway.backends.k8s_api import Api, ApiError
from kfn_gateway.backends.k8s_tokens import TokenSecrets
from kfn_gateway.backends.k8s_watching import Watcher
from kfn_gateway.dispatching import FunctionState, Replica
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError, Kind, Outcome
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings

__all__ = ["KubernetesBackend", "deployment_name", "ready_urls", "INVOKE_PATH", "FUNCTION_LABEL"]

logger = logging.getLogger(__name__)

INVOKE_PATH = forwarding.INVOKE_PATH
FUNCTION_LABEL = "kfn.dev/function"
Obj = dict[str, Any]


def deployment_name(name: str) -> str:
    """The name the operator gives a Function's Deployment (kept equal to
    ``kfn_operator.builders.child_name``; a test checks that they agree)."""
    child = f"fn-{name}"
    if len(child) <= 63:
        return child
    return f"fn-{name[:50].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def ready_urls(endpoint_slice: Obj) -> set[str]:
    """Base URLs of the ready endpoints of an EndpointSlice, on its ``http`` port. Pure."""
    ports = endpoint_slice.get("ports") or []
    port = next((p.get("port") for p in ports if p.get("name") == "http"), None)
    if port is None and ports:
        port = ports[0].get("port")
    if port is None:
        return set()
    urls = set()
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        # The API says an unset ``ready`` means ready; a terminating endpoint takes no new work.
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        for address in (endpoint.get("addresses") or [])[:1]:
            host = f"[{address}]" if ":" in address else address
            urls.add(f"http://{host}:{port}")
    return urls


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class KubernetesBackend:
    def __init__(self, settings: GatewaySettings, metrics: Metrics, client: Api, states: dict[str, FunctionState],
                 routes: RouteTable, *, namespace: str | None = None,
                 on_triggers: Callable[[list[api.Trigger]], None] | None = None,
                 on_function: Callable[[FunctionState], None] | None = None,
                 on_forget: Callable[[FunctionState], None] | None = None, token_refresh: float = 10.0) -> None:
        self.settings = settings
        self.metrics = metrics
        self.api = client
        self.states = states
        self.routes = routes
        self.namespace = namespace
        self.on_triggers = on_triggers
        self.on_function = on_function
        self.on_forget = on_forget
        self.triggers: dict[str, api.Trigger] = {}
        self.slices: dict[str, tuple[str, set[str]]] = {}
        """EndpointSlice key → (function key, ready URLs)."""
        self.activating: dict[str, int] = {}
        self.cold_since: dict[str, float] = {}
        """When this gateway scaled a function up from zero, until its first endpoint is ready."""
        self.tasks = background.Tasks()
        self.watchers: list[Watcher] = []
        self.session: aiohttp.ClientSession | None = None
        self.upstreams = forwarding.Upstreams()
        self.tokens = TokenSecrets(client, token_refresh)
        self.closing = False

    # --- lifecycle -------------------------------------------------------------------------

    def _path(self, prefix: str, plural: str) -> str:
        return f"{prefix}/namespaces/{self.namespace}/{plural}" if self.namespace else f"{prefix}/{plural}"

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                                             auto_decompress=False)
        self.watchers = [
            Watcher(self.api, self._path("/apis/kfn.dev/v1alpha1", "functions"),
                    reset=self._reset_functions, event=self._function_event),
            Watcher(self.api, self._path("/apis/kfn.dev/v1alpha1", "triggers"),
                    reset=self._reset_triggers, event=self._trigger_event),
            Watcher(self.api, self._path("/apis/discovery.k8s.io/v1", "endpointslices"),
                    reset=self._reset_slices, event=self._slice_event, label_selector=FUNCTION_LABEL),
        ]
        for watcher in self.watchers:
            self.tasks.spawn(watcher.run())

    async def synced(self) -> None:
        """Wait until every watch has listed once (readiness of a new gateway replica)."""
        await asyncio.gather(*(w.synced.wait() for w in self.watchers))

    def is_synced(self) -> bool:
        """Every watch has listed once: the gateway knows every Function, Trigger and endpoint."""
        return bool(self.watchers) and all(w.synced.is_set() for w in self.watchers)

    async def close(self) -> None:
        self.closing = True
        await self.tasks.cancel()
        self.upstreams.close()
        if self.session is not None:
            await self.session.close()

    # --- Functions -------------------------------------------------------------------------

    def _reset_functions(self, items: list[Obj]) -> None:
        present = {_key(item) for item in items}
        for key in [k for k in self.states if k not in present]:
            self._forget_function(key)
        for item in items:
            self._function_event("ADDED", item)

    def _function_event(self, kind: str, obj: Obj) -> None:
        key = _key(obj)
        if kind == "DELETED":
            self._forget_function(key)
            return
        try:
            fn = api.parse_function(obj)
        except api.InvalidObject as exc:
            # The operator reports it in the Function's status; keep serving the last valid spec.
            logger.warning("[%s] invalid Function ignored: %s", key, exc)
            return
        state = self.states.get(key)
        if state is None:
            self.states[key] = state = FunctionState(fn)
            if self.on_function is not None:
                self.on_function(state)
        else:
            state.fn = fn
        self._sync_replicas(key)

    def _forget_function(self, key: str) -> None:
        state = self.states.pop(key, None)
        if state is None:
            return
        state.fail_waiters(GatewayError(404, "ResourceNotFoundException", f"Function not found: {key} (deleted)"))
        self.metrics.forget(state.fn.namespace, state.fn.name)
        self.cold_since.pop(key, None)
        self.tokens.forget(key)
        if self.on_forget is not None:
            self.on_forget(state)

    async def load_tokens(self, state: FunctionState) -> None:
        await self.tokens.load(state)

    # --- Triggers --------------------------------------------------------------------------

    def _reset_triggers(self, items: list[Obj]) -> None:
        self.triggers.clear()
        for item in items:
            self._trigger_event("ADDED", item, publish=False)
        self._publish_triggers()

    def _trigger_event(self, kind: str, obj: Obj, publish: bool = True) -> None:
        key = _key(obj)
        self.triggers.pop(key, None)
        if kind != "DELETED":
            try:
                self.triggers[key] = api.parse_trigger(obj)
            except api.InvalidObject as exc:
                logger.warning("[%s] invalid Trigger ignored: %s", key, exc)
        if publish:
            self._publish_triggers()

    def _publish_triggers(self) -> None:
        triggers = sorted(self.triggers.values(), key=lambda t: t.key)
        self.routes.routes = RouteTable(triggers).routes
        if self.on_triggers is not None:
            self.on_triggers(triggers)

    # --- EndpointSlices --------------------------------------------------------------------

    def _reset_slices(self, items: list[Obj]) -> None:
        affected = {fn_key for fn_key, _ in self.slices.values()}
        self.slices.clear()
        for item in items:
            affected.add(self._store_slice(item))
        for key in affected:
            self._sync_replicas(key)

    def _slice_event(self, kind: str, obj: Obj) -> None:
        key = _key(obj)
        before = self.slices.pop(key, None)
        affected = {before[0]} if before else set()
        if kind != "DELETED":
            affected.add(self._store_slice(obj))
        for fn_key in affected:
            self._sync_replicas(fn_key)

    def _store_slice(self, obj: Obj) -> str:
        meta = obj.get("metadata") or {}
        fn_key = f"{meta.get('namespace', '')}/{(meta.get('labels') or {}).get(FUNCTION_LABEL, '')}"
        self.slices[_key(obj)] = (fn_key, ready_urls(obj))
        return fn_key

    def _sync_replicas(self, key: str) -> None:
        """Make the function's replicas exactly its ready endpoints."""
        state = self.states.get(key)
        if state is None:
            return
        urls = set().union(*(u for k, u in self.slices.values() if k == key))
        current = {replica.url: replica for replica in state.replicas}
        for url, replica in current.items():
            if url not in urls:
                state.remove(replica)  # in-flight requests finish; no new ones go there
        for url in sorted(urls - set(current)):
            state.last_problem = None
            state.add(Replica(url=url))
            began = self.cold_since.pop(key, None)
            if began is not None:
                self.metrics.cold_starts.labels(state.fn.namespace, state.fn.name).inc()
                self.metrics.cold_start_duration.labels(state.fn.namespace, state.fn.name).observe(
                    time.monotonic() - began)
        self.metrics.replicas_ready.labels(state.fn.namespace, state.fn.name).set(len(state.replicas))

    # --- scaling (the activator) -----------------------------------------------------------

    def scale(self, state: FunctionState, replicas: int) -> None:
        if self.closing or replicas <= 0:
            return  # scaling down is the operator's autoscaler's
        pinned = state.fn.spec.replicas
        if pinned is not None:
            if pinned == 0:
                state.last_problem = "the function is held at 0 replicas by spec.replicas (kubectl scale)"
            return
        if self.activating.get(state.key, 0) >= replicas:
            return
        self.activating[state.key] = replicas
        self.tasks.spawn(self._activate(state, replicas))

    async def _activate(self, state: FunctionState, replicas: int) -> None:
        fn = state.fn
        name = deployment_name(fn.name)
        path = f"/apis/apps/v1/namespaces/{fn.namespace}/deployments/{name}/scale"
        began = time.monotonic()
        try:
            for _ in range(5):
                scale = await self.api.get(path)
                if scale is None:
                    state.last_problem = (f"Deployment {fn.namespace}/{name} does not exist "
                                          "(is the kfn operator running?)")
                    return
                current = int((scale.get("spec") or {}).get("replicas") or 0)
                if current >= replicas:
                    return
                try:
                    await self.api.patch(path, {"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                                                "spec": {"replicas": replicas}})
                except ApiError as exc:
                    if exc.status == 409:
                        continue  # another gateway or the autoscaler wrote it: read again
                    raise
                logger.info("[%s] activator scaled Deployment %s from %d to %d", fn.key, name, current, replicas)
                if current == 0 and not state.replicas:
                    self.cold_since[state.key] = began
                self.metrics.replicas_desired.labels(fn.namespace, fn.name).set(replicas)
                return
        except ApiError as exc:
            state.last_problem = f"cannot scale Deployment {fn.namespace}/{name}: {exc}"
            logger.error("[%s] %s", fn.key, state.last_problem)
        finally:
            self.activating.pop(state.key, None)

    # --- forwarding ------------------------------------------------------------------------

    async def forward(self, state: FunctionState, replica: Replica, payload: bytes, request_id: str,
                      cold_start: bool, log_tail: bool = False, context: Mapping[str, str] | None = None) -> Outcome:
        assert self.session is not None
        began = time.monotonic()
        limit = state.fn.spec.timeout_seconds + self.settings.forward_grace
        try:
            answer = await forwarding.post(self.upstreams, replica.url, payload, request_id, limit, log_tail, context)
        except TimeoutError:
            # The runtime enforces the timeout itself; silence past it means the pod is stuck,
            # which its liveness probe deals with.
            return forwarding.failure(Kind.TIMEOUT, "Sandbox.Timedout", request_id,
                                      f"Task timed out after {state.fn.spec.timeout_seconds:.2f} seconds",
                                      began, cold_start)
        except forwarding.Unreachable as exc:
            # The pod went away under us; stop routing there until its endpoint is ready again.
            state.remove(replica)
            return forwarding.failure(Kind.EXIT_ERROR, "Runtime.Unavailable", request_id,
                                      f"the function's pod could not be reached: {exc}", began, cold_start)
        return forwarding.read(answer, request_id, began, cold_start)

