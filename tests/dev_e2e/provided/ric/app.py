"""Handlers run by awslambdaric; the request body chooses what they do."""

import json
import os
import time


def _body(event):
    return json.loads(event.get("body") or "{}")


def hello(event, context):
    return {"pid": os.getpid(), "requestId": context.aws_request_id, "function": context.function_name,
            "rawPath": event["rawPath"], "body": _body(event), "remainingMs": context.get_remaining_time_in_millis()}


def boom(event, context):
    raise ValueError("the handler failed on purpose")


def sleep(event, context):
    time.sleep(float(_body(event).get("seconds", 0)))
    return {"pid": os.getpid(), "slept": _body(event).get("seconds", 0)}
