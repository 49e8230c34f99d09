"""A Lambda handler run by awslambdaric inside a provided runtime: the same code as on Lambda."""

import json


def handler(event, context):
    if isinstance(event, dict) and "Records" in event:  # an S3 notification, through a Trigger
        for record in event["Records"]:
            print(f"python-ric: s3 {record['eventName']} {record['s3']['bucket']['name']}/{record['s3']['object']['key']}")
        return {"records": len(event["Records"])}
    body = event.get("body") if isinstance(event, dict) else None  # a Function URL event carries one
    request = json.loads(body) if body else event if isinstance(event, dict) else {}
    name = request.get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": f"Hello, {name}!", "requestId": context.aws_request_id,
                            "runtime": "awslambdaric"}),
    }
