"""An unchanged AWS Lambda handler for a Function URL event."""

import base64
import json
import os


def handler(event, context):
    name = "world"
    params = event.get("queryStringParameters") or {}
    if "name" in params:
        name = params["name"]
    elif event.get("body"):
        body = event["body"]
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        try:
            name = json.loads(body).get("name", name)
        except (ValueError, AttributeError):
            pass
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "message": f"{os.environ.get('GREETING', 'Hello')}, {name}!",
            "requestId": context.aws_request_id,
            "function": context.function_name,
        }),
    }
