"""Resize each uploaded image into a thumbnail in a second bucket: a plain AWS Lambda handler.

Environment: ``THUMBNAIL_BUCKET`` (where thumbnails go, under the image's key) and, for MinIO,
Ceph RGW or an emulator, ``S3_ENDPOINT_URL`` (unset: AWS S3). Credentials come from the standard
AWS variables, as boto3 reads them.
"""

import io
import os
from urllib.parse import unquote_plus

import boto3
from PIL import Image

MAX_SIZE = (128, 128)

# Created once per process and reused by every invocation, as Lambda handlers do.
s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)


def handler(event, context):
    target = os.environ["THUMBNAIL_BUCKET"]
    written = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 sends keys URL-encoded
        if bucket == target:
            continue  # never resize a thumbnail (a notification on the target bucket would loop)
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(original)) as image:
            image.thumbnail(MAX_SIZE)
            size = image.size
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=85)
        s3.put_object(Bucket=target, Key=key, Body=out.getvalue(), ContentType="image/jpeg")
        print(f"thumbnail of s3://{bucket}/{key} ({len(original)} bytes) -> s3://{target}/{key} {size[0]}x{size[1]}")
        written.append({"bucket": target, "key": key, "width": size[0], "height": size[1]})
    return {"thumbnails": written}
