"""Bucket notifications end to end: moto's S3, SQS and SNS, a real ``kfn dev``, real functions.

Real: ``moto_server`` as a subprocess (S3 → SQS and S3 → SNS → HTTP notifications are moto's
own), ``kfn dev`` as a subprocess with the thumbnail example's code (Pillow, boto3) and a
recorder function that writes each record it gets to a directory, JPEGs made with Pillow here.
Nothing is faked; moto signs SNS messages with a certificate no client can fetch from this
machine, so the SNS ``kfn dev`` runs with ``KFN_SNS_VERIFY=0`` (signatures are tested with keys of
the test's own in tests/unit/test_sns.py).

Asserted: S3 → SQS → poller → thumbnail in the second bucket, the SQS message deleted and S3's
``s3:TestEvent`` ignored; S3 → SNS → ``/events/sns`` → thumbnail; deletions reach the function on
``s3:ObjectRemoved:*``; MinIO's webhook (HEAD check, token, wrapped body) runs the function only
with the right token; and, in process, the poller deletes a message only after its invocation is
durably queued (a queue that fails leaves it in SQS, which shows it again) and stops without
waiting for a long poll; ``/events/sns`` verifies the signatures moto makes, with the certificates
moto serves.
"""

from __future__ import annotations

import asyncio
import io
import json
import pathlib
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterator
from urllib.parse import unquote_plus

import aiohttp
import prometheus_client as prom
import pytest
import yaml
import yarl
from aiohttp.test_utils import TestServer
from PIL import Image

from kfn import api
from kfn_gateway import app as gateway_app
from kfn_gateway import sns, sqs_source
from kfn_gateway.async_dispatch import AsyncDispatcher, AsyncSettings
from kfn_gateway.backends.local import LocalBackend
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings
from kfn_gateway.sqlite_queue import SqliteQueue
from tests import minio
from tests.moto_server import AWS_ENV, REGION, Moto
from tests.dev_e2e.conftest import DevServer

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]
THUMBNAIL_CODE = ROOT / "examples" / "thumbnail" / "src"
RECORDER_CODE = pathlib.Path(__file__).parent / "s3" / "recorder"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


def jpeg(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def function(name: str, code: pathlib.Path, handler: str, env: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": api.API_VERSION, "kind": "Function", "metadata": {"name": name},
            "spec": {"runtime": "python3.11", "handler": handler, "code": {"path": str(code)},
                     "env": [{"name": k, "value": v} for k, v in env.items()], "timeoutSeconds": 30,
                     "memoryMiB": 256}}


def trigger(name: str, fn: str, s3: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": name},
            "spec": {"function": fn, "s3": s3}}


def start_dev(directory: pathlib.Path, docs: list[dict[str, Any]], env: dict[str, str]) -> DevServer:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "functions.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return DevServer(directory, directory / "kfn-dev.log",
                     env={**AWS_ENV, "KFN_STATE_DIR": str(directory / "state"), **env})


def stop_dev(server: DevServer) -> None:
    code = server.stop()
    assert code == 0, f"kfn dev did not stop cleanly ({code}):\n{server.log()[-4000:]}"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")


