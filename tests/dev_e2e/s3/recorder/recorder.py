"""Records every S3 record it is invoked with as a JSON file in RECORD_DIR (its observable effect)."""

import json
import os
import pathlib


def handler(event, context):
    out = pathlib.Path(os.environ["RECORD_DIR"])
    for i, record in enumerate(event["Records"]):
        (out / f"{context.aws_request_id}-{i}.json").write_text(json.dumps(record))
    return {"recorded": len(event["Records"])}
