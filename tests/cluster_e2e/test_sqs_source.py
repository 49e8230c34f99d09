"""S3 → SQS Triggers in a cluster: the gateway polls the queue with the credentials of a Secret.

Real: ``moto_server`` (S3 notifying an SQS queue), the operator, the gateway (kubernetes backend)
and runtime processes started by the test kubelet, against the project's API emulator; the
function writes every record it gets to a directory. Asserted: a Trigger whose credentialsSecret
does not exist yet starts polling once the Secret is created; an upload runs the function and the
message is deleted; the same bucket's pushed webhook notification does not fire the SQS Trigger
(it fires only for what its queue delivers); deleting the Trigger stops the poller (a later
upload stays in the queue); the client is made with the Secret's keys.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
from typing import Any, Iterator

import aiohttp
import pytest

from kfn import api
from kfn_gateway.backends import k8s_secrets
from tests import minio
from tests.cluster_e2e.conftest import gateway
from tests.k8s.fixtures import Cluster
from tests.k8s.kubelet import Kubelet
from tests.k8s.waiting import eventually
from tests.moto_server import REGION, Moto
from tests.operator.conftest import OPERATOR_ENV, running_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NS = "/api/v1/namespaces/default"
FN = "/apis/kfn.dev/v1alpha1/namespaces/default/functions"
TRIGGERS = "/apis/kfn.dev/v1alpha1/namespaces/default/triggers"
TOKEN = "webhook-token"
RECORDER = """\
import json, os, uuid
def handler(event, context):
    for record in event["Records"]:
        with open(os.path.join(os.environ["RECORD_DIR"], uuid.uuid4().hex + ".json"), "w") as out:
            json.dump(record, out)
    return {"records": len(event["Records"])}
"""


@pytest.fixture
def moto(tmp_path: pathlib.Path) -> Iterator[Moto]:
    server = Moto(tmp_path / "moto.log")
    try:
        yield server
    finally:
        server.stop()


def keys_of(record_dir: pathlib.Path) -> list[str]:
    return sorted(json.loads(p.read_text())["s3"]["object"]["key"] for p in record_dir.glob("*.json"))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_sqs_triggers_poll_with_their_secret(cluster: Cluster, kubelet: Kubelet, moto: Moto,
                                                   tmp_path: pathlib.Path) -> None:
    s3, sqs = moto.client("s3"), moto.client("sqs")
    s3.create_bucket(Bucket="uploads")
    queue_url = sqs.create_queue(QueueName="uploads-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    records = tmp_path / "records"
    records.mkdir()

    def visible() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    async with gateway(cluster, tmp_path / "gw", KFN_S3_WEBHOOK_TOKEN=TOKEN) as gw, \
            running_operator(cluster, OPERATOR_ENV | {"KFN_GATEWAY_STATS_URLS": gw.url}), \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await cluster.request("POST", FN, {
            "apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "recorder"},
            "spec": {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": RECORDER},
                     "env": [{"name": "RECORD_DIR", "value": str(records)}], "timeoutSeconds": 10,
                     "scaling": {"maxReplicas": 1, "scaleToZeroAfterSeconds": 60}}})
        await cluster.request("POST", TRIGGERS, {
            "apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger", "metadata": {"name": "uploads"},
            "spec": {"function": "recorder", "s3": {
                "bucket": "uploads", "events": ["s3:ObjectCreated:*"],
                "source": {"sqs": {"queueUrl": queue_url, "region": REGION, "endpointUrl": moto.url,
                                   "credentialsSecret": "aws-sqs"}}}}})

        async def polling_set_up() -> bool:
            return len(gw.backend.triggers) == 1 and "default/recorder" in gw.states
        await eventually(polling_set_up)
        await asyncio.to_thread(s3.put_object, Bucket="uploads", Key="before-secret.txt", Body=b"1")
        await asyncio.sleep(1.5)
        assert keys_of(records) == []  # no Secret yet: nothing polled
        await cluster.request("POST", f"{NS}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-sqs"},
            "data": {"AWS_ACCESS_KEY_ID": b64("AKIDTEST"), "AWS_SECRET_ACCESS_KEY": b64("secret")}})

        async def recorded(*keys: str) -> bool:
            return keys_of(records) == sorted(keys)
        await eventually(lambda: recorded("before-secret.txt"), timeout=60)
        await eventually(lambda: asyncio.to_thread(lambda: visible() == 0), timeout=20)

        # A pushed notification for the same bucket does not fire the SQS-sourced Trigger.
        body = minio.notification("uploads", "pushed.txt")
        async with session.post(f"{gw.url}/events/s3", json=body,
                                headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 200, await resp.text()
        await asyncio.to_thread(s3.put_object, Bucket="uploads", Key="after.txt", Body=b"2")
        await eventually(lambda: recorded("after.txt", "before-secret.txt"), timeout=30)
        assert "pushed.txt" not in keys_of(records)

        # Deleting the Trigger stops its poller: a later upload stays in the queue.
        await cluster.request("DELETE", f"{TRIGGERS}/uploads")

        async def no_pollers() -> bool:
            return not gw.backend.triggers
        await eventually(no_pollers)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(s3.put_object, Bucket="uploads", Key="orphan.txt", Body=b"3")
        await asyncio.sleep(3)
        assert await asyncio.to_thread(visible) == 1
        assert "orphan.txt" not in keys_of(records)


async def test_the_client_is_made_with_the_secrets_keys(cluster: Cluster) -> None:
    from kfn_gateway.backends.k8s_api import Api
    from kubernetes_asyncio.client import Configuration
    source = api.SqsSource(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", region=REGION,
                           credentials_secret="aws")
    async with Api(Configuration(host=cluster.url), 5) as client:
        make = k8s_secrets.sqs_clients(client, asyncio.get_running_loop(), 5)("default")
        with pytest.raises(LookupError, match="Secret default/aws not found"):
            await asyncio.to_thread(make, source)
        await cluster.request("POST", f"{NS}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws"},
                                                        "data": {"AWS_ACCESS_KEY_ID": b64("AKIDTEST")}})
        with pytest.raises(LookupError, match="has no AWS_SECRET_ACCESS_KEY"):
            await asyncio.to_thread(make, source)
        await cluster.request("PATCH", f"{NS}/secrets/aws", {"data": {
            "AWS_SECRET_ACCESS_KEY": b64("s3cr3t"), "AWS_SESSION_TOKEN": b64("session")}})
        sqs: Any = await asyncio.to_thread(make, source)
        frozen = sqs._request_signer._credentials.get_frozen_credentials()
        assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AKIDTEST", "s3cr3t", "session")
        sqs.close()
