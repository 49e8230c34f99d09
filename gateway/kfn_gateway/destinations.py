"""Lambda's destination record for an async invocation that failed. Pure.

When an event runs out of retries (or ages out), its ``onFailure`` function receives this record,
field for field what Lambda sends to a destination, so handlers written for Lambda destinations
work unchanged.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kfn_gateway.outcomes import Outcome

__all__ = ["function_arn", "failure_record"]


def function_arn(namespace: str, name: str, region: str = "us-east-1") -> str:
    """A Lambda-shaped ARN; the namespace joins the name unless it is ``default``."""
    qualified = name if namespace == "default" else f"{namespace}_{name}"
    return f"arn:aws:lambda:{region}:000000000000:function:{qualified}"


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


def failure_record(*, request_id: str, namespace: str, name: str, condition: str, attempts: int,
                   request_payload: bytes, outcome: Outcome | None, now: float | None = None) -> dict[str, Any]:
    """The record for ``condition`` ``RetriesExhausted`` or ``EventAgeExceeded``."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": stamp,
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn(namespace, name) + ":$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if outcome is not None:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = _json_or_text(outcome.payload)
    return record