def object_or_none(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def metric(url: str, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def records(directory: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


# --- S3 → SQS (and deletions, and MinIO's webhook) through one kfn dev ------------------------


class SqsSetup:
    def __init__(self, moto: Moto, dev: DevServer, queue_url: str, record_dir: pathlib.Path) -> None:
        self.moto = moto
        self.dev = dev
        self.queue_url = queue_url
        self.record_dir = record_dir


@pytest.fixture(scope="module")
def sqs_setup(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsSetup]:
    s3, sqs = moto.client("s3"), moto.client("sqs")
    for bucket in ("uploads-sqs", "thumbnails-sqs"):
        s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName="uploads-events")["QueueUrl"]
    record_dir = tmp_path_factory.mktemp("records")
    source = {"sqs": {"queueUrl": queue_url, "region": REGION, "endpointUrl": moto.url}}
    docs = [
        function("thumbnail", THUMBNAIL_CODE, "thumbnail.handler",
                 {"S3_ENDPOINT_URL": moto.url, "THUMBNAIL_BUCKET": "thumbnails-sqs"}),
        trigger("thumbnail-on-upload", "thumbnail", {"bucket": "uploads-sqs", "events": ["s3:ObjectCreated:*"],
                                                     "filter": {"suffix": ".jpg"}, "source": source}),
        function("recorder", RECORDER_CODE, "recorder.handler", {"RECORD_DIR": str(record_dir)}),
        trigger("record-removals", "recorder", {"bucket": "uploads-sqs", "events": ["s3:ObjectRemoved:*"],
                                                "source": source}),
        trigger("record-minio", "recorder", {"bucket": "minio-uploads"}),
    ]
    dev = start_dev(tmp_path_factory.mktemp("dev-sqs"), docs, {"KFN_S3_WEBHOOK_TOKEN": TOKEN})
    try:
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket="uploads-sqs", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        yield SqsSetup(moto, dev, queue_url, record_dir)
    finally:
        stop_dev(dev)


def queue_counts(setup: SqsSetup) -> tuple[int, int]:
    attributes = setup.moto.client("sqs").get_queue_attributes(
        QueueUrl=setup.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return (int(attributes["Attributes"]["ApproximateNumberOfMessages"]),
            int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"]))


def test_s3_to_sqs_makes_a_thumbnail_and_deletes_the_message(sqs_setup):
    s3 = sqs_setup.moto.client("s3")
    original = jpeg()
    key = "photos/red cat+1.jpg"  # S3 sends it URL-encoded: photos/red+cat%2B1.jpg
    s3.put_object(Bucket="uploads-sqs", Key=key, Body=original, ContentType="image/jpeg")
    s3.put_object(Bucket="uploads-sqs", Key="notes/readme.txt", Body=b"not an image")  # filtered out by suffix
    thumbnail = wait_until(lambda: object_or_none(s3, "thumbnails-sqs", key), 40, "the thumbnail in thumbnails-sqs")
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 128 and image.size == (128, 96)
    assert len(thumbnail) < len(original)
    wait_until(lambda: queue_counts(sqs_setup) == (0, 0), 10, "the SQS messages deleted")
    assert metric(sqs_setup.dev.url, "kfn_events_received_total", source="sqs", outcome="ignored") >= 1  # TestEvent
    assert metric(sqs_setup.dev.url, "kfn_async_events_received_total", function="thumbnail", source="sqs") == 1
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="thumbnails-sqs").get("Contents", [])]
    assert keys == [key]


def test_deletion_reaches_the_object_removed_function(sqs_setup):
    s3 = sqs_setup.moto.client("s3")
    s3.put_object(Bucket="uploads-sqs", Key="old/photo 2.png", Body=b"x")
    s3.delete_object(Bucket="uploads-sqs", Key="old/photo 2.png")
    removed = wait_until(lambda: [r for r in records(sqs_setup.record_dir) if r["s3"]["bucket"]["name"] == "uploads-sqs"],
                         40, "the ObjectRemoved record in the recorder's directory")
    assert [r["eventName"] for r in removed] == ["ObjectRemoved:Delete"]
    key = removed[0]["s3"]["object"]["key"]
    assert key != "old/photo 2.png" and unquote_plus(key) == "old/photo 2.png"  # as S3 sent it, still encoded
    wait_until(lambda: queue_counts(sqs_setup) == (0, 0), 10, "the SQS messages deleted")


async def _post(url: str, method: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=None if body is None else json.dumps(body), headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=30)) as resp:
            return resp.status, await resp.read()


async def test_minio_webhook_runs_the_function_only_with_the_token(sqs_setup):
    url = f"{sqs_setup.dev.url}/events/s3"
    assert (await _post(url, "HEAD", token=TOKEN))[0] == 200
    assert (await _post(url, "HEAD", token="wrong"))[0] == 401
    assert (await _post(url, "HEAD"))[0] == 401
    body = minio.notification("minio-uploads", "docs/a%20b.txt", user_metadata={"content-type": "text/plain", "X-Amz-Meta-Owner": "ann"})
    for token in ("wrong", None):
        status, _ = await _post(url, "POST", body, token)
        assert status == 401
    status, answer = await _post(url, "POST", body, TOKEN)
    assert (status, json.loads(answer)) == (200, {"queued": 1, "invoked": 0})

    def minio_records() -> list[dict[str, Any]]:
        return [r for r in records(sqs_setup.record_dir) if r["s3"]["bucket"]["name"] == "minio-uploads"]

    got = await asyncio.to_thread(wait_until, minio_records, 40, "the MinIO record in the recorder's directory")
    assert got == body["Records"]  # exactly as MinIO sent it: userMetadata, source, the encoded key
    await asyncio.sleep(0.5)
    assert len(minio_records()) == 1  # the refused posts ran nothing
    assert metric(sqs_setup.dev.url, "kfn_events_received_total", source="s3", outcome="unauthorized") == 4


# --- S3 → SNS → HTTP ---------------------------------------------------------------------------


def test_s3_to_sns_to_http_makes_a_thumbnail(moto, tmp_path):
    s3, sns = moto.client("s3"), moto.client("sns")
    for bucket in ("uploads-sns", "thumbnails-sns"):
        s3.create_bucket(Bucket=bucket)
    topic_arn = sns.create_topic(Name="uploads-sns-events")["TopicArn"]
    docs = [
        function("thumbnail", THUMBNAIL_CODE, "thumbnail.handler",
                 {"S3_ENDPOINT_URL": moto.url, "THUMBNAIL_BUCKET": "thumbnails-sns"}),
        trigger("thumbnail-on-upload", "thumbnail", {"bucket": "uploads-sns", "filter": {"suffix": ".jpg"}}),
    ]
    dev = start_dev(tmp_path / "dev-sns", docs, {"KFN_SNS_VERIFY": "0", "KFN_SNS_TOPICS": topic_arn})
    try:
        # moto confirms HTTP subscriptions itself: no SubscriptionConfirmation is posted.
        sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=f"{dev.url}/events/sns")
        s3.put_bucket_notification_configuration(Bucket="uploads-sns", NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"]}]})
        s3.put_object(Bucket="uploads-sns", Key="a/b c.jpg", Body=jpeg(300, 600))
        thumbnail = wait_until(lambda: object_or_none(s3, "thumbnails-sns", "a/b c.jpg"), 40,
                               "the thumbnail in thumbnails-sns")
        with Image.open(io.BytesIO(thumbnail)) as image:
            assert image.size == (64, 128)
        assert metric(dev.url, "kfn_events_received_total", source="sns", outcome="matched") == 1
    finally:
        stop_dev(dev)


# --- the poller in process: delete only after the event is durably queued ---------------------


class FlakyQueue(SqliteQueue):
    """The real SQLite queue, whose ``put`` fails while ``failing`` is set (a full disk, say)."""

    failing = True

    async def put(self, events):
        if self.failing:
            raise OSError("disk full")
        await super().put(events)


def _router(tmp_path: pathlib.Path, queue: SqliteQueue) -> EventRouter:
    settings = GatewaySettings(state_dir=str(tmp_path))
    metrics = Metrics(prom.CollectorRegistry())
    fn = api.parse_function(function("thumbnail", tmp_path, "app.handler", {}))
    trig = api.parse_trigger(trigger("on-upload", "thumbnail", {"bucket": "uploads"}))
    states = {fn.key: FunctionState(fn)}
    invoker = Invoker(settings, LocalBackend(settings, metrics), metrics, states)
    dispatcher = AsyncDispatcher(AsyncSettings(), queue, invoker, metrics, states)
    return EventRouter([trig], states, dispatcher, invoker, metrics)


S3_MESSAGE = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
    "bucket": {"name": "uploads"}, "object": {"key": "a.jpg", "size": 3}}}]})


