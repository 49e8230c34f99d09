import time


def ok(event, context):
    return {"ok": True}


def fails(event, context):
    raise ValueError("on purpose")


def slow(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("s", event.get("s", 0))))
    return "done"
