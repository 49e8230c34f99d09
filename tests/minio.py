"""What MinIO's webhook target posts: ``{"EventName", "Key", "Records": [record]}``, the record being
AWS's S3 record plus MinIO's ``source`` and ``userMetadata``. One builder for every test that plays MinIO."""

from __future__ import annotations

from typing import Any


def notification(bucket: str, key: str, event: str = "s3:ObjectCreated:Put",
                 user_metadata: dict[str, str] | None = None, size: int = 4) -> dict[str, Any]:
    record = {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-12-04T20:00:00.000Z",
        "eventName": event, "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "17E0B5E1B4C2A1F0", "x-minio-deployment-id": "d1",
                             "x-minio-origin-endpoint": "http://127.0.0.1:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": size, "eTag": "e2fc714c4727ee9395f324cd2e7f331f",
                          "contentType": "application/octet-stream",
                          "userMetadata": user_metadata if user_metadata is not None else {},
                          "sequencer": "17E0B5E1B4D3C2B1"}},
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"},
    }
    return {"EventName": event, "Key": f"{bucket}/{key}", "Records": [record]}
