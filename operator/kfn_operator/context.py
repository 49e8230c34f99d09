"""What every handler of the operator gets through kopf's memo: settings and clients."""

from __future__ import annotations

import dataclasses
from typing import Any

from kfn_operator import kube
from kfn_operator.metrics import Metrics
from kfn_operator.settings import OperatorSettings

__all__ = ["Context", "of"]


@dataclasses.dataclass
class Context:
    settings: OperatorSettings
    api: kube.Api
    metrics: Metrics
    stats: Any
    """The autoscaler's ``StatsReader`` (typed there, to keep this module import-light)."""


def of(memo: Any) -> Context:
    context: Context = memo["kfn"]
    return context
