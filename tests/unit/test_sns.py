"""``/events/sns``: the SNS envelope, its signature, topic allow-listing, subscription confirmation.

Real: the gateway's aiohttp app (``build_app``) on a test server, the EventRouter and the SQLite
queue it writes to, RSA keys and X.509 certificates made here with ``cryptography``, and a local
aiohttp server that plays SNS's ``SubscribeURL``. Injected: the certificate fetcher (it serves the
test's certificate for an SNS-host URL, and counts fetches), since this machine reaches no AWS host.
Asserted: messages signed with SignatureVersion 1 and 2 are queued; a bad signature, an off-host
certificate URL or a topic not allowed is refused with 403 before anything is fetched or queued;
confirmation happens only for allowed topics; malformed envelopes get 400 naming the field; the
settings; and (hypothesis) the envelope parser raises nothing but SnsError on any JSON.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import pathlib
from typing import Any, AsyncIterator

import prometheus_client as prom
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from kfn import api
from kfn_gateway import app as gateway_app
from kfn_gateway import sns
from kfn_gateway.async_dispatch import AsyncDispatcher, AsyncSettings
from kfn_gateway.backends.local import LocalBackend
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings, SettingsError, load_settings
from kfn_gateway.sqlite_queue import SqliteQueue

TOPIC = "arn:aws:sns:us-east-1:123456789012:uploads"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:other"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"

# --- keys and signing -------------------------------------------------------------------------


def _certificate(key: rsa.RSAPrivateKey, days: int = 30) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERT = _certificate(KEY)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def s3_event(key: str = "images/cat.jpg", bucket: str = "uploads") -> dict[str, Any]:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                         "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                         "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                                "object": {"key": key, "size": 1024, "eTag": "abc"}}}]}


def envelope(kind: str = "Notification", *, topic: str = TOPIC, message: Any = None, version: str = "2",
             key: rsa.RSAPrivateKey = KEY, cert_url: str = CERT_URL, subject: str | None = None,
             subscribe_url: str = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
             ) -> dict[str, Any]:
    """An SNS message as SNS sends it, signed with ``key`` as SNS signs (AWS's canonical string)."""
    if message is None:
        message = s3_event() if kind == "Notification" else "You have chosen to subscribe to the topic."
    body: dict[str, Any] = {"Type": kind, "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topic,
                            "Message": message if isinstance(message, str) else json.dumps(message),
                            "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": version,
                            "SigningCertURL": cert_url}
    if subject is not None:
        body["Subject"] = subject
    if kind != "Notification":
        body["SubscribeURL"] = subscribe_url
        body["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
    else:
        body["UnsubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    return sign(body, key, version)


def sign(body: dict[str, Any], key: rsa.RSAPrivateKey = KEY, version: str = "2") -> dict[str, Any]:
    parsed = sns.parse_envelope(body, signed=False)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(sns.canonical_string(parsed), padding.PKCS1v15(), algorithm)
    return {**body, "Signature": base64.b64encode(signature).decode()}


# --- the pure parts ---------------------------------------------------------------------------


def test_canonical_string_of_a_notification_follows_aws_order():
    body = envelope(subject="hello")
    assert sns.canonical_string(sns.parse_envelope(body)) == (
        f"Message\n{body['Message']}\nMessageId\n{body['MessageId']}\nSubject\nhello\n"
        f"Timestamp\n{body['Timestamp']}\nTopicArn\n{TOPIC}\nType\nNotification\n").encode()


def test_canonical_string_of_a_notification_without_subject_skips_it():
    assert b"Subject" not in sns.canonical_string(sns.parse_envelope(envelope()))


def test_canonical_string_of_a_confirmation_has_url_and_token():
    body = envelope("SubscriptionConfirmation")
    assert sns.canonical_string(sns.parse_envelope(body)) == (
        f"Message\n{body['Message']}\nMessageId\n{body['MessageId']}\nSubscribeURL\n{body['SubscribeURL']}\n"
        f"Timestamp\n{body['Timestamp']}\nToken\n{body['Token']}\nTopicArn\n{TOPIC}\n"
        "Type\nSubscriptionConfirmation\n").encode()


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", sns.TYPES)
def test_signatures_verify(version, kind):
    parsed = sns.parse_envelope(envelope(kind, version=version))
    sns.verify_signature(parsed, sns.load_certificate(CERT))


@pytest.mark.parametrize("change", [
    {"Message": json.dumps(s3_event("other.jpg"))},   # the signed content changed
    {"TopicArn": OTHER_TOPIC},
    {"SignatureVersion": "1"},                       # signed with SHA256, claimed SHA1
    {"SignatureVersion": "3"},
    {"Signature": "not base64!"},
    {"Signature": ""},
])
def test_tampered_messages_fail(change):
    parsed = sns.parse_envelope({**envelope(), **change})
    with pytest.raises(sns.SignatureError):
        sns.verify_signature(parsed, sns.load_certificate(CERT))


def test_another_key_fails():
    with pytest.raises(sns.SignatureError):
        sns.verify_signature(sns.parse_envelope(envelope(key=OTHER_KEY)), sns.load_certificate(CERT))


@pytest.mark.parametrize("pem", [b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"\x00" * 10])
def test_unreadable_certificates_fail(pem):
    with pytest.raises(sns.SignatureError):
        sns.load_certificate(pem)


def test_expired_certificate_fails():
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=60)
    with pytest.raises(sns.SignatureError, match="not valid now"):
        sns.load_certificate(CERT, now=later)


@pytest.mark.parametrize("url, ok", [
    (CERT_URL, True),
    ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", True),
    ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
    ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", True),
    ("https://sns.us-east-1.amazonaws.com:443/x.pem", True),
    ("http://sns.us-east-1.amazonaws.com/x.pem", False),             # not https
    ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
    ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", False),
    ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com:8443/x.pem", False),
    ("https://sqs.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.amazonaws.com/x.pem", False),
    ("https://xsns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com/x.crt", False),
    ("https://sns.us-east-1.amazonaws.com/x.pem?a=b", False),
    ("https://127.0.0.1/x.pem", False),
    ("", False),
    ("not a url", False),
])
def test_certificate_url(url, ok):
    assert sns.certificate_url_allowed(url) is ok


@pytest.mark.parametrize("url, verify, ok", [
    ("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t", True, True),
    ("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", True, False),
    ("http://127.0.0.1:8080/confirm", True, False),
    ("http://127.0.0.1:8080/confirm", False, True),
    ("file:///etc/passwd", False, False),
    ("ftp://x/y", False, False),
])
def test_subscribe_url(url, verify, ok):
    assert sns.subscribe_url_allowed(url, verify=verify) is ok


@pytest.mark.parametrize("body, field", [
    ([], "body"),
    ("x", "body"),
    ({}, "Type"),
    ({"Type": "Publish"}, "Type"),
    ({"Type": "Notification", "TopicArn": TOPIC, "Message": "{}"}, "MessageId"),
    ({"Type": "Notification", "MessageId": "m", "Message": "{}"}, "TopicArn"),
    ({"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC}, "Message"),
    ({"Type": "Notification", "MessageId": 1, "TopicArn": TOPIC, "Message": "{}"}, "MessageId"),
    ({"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC, "Message": {"Records": []}}, "Message"),
    ({"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": TOPIC, "Message": "", "Token": "t"},
     "SubscribeURL"),
])
def test_malformed_envelopes_name_the_field(body, field):
    with pytest.raises(sns.SnsError, match=f"^{field}:"):
        sns.parse_envelope(body, signed=False)


@pytest.mark.parametrize("field", ["Timestamp", "SignatureVersion", "Signature", "SigningCertURL"])
def test_signature_fields_required_when_verifying(field):
    body = envelope()
    del body[field]
    sns.parse_envelope(body, signed=False)
    with pytest.raises(sns.SnsError, match=f"^{field}: required"):
        sns.parse_envelope(body, signed=True)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=6),
                    max_leaves=12)
ENVELOPE_KEYS = st.sampled_from(["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
                                 "Signature", "SigningCertURL", "SubscribeURL", "Token", "Subject"])
ENVELOPE_VALUES = st.one_of(st.sampled_from([*sns.TYPES, TOPIC, "1", "2", CERT_URL, "\ud800"]), JSON)


@hsettings(max_examples=200, deadline=None, derandomize=True)
@given(body=JSON | st.dictionaries(ENVELOPE_KEYS, ENVELOPE_VALUES, max_size=11), signed=st.booleans())
def test_envelope_parser_raises_only_sns_errors(body, signed):
    try:
        parsed = sns.parse_envelope(body, signed=signed)
    except sns.SnsError:
        return
    assert parsed.type in sns.TYPES
    assert isinstance(sns.canonical_string(parsed), bytes)
    try:
        sns.verify_signature(parsed, sns.load_certificate(CERT))
    except sns.SignatureError:
        pass


# --- settings ---------------------------------------------------------------------------------


def test_sns_settings_defaults():
    s = load_settings({})
    assert (s.sns_topics, s.sns_verify) == ((), True)


def test_sns_settings_values():
    s = load_settings({"KFN_SNS_TOPICS": f" {TOPIC}, arn:aws-cn:sns:cn-north-1:123456789012:a.fifo ,",
                       "KFN_SNS_VERIFY": "0"})
    assert s.sns_topics == (TOPIC, "arn:aws-cn:sns:cn-north-1:123456789012:a.fifo")
    assert s.sns_verify is False
    assert load_settings({"KFN_SNS_TOPICS": "*", "KFN_SNS_VERIFY": "true"}).sns_topics == ("*",)


@pytest.mark.parametrize("env, name", [
    ({"KFN_SNS_TOPICS": "uploads"}, "KFN_SNS_TOPICS"),
    ({"KFN_SNS_TOPICS": f"{TOPIC},arn:aws:sqs:us-east-1:123456789012:q"}, "KFN_SNS_TOPICS"),
    ({"KFN_SNS_TOPICS": "arn:aws:sns:us-east-1:12345:short-account"}, "KFN_SNS_TOPICS"),
    ({"KFN_SNS_VERIFY": "maybe"}, "KFN_SNS_VERIFY"),
])
def test_sns_settings_errors_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


# --- the endpoint -----------------------------------------------------------------------------


class Gateway:
    """The gateway app with a real queue; no function ever runs (the trigger is asynchronous)."""

    def __init__(self, client: TestClient, queue: SqliteQueue, receiver: sns.SnsReceiver,
                 fetched: list[str], confirmed: list[str]) -> None:
        self.client = client
        self.queue = queue
        self.receiver = receiver
        self.fetched = fetched
        self.confirmed = confirmed

    async def post(self, body: Any, content_type: str = "text/plain; charset=UTF-8") -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.client.post("/events/sns", data=data, headers={"Content-Type": content_type}) as resp:
            return resp.status, await resp.json()

    async def queued(self) -> int:
        return sum((await self.queue.depth()).values())


def _manifest() -> tuple[api.Function, api.Trigger]:
    fn = api.parse_function({"apiVersion": api.API_VERSION, "kind": "Function", "metadata": {"name": "thumbnail"},
                             "spec": {"runtime": "python3.11", "handler": "app.handler",
                                      "code": {"inline": "def handler(e, c): pass\n"}}})
    trigger = api.parse_trigger({"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": "on-upload"},
                                 "spec": {"function": "thumbnail", "s3": {"bucket": "uploads"}}})
    return fn, trigger


@contextlib.asynccontextmanager
async def _gateway(tmp_path: pathlib.Path, *, topics: tuple[str, ...] = (TOPIC,), verify: bool = True,
                   confirm: sns.Confirm | None = None) -> AsyncIterator[Gateway]:
    settings = GatewaySettings(sns_topics=topics, sns_verify=verify, state_dir=str(tmp_path), events_body_limit=4096)
    metrics = Metrics(prom.CollectorRegistry())
    fn, trigger = _manifest()
    states = {fn.key: FunctionState(fn)}
    invoker = Invoker(settings, LocalBackend(settings, metrics), metrics, states)
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    dispatcher = AsyncDispatcher(AsyncSettings(), queue, invoker, metrics, states)
    router = EventRouter([trigger], states, dispatcher, invoker, metrics)
    app = gateway_app.build_app(settings=settings, invoker=invoker, metrics_=metrics, routes=RouteTable([]),
                                event_router=router, dispatcher=dispatcher)
    fetched: list[str] = []
    confirmed: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return CERT

    async def record(url: str) -> None:
        confirmed.append(url)

    app[sns.RECEIVER] = receiver = sns.SnsReceiver(topics, verify, fetch=fetch, confirm=confirm or record)
    await queue.open()
    try:
        async with TestClient(TestServer(app)) as client:
            yield Gateway(client, queue, receiver, fetched, confirmed)
    finally:
        await queue.close()


@pytest.fixture
async def gateway(tmp_path: pathlib.Path) -> AsyncIterator[Gateway]:
    async with _gateway(tmp_path) as gw:
        yield gw


@pytest.mark.parametrize("version", ["1", "2"])
async def test_signed_notification_is_queued(gateway, version):
    status, body = await gateway.post(envelope(version=version))
    assert (status, body) == (200, {"queued": 1, "invoked": 0})
    assert await gateway.queued() == 1
    assert gateway.fetched == [CERT_URL]


async def test_json_content_type_and_no_sns_headers_accepted(gateway):
    status, _ = await gateway.post(envelope(), content_type="application/json")
    assert status == 200 and await gateway.queued() == 1


async def test_certificate_is_cached(gateway):
    for _ in range(3):
        assert (await gateway.post(envelope()))[0] == 200
    assert gateway.fetched == [CERT_URL]
    assert await gateway.queued() == 3


async def test_certificate_cache_is_bounded():
    fetched: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return CERT

    cache = sns.CertificateCache(fetch, size=2)
    for url in ["a", "b", "a", "c", "a", "b"]:
        await cache.key(url)
    assert fetched == ["a", "b", "c", "b"]


async def test_test_event_is_ignored(gateway):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00.000Z",
                  "Bucket": "uploads", "RequestId": "r", "HostId": "h"}
    status, body = await gateway.post(envelope(message=test_event))
    assert (status, body) == (200, {"queued": 0, "invoked": 0})
    assert await gateway.queued() == 0


async def test_unmatched_record_is_acknowledged_not_queued(gateway):
    status, body = await gateway.post(envelope(message=s3_event(bucket="elsewhere")))
    assert (status, body["queued"]) == (200, 0)


@pytest.mark.parametrize("change, message", [
    ({"Message": json.dumps(s3_event("tampered.jpg"))}, "signature does not match"),
    ({"SignatureVersion": "3"}, "SignatureVersion"),
])
async def test_bad_signature_is_refused(gateway, change, message):
    status, body = await gateway.post({**envelope(), **change})
    assert status == 403 and body["errorType"] == "InvalidSignatureException"
    assert message in body["errorMessage"]
    assert await gateway.queued() == 0


async def test_signature_of_another_key_is_refused(gateway):
    status, _ = await gateway.post(envelope(key=OTHER_KEY))
    assert status == 403 and await gateway.queued() == 0


@pytest.mark.parametrize("url", ["https://evil.example/SimpleNotificationService-x.pem",
                                 "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                                 "https://sns.us-east-1.amazonaws.com.evil.example/x.pem"])
async def test_certificate_off_sns_host_is_refused_without_fetching(gateway, url):
    status, body = await gateway.post(envelope(cert_url=url))
    assert status == 403 and "SigningCertURL" in body["errorMessage"]
    assert gateway.fetched == [] and await gateway.queued() == 0


async def test_unfetchable_certificate_is_a_502(tmp_path):
    async with _gateway(tmp_path) as gw:
        async def fail(url: str) -> bytes:
            raise OSError("connection refused")
        gw.receiver.certificates.fetch = fail
        status, body = await gw.post(envelope())
        assert status == 502 and body["errorType"] == "CertificateUnavailableException"
        assert await gw.queued() == 0


@pytest.mark.parametrize("kind", sns.TYPES)
async def test_topic_not_allowed_is_refused_before_anything_is_fetched(gateway, kind):
    status, body = await gateway.post(envelope(kind, topic=OTHER_TOPIC))
    assert status == 403 and body["errorType"] == "AccessDeniedException" and OTHER_TOPIC in body["errorMessage"]
    assert gateway.fetched == [] and gateway.confirmed == [] and await gateway.queued() == 0


async def test_no_topic_configured_refuses_everything(tmp_path):
    async with _gateway(tmp_path, topics=()) as gw:
        assert (await gw.post(envelope()))[0] == 403
        assert (await gw.post(envelope("SubscriptionConfirmation")))[0] == 403
        assert gw.fetched == [] and gw.confirmed == [] and await gw.queued() == 0


async def test_any_topic_with_star(tmp_path):
    async with _gateway(tmp_path, topics=("*",)) as gw:
        assert (await gw.post(envelope(topic=OTHER_TOPIC)))[0] == 200


async def test_signed_confirmation_of_an_allowed_topic_is_confirmed(gateway):
    body = envelope("SubscriptionConfirmation")
    status, answer = await gateway.post(body)
    assert (status, answer) == (200, {"confirmed": TOPIC})
    assert gateway.confirmed == [body["SubscribeURL"]]


async def test_confirmation_to_a_non_sns_host_is_refused_when_verifying(gateway):
    status, _ = await gateway.post(envelope("SubscriptionConfirmation", subscribe_url="https://evil.example/confirm"))
    assert status == 403 and gateway.confirmed == []


async def test_unsubscribe_confirmation_is_acknowledged(gateway):
    status, body = await gateway.post(envelope("UnsubscribeConfirmation"))
    assert (status, body) == (200, {"unsubscribed": TOPIC})
    assert gateway.confirmed == [] and await gateway.queued() == 0


@pytest.mark.parametrize("payload, field", [
    (b"{not json", "body"),
    (b"\xff\xfe", "body"),
    (b"[" * 2000 + b"]" * 2000, "body"),  # nested deeper than the parser recurses
    (json.dumps({"Type": "Notification"}).encode(), "MessageId"),
    (json.dumps({"MessageId": "m"}).encode(), "Type"),
])
async def test_malformed_bodies_are_400(tmp_path, payload, field):
    async with _gateway(tmp_path, verify=False) as gw:
        status, body = await gw.post(payload)
        assert status == 400 and body["errorMessage"].startswith(field), body
        assert await gw.queued() == 0


@pytest.mark.parametrize("message, detail", [
    ("not json", "Message: must be an S3 event"),
    (json.dumps({"foo": 1}), "Message: Records: required"),
    (json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}), "Message: Records[0].s3: required"),
])
async def test_message_that_is_not_an_s3_event_is_400(gateway, message, detail):
    status, body = await gateway.post(envelope(message=message))
    assert status == 400 and body["errorMessage"].startswith(detail)
    assert await gateway.queued() == 0


async def test_body_over_the_limit_is_413(gateway):
    status, body = await gateway.post(envelope(message=s3_event("k" * 5000)))
    assert status == 413 and await gateway.queued() == 0


async def test_refusals_are_counted(gateway):
    await gateway.post(envelope(topic=OTHER_TOPIC))
    await gateway.post(b"{")
    await gateway.post(envelope())
    async with gateway.client.get("/metrics") as resp:
        text = await resp.text()
    assert 'kfn_events_received_total{outcome="unauthorized",source="sns"} 1.0' in text
    assert 'kfn_events_received_total{outcome="rejected",source="sns"} 1.0' in text
    assert 'kfn_events_received_total{outcome="matched",source="sns"} 1.0' in text


# --- confirmation over HTTP, without verification (a local SubscribeURL) ----------------------


@pytest.fixture
async def sns_host() -> AsyncIterator[tuple[str, list[str]]]:
    """A local server standing in for SNS's ConfirmSubscription URL; records the tokens it got."""
    tokens: list[str] = []

    async def confirm(request: web.Request) -> web.Response:
        tokens.append(request.query["Token"])
        return web.Response(text="<ConfirmSubscriptionResponse/>", content_type="text/xml")

    app = web.Application()
    app.router.add_get("/", confirm)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/")), tokens


async def test_confirmation_fetches_subscribe_url_when_allowed(tmp_path, sns_host):
    base, tokens = sns_host
    async with _gateway(tmp_path, verify=False, confirm=sns.confirm_subscription) as gw:
        url = f"{base}?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
        body = envelope("SubscriptionConfirmation", subscribe_url=url)
        assert (await gw.post(body))[0] == 200
        assert tokens == ["abc"]
        other = envelope("SubscriptionConfirmation", topic=OTHER_TOPIC, subscribe_url=url.replace("abc", "def"))
        assert (await gw.post(other))[0] == 403
        assert tokens == ["abc"]


async def test_failed_confirmation_is_a_502(tmp_path, sns_host):
    base, tokens = sns_host
    async with _gateway(tmp_path, verify=False, confirm=sns.confirm_subscription) as gw:
        status, body = await gw.post(envelope("SubscriptionConfirmation", subscribe_url=base + "missing?Token=x"))
        assert status == 502 and body["errorType"] == "SubscriptionConfirmationException"
        assert tokens == []


async def test_unsigned_notification_accepted_when_verification_is_off(tmp_path):
    async with _gateway(tmp_path, verify=False) as gw:
        body = envelope()
        for field in ("Signature", "SignatureVersion", "SigningCertURL", "Timestamp"):
            del body[field]
        assert (await gw.post(body))[0] == 200
        assert gw.fetched == [] and await gw.queued() == 1


async def test_lone_surrogates_are_refused_not_crashed_on(gateway):
    body = json.dumps(envelope()).replace('"Message": "', '"Message": "\\ud800', 1).encode()
    status, answer = await gateway.post(body)
    assert status == 403 and answer["errorType"] == "InvalidSignatureException"
