"""Trigger → checked against its Function, with the outcome in the Trigger's status.

A Trigger may be applied before its Function (``kubectl apply -f dir/`` has no order): it is
then Ready=False with reason ``FunctionNotFound`` and checked again with a growing delay until
the Function appears. A daemon re-checks ready Triggers too, so one whose Function is deleted
later turns Ready=False. The gateway routes Triggers itself; this is what users see.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import kopf

from kfn import api
from kfn_operator import conditions, context, kube
from kfn_operator.functions import NotReady, backoff
from kfn_operator.settings import OperatorSettings

__all__ = ["register", "check"]


async def check(body: kopf.Body, client: kube.Api) -> str:
    """Why the Trigger cannot invoke its Function (raises NotReady), else a message saying which it invokes."""
    try:
        trigger = api.parse_trigger(copy.deepcopy(dict(body)))
    except api.InvalidObject as exc:
        raise NotReady("InvalidSpec", str(exc)) from None
    path = kube.paths.kfn(trigger.namespace, "functions", trigger.spec.function)
    if await client.get(path) is None:
        raise NotReady("FunctionNotFound", f"Function {trigger.namespace}/{trigger.spec.function} not found")
    return f"invokes Function {trigger.namespace}/{trigger.spec.function} ({trigger.spec.kind})"


def _status(patch: kopf.Patch, body: kopf.Body, ok: bool, reason: str, message: str) -> None:
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    old: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    if (old.get("status"), old.get("reason"), old.get("message"), status.get("observedGeneration")) == (
            "True" if ok else "False", reason, message, generation):
        return  # unchanged: no write
    patch.status["conditions"] = conditions.ready(status.get("conditions"), ok, reason, message, generation,
                                                  conditions.now())
    patch.status["observedGeneration"] = generation


async def validate(body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, logger: kopf.Logger,
                   **_: Any) -> None:
    ctx = context.of(memo)
    began, reason = time.monotonic(), "Other"
    try:
        message = await check(body, ctx.api)
        reason = "FunctionFound"
    except NotReady as exc:
        reason = exc.reason
        _status(patch, body, False, exc.reason, exc.message)
        raise kopf.TemporaryError(exc.message, delay=backoff(ctx.settings, retry)) from None
    except kube.ApiError as exc:
        reason = "ApiError"
        raise kopf.TemporaryError(str(exc), delay=backoff(ctx.settings, retry)) from None
    finally:
        ctx.metrics.reconciled("Trigger", reason, time.monotonic() - began)
    _status(patch, body, True, "FunctionFound", message)


async def recheck(body: kopf.Body, memo: Any, logger: kopf.Logger, stopped: kopf.DaemonStopped,
                  **_: Any) -> None:
    """Every ``status_interval``: is the Function still there? (A kopf daemon per Trigger.)"""
    ctx = context.of(memo)
    while not stopped:
        await asyncio.sleep(ctx.settings.status_interval)
        patch = kopf.Patch()
        try:
            message = await check(body, ctx.api)
            _status(patch, body, True, "FunctionFound", message)
        except NotReady as exc:
            _status(patch, body, False, exc.reason, exc.message)
        except kube.ApiError as exc:
            logger.warning("re-checking the Trigger failed: %s", exc)
            continue
        if patch.status:
            meta = body["metadata"]
            try:
                await ctx.api.patch(kube.paths.kfn(meta["namespace"], "triggers", meta["name"]) + "/status",
                                    {"status": dict(patch.status)})
            except kube.ApiError as exc:
                if exc.status != 404:
                    logger.warning("updating the Trigger's status failed: %s", exc)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    resource = (api.GROUP, api.VERSION, "triggers")
    for decorator in (kopf.on.resume, kopf.on.create, kopf.on.update):
        decorator(*resource, registry=registry, id="validate")(validate)
    kopf.daemon(*resource, registry=registry, id="recheck", cancellation_timeout=5.0)(recheck)