async def _queue(moto: Moto, name: str) -> tuple[Any, str]:
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    return sqs, url


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                               "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.1)


async def test_poller_deletes_only_after_the_event_is_durably_queued(moto, tmp_path):
    sqs, url = await _queue(moto, "poller-durable")
    queue = FlakyQueue(tmp_path / "queue.sqlite3")
    await queue.open()
    router = _router(tmp_path, queue)
    source = api.SqsSource(queue_url=url, region=REGION, endpoint_url=moto.url)
    poller = sqs_source.SqsPoller(source, router, client_factory=lambda s: moto.client("sqs"), wait_seconds=1)
    sqs.send_message(QueueUrl=url, MessageBody=S3_MESSAGE)
    poller.start()
    try:
        # Received (in flight) but never deleted while the queue refuses the event.
        await _until(lambda: _counts(sqs, url) == (0, 1), 10, "the message received")
        await asyncio.sleep(2.5)  # past the visibility timeout: received again, still not deleted
        assert sum(_counts(sqs, url)) == 1
        assert await queue.depth() == {}
        queue.failing = False
        await _until(lambda: _counts(sqs, url) == (0, 0), 10, "the message deleted once queued")
        assert await queue.depth() == {"default/thumbnail": 1}
    finally:
        await poller.stop()
        await queue.close()


