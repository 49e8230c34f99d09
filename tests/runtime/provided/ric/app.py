"""Handlers run by awslambdaric inside a provided runtime."""

import os
import time


def handler(event, context):
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "fail" in event:
        raise ValueError(event["fail"])
    if "size" in event:
        return "x" * event["size"]
    return {"echo": event.get("echo"), "requestId": context.aws_request_id, "pid": os.getpid(),
            "function": context.function_name, "arn": context.invoked_function_arn,
            "remainingMs": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb,
            "length": len(event.get("blob", ""))}
