"""Lambda handlers the runtime's tests load, written as a Lambda user would write them."""

import asyncio
import os
import time


def echo(event, context):
    return {"event": event}


async def async_echo(event, context):
    await asyncio.sleep(0)
    return {"async": True, "event": event}


def describe(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": context.identity,
        "client_context": context.client_context,
        "remaining": [first, context.get_remaining_time_in_millis()],
    }


def environment(event, context):
    return {"env": {name: os.environ.get(name) for name in event["names"]}, "cwd": os.getcwd()}


def fail(event, context):
    raise ValueError("bad thing")


def sleep(event, context):
    time.sleep(event["seconds"])
    return "slept"


def spin(event, context):
    while True:
        pass


async def async_sleep(event, context):
    await asyncio.sleep(event["seconds"])
    return "slept"


def unmarshallable(event, context):
    return {"a set": {1, 2}}


def say(event, context):
    print(event["say"])
    return None


def stubborn(event, context):
    """Ignores every attempt to stop it until its time is up."""
    end = time.monotonic() + event["seconds"]
    while time.monotonic() < end:
        try:
            time.sleep(0.01)
        except BaseException:
            pass
    return "done"


def log(event, context):
    import logging
    logging.getLogger().warning("a %s record", "logging")
    return None