async def test_poller_leaves_unusable_messages_to_sqs_and_counts_them_once(moto, tmp_path):
    sqs, url = await _queue(moto, "poller-unusable")
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    await queue.open()
    router = _router(tmp_path, queue)
    poller = sqs_source.SqsPoller(api.SqsSource(queue_url=url, region=REGION, endpoint_url=moto.url), router,
                                  client_factory=lambda s: moto.client("sqs"), wait_seconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(test_event))
    poller.start()
    try:
        await _until(lambda: _counts(sqs, url) == (0, 1), 10, "the test event deleted, the other in flight")
        await asyncio.sleep(2.5)
        assert sum(_counts(sqs, url)) == 1
        sample = router.metrics.registry.get_sample_value
        assert sample("kfn_events_received_total", {"source": "sqs", "outcome": "rejected"}) == 1
        assert sample("kfn_events_received_total", {"source": "sqs", "outcome": "ignored"}) == 1
        assert await queue.depth() == {}
    finally:
        await poller.stop()
        await queue.close()


async def test_a_failed_receive_makes_a_new_client(moto, tmp_path):
    """So that rotated credentials (a credentialsSecret changed in a cluster) are read again."""
    sqs, url = await _queue(moto, "poller-rotate")
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    await queue.open()
    made: list[str] = []

    def factory(source: api.SqsSource) -> object:
        made.append("client")
        if len(made) == 1:  # the first credentials are wrong: this queue does not exist for them
            return _BrokenReceive(moto.client("sqs"))
        return moto.client("sqs")

    poller = sqs_source.SqsPoller(api.SqsSource(queue_url=url, region=REGION, endpoint_url=moto.url),
                                  _router(tmp_path, queue), client_factory=factory, wait_seconds=1, error_delay=0.1)
    poller.start()
    try:
        await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody=S3_MESSAGE)
        deadline = time.monotonic() + 15
        while await queue.depth() == {}:
            assert time.monotonic() < deadline, "the message never got through the second client"
            await asyncio.sleep(0.1)
        assert len(made) >= 2
    finally:
        await poller.stop()
        await queue.close()


class _BrokenReceive:
    """A real SQS client whose receive fails as with revoked credentials."""

    def __init__(self, client: object) -> None:
        self.client = client

    def receive_message(self, **_: object) -> object:
        raise RuntimeError("InvalidClientTokenId: the security token included in the request is invalid")

    def close(self) -> None:
        self.client.close()  # type: ignore[attr-defined]


