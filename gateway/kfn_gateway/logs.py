"""The gateway's own logs: text for people, or JSON lines for log pipelines (``KFN_LOG_FORMAT``).

In JSON mode every invocation also gets one line with its request id, the same id the runtime
prints in its ``START``/``END``/``REPORT`` lines, so one invocation can be followed from the
gateway to the function's log.
"""

from __future__ import annotations

import logging

from kfn import logformat

__all__ = ["configure", "invocation_logger"]

invocation_logger = logging.getLogger("kfn_gateway.invocations")
"""Emits one record per invocation; enabled only in JSON mode (text mode keeps the terminal quiet)."""


def configure(fmt: str) -> None:
    logformat.configure_root(fmt)
    invocation_logger.setLevel(logging.INFO if fmt == "json" else logging.WARNING)
