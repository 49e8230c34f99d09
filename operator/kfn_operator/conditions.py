"""The Ready condition and the status stanza, as values. Pure."""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["ready", "now"]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready(previous: list[dict[str, Any]] | None, status: bool, reason: str, message: str,
          generation: int | None, at: str) -> list[dict[str, Any]]:
    """The conditions list with Ready set; ``lastTransitionTime`` moves only when the status flips."""
    old = next((c for c in previous or [] if c.get("type") == "Ready"), None)
    value = "True" if status else "False"
    since = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") else at
    condition: dict[str, Any] = {"type": "Ready", "status": value, "reason": reason, "message": message[:32768],
                                 "lastTransitionTime": since}
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [c for c in previous or [] if c.get("type") != "Ready"]
    return [*others, condition]