async def test_poller_stops_without_waiting_for_a_long_poll(moto, tmp_path):
    sqs, url = await _queue(moto, "poller-stop")
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    await queue.open()
    poller = sqs_source.SqsPoller(api.SqsSource(queue_url=url, region=REGION, endpoint_url=moto.url),
                                  _router(tmp_path, queue), client_factory=lambda s: moto.client("sqs"),
                                  wait_seconds=20)
    poller.start()
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await poller.stop(timeout=0.5)
    assert time.monotonic() - started < 1.5
    await queue.close()


@pytest.mark.parametrize("body", [
    S3_MESSAGE,
    json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "MessageId": "m",
                "Message": S3_MESSAGE}),
])
def test_message_bodies_sns_wrapped_or_not(body):
    notification = sqs_source.parse_message(body)
    assert [r["s3"]["object"]["key"] for r in notification.records] == ["a.jpg"]


@pytest.mark.parametrize("body", ["", "null", "[1]", '{"Type": "Notification", "TopicArn": "t", "Message": 1}',
                                  '{"Type": "Notification", "TopicArn": "t", "Message": "no"}', "[" * 5000])
def test_unusable_message_bodies(body):
    with pytest.raises(sqs_source.s3events.S3EventError):
        sqs_source.parse_message(body)


def test_kfn_dev_refuses_credentials_secret(tmp_path):
    source = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "region": REGION,
                      "credentialsSecret": "aws-keys"}}
    docs = [function("recorder", RECORDER_CODE, "recorder.handler", {"RECORD_DIR": str(tmp_path)}),
            trigger("from-sqs", "recorder", {"bucket": "uploads", "source": source})]
    (tmp_path / "functions.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kfn", "dev", str(tmp_path), "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "Trigger/from-sqs: spec.s3.source.sqs.credentialsSecret" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr


async def test_moto_signatures_verify_with_the_certificate_it_serves(moto, tmp_path):
    # moto signs SNS messages for real (SignatureVersion 2, a new certificate per message) and serves
    # the certificates. Only the fetch is redirected to it (moto picks the service from a SigV4
    # credential scope, not the Host); the URL check and the verification are the real ones.
    sns_client = moto.client("sns")
    topic_arn = sns_client.create_topic(Name="signed-uploads")["TopicArn"]
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    await queue.open()
    router = _router(tmp_path, queue)
    settings = GatewaySettings(sns_topics=(topic_arn,), state_dir=str(tmp_path))
    app = gateway_app.build_app(settings=settings, invoker=router.invoker, metrics_=router.metrics,
                                routes=RouteTable([]), event_router=router, dispatcher=router.dispatcher)
    fetched: list[str] = []

    async def fetch_from_moto(url: str) -> bytes:
        fetched.append(url)
        parsed = yarl.URL(url)
        async with aiohttp.ClientSession() as session:
            scope = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sns/aws4_request, Signature=x"
            async with session.get(f"{moto.url}{parsed.raw_path}", headers={"Authorization": scope}) as resp:
                resp.raise_for_status()
                return await resp.read()

    app[sns.RECEIVER] = sns.SnsReceiver((topic_arn,), True, fetch=fetch_from_moto)
    try:
        async with TestServer(app, host="127.0.0.1") as server:
            endpoint = str(server.make_url("/events/sns"))
            await asyncio.to_thread(sns_client.subscribe, TopicArn=topic_arn, Protocol="http", Endpoint=endpoint)
            for _ in range(2):
                await asyncio.to_thread(sns_client.publish, TopicArn=topic_arn, Message=S3_MESSAGE)
            sample = router.metrics.registry.get_sample_value
            assert sample("kfn_events_received_total", {"source": "sns", "outcome": "matched"}) == 2
            assert await queue.depth() == {"default/thumbnail": 2}
            assert len(fetched) == 2 and all(sns.certificate_url_allowed(url) for url in fetched)
    finally:
        await queue.close()
