"""S3 event notifications: parsing what a store sends, and matching records to Triggers. Pure.

Accepted shapes: AWS's ``{"Records": [...]}`` (S3 → SQS/SNS/Lambda, Ceph RGW), MinIO's webhook
``{"EventName", "Key", "Records": [...]}``, and S3's ``s3:TestEvent`` (recognised and ignored).
Each record is checked for the fields matching needs and otherwise passed on untouched, so the
handler sees exactly what Lambda would give it (keys stay URL-encoded, as S3 sends them).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any
from urllib.parse import unquote_plus

from kfn import api

__all__ = ["Notification", "S3EventError", "parse_notification", "match", "event_name"]

MAX_RECORDS = 1000


class S3EventError(ValueError):
    """A notification that cannot be used; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Notification:
    records: tuple[dict[str, Any], ...]
    test_event: bool = False
    """S3's ``s3:TestEvent``, sent when a notification is configured: acknowledged, not invoked."""


def _field(record: Any, path: tuple[str, ...], where: str) -> str:
    node = record
    for i, part in enumerate(path):
        if not isinstance(node, dict):
            raise S3EventError(f"{where}.{'.'.join(path[:i])}: must be an object")
        if part not in node:
            raise S3EventError(f"{where}.{'.'.join(path[: i + 1])}: required")
        node = node[part]
    if not isinstance(node, str):
        raise S3EventError(f"{where}.{'.'.join(path)}: must be a string")
    return node


def parse_notification(body: Any) -> Notification:
    """Validate a decoded notification body; raises S3EventError naming the field."""
    if not isinstance(body, dict):
        raise S3EventError("body: must be a JSON object with Records")
    if body.get("Event") == "s3:TestEvent" or body.get("EventName") == "s3:TestEvent":
        return Notification(records=(), test_event=True)
    if "Records" not in body:
        raise S3EventError("Records: required")
    records = body["Records"]
    if not isinstance(records, list):
        raise S3EventError("Records: must be a list")
    if len(records) > MAX_RECORDS:
        raise S3EventError(f"Records: at most {MAX_RECORDS} records per notification")
    for i, record in enumerate(records):
        where = f"Records[{i}]"
        if not isinstance(record, dict):
            raise S3EventError(f"{where}: must be an object")
        _field(record, ("eventName",), where)
        _field(record, ("s3", "bucket", "name"), where)
        _field(record, ("s3", "object", "key"), where)
        size = record["s3"]["object"].get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise S3EventError(f"{where}.s3.object.size: must be an integer")
    return Notification(records=tuple(records))


def event_name(name: str) -> str:
    """``s3:ObjectCreated:Put`` and ``ObjectCreated:Put`` are the same event."""
    return name[3:] if name.startswith("s3:") else name


def match(trigger: api.S3Trigger, record: dict[str, Any]) -> bool:
    """Whether ``record`` (already validated) fires ``trigger``: bucket, event name, key filters."""
    s3 = record["s3"]
    if s3["bucket"]["name"] != trigger.bucket:
        return False
    name = event_name(record["eventName"])
    if not any(fnmatch.fnmatchcase(name, event_name(pattern).replace("[", "[[]")) for pattern in trigger.events):
        return False
    key = unquote_plus(s3["object"]["key"])
    return key.startswith(trigger.filter.prefix) and key.endswith(trigger.filter.suffix)


def fanout(triggers: list[api.Trigger], records: tuple[dict[str, Any], ...]) -> list[tuple[api.Trigger, dict[str, Any]]]:
    """Every (trigger, record) pair that fires: one invocation each, in record order."""
    pairs = []
    for record in records:
        for trigger in triggers:
            if trigger.spec.s3 is not None and match(trigger.spec.s3, record):
                pairs.append((trigger, record))
    return pairs
