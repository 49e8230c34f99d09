"""Handlers whose behaviour the end-to-end tests choose through the request."""

import asyncio
import json
import os
import time


def _body(event):
    try:
        return json.loads(event.get("body") or "{}")
    except ValueError:
        return {}


def hello(event, context):
    return {"pid": os.getpid(), "requestId": context.aws_request_id, "function": context.function_name,
            "rawPath": event["rawPath"], "method": event["requestContext"]["http"]["method"],
            "query": event.get("queryStringParameters"), "body": event.get("body"),
            "isBase64Encoded": event["isBase64Encoded"], "memory": context.memory_limit_in_mb,
            "remainingMs": context.get_remaining_time_in_millis()}


def boom(event, context):
    raise ValueError("the handler failed on purpose")


def sleep(event, context):
    seconds = float(_body(event).get("seconds", 0))
    time.sleep(seconds)
    return {"pid": os.getpid(), "slept": seconds}


async def async_hello(event, context):
    await asyncio.sleep(0.01)
    return {"statusCode": 201, "headers": {"X-Color": os.environ.get("COLOR", "")}, "body": "made",
            "cookies": ["flavour=async"]}


def allocate(event, context):
    """Holds ``mib`` MiB for ``hold`` seconds (touched, so it is resident), then reports its memory."""
    body = _body(event)
    block = bytearray(int(body.get("mib", 1)) * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(float(body.get("hold", 0.2)))
    return {"mib": len(block) // (1024 * 1024), "limit": context.memory_limit_in_mb}
