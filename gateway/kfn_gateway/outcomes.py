"""What an invocation ends with, and the gateway's own refusals, as values and exceptions.

Every path that can end a request (a runtime's answer, a throttle, a timeout waiting for a
replica) is named here, so the HTTP mapping in ``responses`` and ``middlewares`` is total.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

__all__ = ["Kind", "Outcome", "GatewayError"]


class Kind(str, enum.Enum):
    SUCCESS = "success"
    ERROR = "error"            # the handler raised, or its result could not be marshalled
    TIMEOUT = "timeout"        # the handler ran past timeoutSeconds
    INIT_ERROR = "init_error"  # the handler could not be loaded
    EXIT_ERROR = "exit_error"  # the runtime process died during the invocation


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A runtime's answer to one invocation."""

    kind: Kind
    payload: bytes
    """The handler's result as JSON, or Lambda's error object for the other kinds."""
    request_id: str
    duration: float = 0.0
    """Seconds from the gateway's dispatch to the answer (cold start included)."""
    cold_start: bool = False
    log_tail: str | None = None
    """The invocation's last 4 KB of log, base64, when asked for (the Invoke API's ``Tail``)."""

    @property
    def is_error(self) -> bool:
        return self.kind is not Kind.SUCCESS

    def error(self) -> dict[str, Any]:
        """The error object (errorType, errorMessage, …), or a generic one if unreadable."""
        try:
            obj = json.loads(self.payload)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "errorType" in obj:
            return obj
        return {"errorType": "Runtime.Unknown", "errorMessage": self.payload[:1024].decode("utf-8", "replace")}

    @property
    def error_type(self) -> str | None:
        return None if self.kind is Kind.SUCCESS else str(self.error().get("errorType", "Runtime.Unknown"))


class GatewayError(Exception):
    """A request the gateway refuses or cannot complete itself; mapped to HTTP in one place."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}
