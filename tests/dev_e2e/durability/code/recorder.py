"""Records every invocation of an async event, so a test can count what ran after crashes.

The event's own id comes from the payload: ``{"id": ...}`` (Invoke API) or the S3 object key
``in/<id>.json``. Each invocation appends ``<id> <pid>`` to ``$RECORD_DIR/started`` when it begins
and again to ``$RECORD_DIR/done`` when it ends; short O_APPEND writes from many processes do
not interleave.
"""

import json
import os
import time


def _event_id(event):
    if "Records" in event:
        key = event["Records"][0]["s3"]["object"]["key"]
        return key.rsplit("/", 1)[-1].removesuffix(".json")
    return event["id"]


def _append(name, line):
    fd = os.open(os.path.join(os.environ["RECORD_DIR"], name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def handler(event, context):
    event_id = _event_id(event)
    _append("started", f"{event_id} {os.getpid()}")
    time.sleep(float(os.environ.get("RECORD_SLEEP", "0")))
    _append("done", f"{event_id} {os.getpid()}")
    return {"id": event_id}
