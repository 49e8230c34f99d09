"""The operator's handlers, one module per resource, gathered into one kopf registry."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kfn import api
from kfn_operator import autoscaling, context, functions, kube, triggers
from kfn_operator.settings import OperatorSettings

__all__ = ["registry"]


async def login(memo: Any, **_: Any) -> kopf.ConnectionInfo:
    return await kube.connection_info(context.of(memo).api.configuration)


def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    ours = context.of(memo).settings
    # Progress and the last handled spec live in annotations: a real API server prunes fields a
    # CRD's status schema does not declare, so kopf's default status storage would not persist.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.kfn.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.kfn.dev", key="last-handled-configuration")
    settings.persistence.finalizer = "kfn.dev/finalizer"
    settings.posting.level = logging.WARNING
    settings.networking.request_timeout = ours.api_timeout
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # The namespaces to watch are given; kopf must not list namespaces or CRDs to find them, which
    # a namespaced install's Role cannot grant (namespaces are cluster-scoped).
    settings.scanning.disabled = True


async def seen(body: kopf.Body, type: str | None, resource: kopf.Resource, memo: Any, **_: Any) -> None:
    """Every watch event of a Function or Trigger: the ``kfn_operator_objects`` gauge by Ready state."""
    meta = body.get("metadata") or {}
    kind = "Function" if resource.plural == "functions" else "Trigger"
    context.of(memo).metrics.seen(kind, f"{meta.get('namespace')}/{meta.get('name')}",
                                  None if type == "DELETED" else body)


def registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    result = kopf.OperatorRegistry()
    kopf.on.login(registry=result)(login)
    kopf.on.startup(registry=result)(configure)
    functions.register(result, settings)
    triggers.register(result, settings)
    autoscaling.register(result, settings)
    for plural in ("functions", "triggers"):
        kopf.on.event(api.GROUP, api.VERSION, plural, registry=result, id="count")(seen)
    return result
