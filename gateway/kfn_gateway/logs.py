"""The gateway's own logs: text for people, or JSON lines for log pipelines (``KFN_LOG_FORMAT``).

In JSON mode every invocation also gets one line with its request id, the same id the runtime
prints in its ``START``/``END``/``REPORT`` lines, so one invocation can be followed from the
gateway to the function's log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["configure", "JsonFormatter", "invocation_logger"]

invocation_logger = logging.getLogger("kfn_gateway.invocations")
"""Emits one record per invocation; enabled only in JSON mode (text mode keeps the terminal quiet)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "kfn", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
        invocation_logger.setLevel(logging.INFO)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        invocation_logger.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
