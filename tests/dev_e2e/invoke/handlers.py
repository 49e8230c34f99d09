"""Handlers for the Invoke API and async tests; side effects go to files the test names."""

import json
import logging
import os
import time

logging.getLogger().setLevel(logging.INFO)


def echo(event, context):
    print("echo was called")
    logging.info("a log line through logging")
    return {"event": event, "function": context.function_name, "arn": context.invoked_function_arn}


def echo_team(event, context):
    return {"namespace": "team", "event": event}


def boom(event, context):
    raise KeyError("missing")


def slow(event, context):
    time.sleep(float(event.get("seconds", 0)))
    return {"slept": event.get("seconds", 0)}


def _write(directory, name, payload):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "a", encoding="utf-8") as f:
        f.write(json.dumps(payload) + "\n")


def record(event, context):
    if "Records" in event:
        for rec in event["Records"]:
            meta = rec["s3"]["object"].get("userMetadata") or {}
            _write(meta["out"], rec["eventName"].replace(":", "_") + "-" + rec["s3"]["object"]["key"].replace("/", "_"),
                   {"event": event, "requestId": context.aws_request_id})
    else:
        _write(event["out"], event["id"], {"event": event, "requestId": context.aws_request_id})
    return "ok"


def flaky(event, context):
    _write(event["out"], "attempts", {"requestId": context.aws_request_id})
    raise RuntimeError("always fails")


def sink(event, context):
    _write(event["requestPayload"]["out"], "destination", event)


def private(event, context):
    return {"secret": os.environ["SECRET_VALUE"], "colour": os.environ["COLOUR"]}
