"""``/events/sns``: SNS HTTP(S) subscriptions whose messages carry S3 event notifications.

SNS posts a JSON envelope (often as ``Content-Type: text/plain``, sometimes without the
``x-amz-sns-message-type`` header), so the type is read from the body. In order:

1. the envelope is parsed (400 naming the field);
2. its ``TopicArn`` must be allowed by ``KFN_SNS_TOPICS`` (403; nothing is fetched for another topic);
3. its signature is verified (403), unless ``KFN_SNS_VERIFY=0``: SignatureVersion 1 is SHA1withRSA,
   2 is SHA256withRSA, over AWS's canonical string; the certificate must come from
   ``https://sns.<region>.amazonaws.com/….pem`` and is cached;
4. ``SubscriptionConfirmation`` is confirmed by fetching ``SubscribeURL`` (an SNS host unless
   verification is off); ``Notification`` hands its ``Message``, an S3 event, to the
   ``EventRouter`` (``s3:TestEvent`` is ignored there); ``UnsubscribeConfirmation`` is logged.

The pure parts (``parse_envelope``, ``canonical_string``, the URL checks, ``verify_signature``)
are separate from the I/O (``fetch_certificate``, ``confirm_subscription``), which a
``SnsReceiver`` takes as arguments so tests can sign messages with their own key.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import datetime
import json
import logging
import re
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from yarl import URL

from kfn_gateway import bodies, s3events
from kfn_gateway.keys import EVENTS, METRICS, SETTINGS
from kfn_gateway.outcomes import GatewayError
from kfn_gateway.settings import GatewaySettings

__all__ = [
    "Envelope", "SnsError", "SignatureError", "parse_envelope", "canonical_string", "certificate_url_allowed",
    "subscribe_url_allowed", "topic_allowed", "verify_signature", "CertificateCache", "SnsReceiver",
    "RECEIVER", "sns_webhook",
]

logger = logging.getLogger(__name__)

TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
SNS_HOST = re.compile(r"^sns\.[a-z]{2}(-[a-z]+)+-[0-9]+\.amazonaws\.com(\.cn)?$")
"""``sns.<region>.amazonaws.com`` (``.com.cn`` in China): the only hosts certificates and
confirmation URLs may point at when signatures are verified."""
CERTIFICATE_LIMIT = 64 * 1024
"""Largest certificate body read, bytes; SNS's are about 2 KB."""
FETCH_TIMEOUT = 10.0
"""Seconds an outbound fetch (certificate, confirmation) may take."""

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


class SnsError(ValueError):
    """An envelope that cannot be used; the message names the field."""


class SignatureError(Exception):
    """A message whose signature, or the certificate it names, is not acceptable."""


@dataclasses.dataclass(frozen=True)
class Envelope:
    type: str
    topic_arn: str
    message_id: str
    fields: Mapping[str, str]
    """Every string field of the envelope, as received (the canonical string is built from them)."""

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def parse_envelope(body: Any, *, signed: bool = True) -> Envelope:
    """Validate a decoded SNS envelope; raises SnsError naming the field. Pure.

    ``signed``: the signature fields (and every field of the canonical string) are required.
    """
    if not isinstance(body, dict):
        raise SnsError("body: must be a JSON object (an SNS message)")
    kind = body.get("Type")
    if kind is None:
        raise SnsError("Type: required")
    if kind not in TYPES:
        raise SnsError(f"Type: must be one of {', '.join(TYPES)}")
    required = ["MessageId", "TopicArn", "Message"]
    if kind != "Notification":
        required += ["SubscribeURL", "Token"]
    if signed:
        required += ["Timestamp", "SignatureVersion", "Signature", "SigningCertURL"]
    fields: dict[str, str] = {}
    for name, value in body.items():
        if isinstance(value, str):
            fields[name] = value
        elif name in required or name in _SIGNED_FIELDS[kind]:
            raise SnsError(f"{name}: must be a string")
    for name in required:
        if name not in fields:
            raise SnsError(f"{name}: required")
    return Envelope(type=kind, topic_arn=fields["TopicArn"], message_id=fields["MessageId"], fields=fields)


def canonical_string(envelope: Envelope) -> bytes:
    """What SNS signs: ``name\\nvalue\\n`` for each signed field present, in AWS's order. Pure."""
    parts = []
    for name in _SIGNED_FIELDS[envelope.type]:
        value = envelope.get(name)
        if value is not None:
            parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates (\ud800)


def _sns_https(url: str) -> URL | None:
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return None
    if parsed.scheme != "https" or parsed.user is not None or parsed.password is not None:
        return None
    if parsed.explicit_port not in (None, 443) or not SNS_HOST.match(parsed.raw_host or ""):
        return None
    return parsed


def certificate_url_allowed(url: str) -> bool:
    """``https://sns.<region>.amazonaws.com/….pem``, nothing else (no port, user or query). Pure."""
    parsed = _sns_https(url)
    return parsed is not None and parsed.path.endswith(".pem") and not parsed.query_string and not parsed.fragment


def subscribe_url_allowed(url: str, *, verify: bool) -> bool:
    """An SNS host over https; any http(s) URL when verification is off (emulators). Pure."""
    if verify:
        return _sns_https(url) is not None
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.raw_host)


def topic_allowed(topic_arn: str, allowed: tuple[str, ...]) -> bool:
    return "*" in allowed or topic_arn in allowed


def load_certificate(pem: bytes, now: datetime.datetime | None = None) -> rsa.RSAPublicKey:
    """The RSA key of a PEM certificate valid at ``now``; raises SignatureError otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"the signing certificate cannot be read: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the signing certificate does not hold an RSA key")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureError("the signing certificate is not valid now")
    return key


def verify_signature(envelope: Envelope, key: rsa.RSAPublicKey) -> None:
    """Raise SignatureError unless ``envelope`` is signed by ``key``. Pure."""
    version = envelope.get("SignatureVersion")
    algorithm = _HASHES.get(version or "")
    if algorithm is None:
        raise SignatureError(f"SignatureVersion {version!r} is not supported (1 or 2)")
    try:
        signature = base64.b64decode(envelope.get("Signature") or "", validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Signature is not base64") from None
    try:
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        raise SignatureError("the signature does not match the message") from None


# --- I/O ----------------------------------------------------------------------------------------

Fetch = Callable[[str], Awaitable[bytes]]
Confirm = Callable[[str], Awaitable[None]]


async def fetch_certificate(url: str) -> bytes:
    """GET a signing certificate (bounded size, with a timeout)."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, allow_redirects=False) as resp:
            resp.raise_for_status()
            body = await resp.content.read(CERTIFICATE_LIMIT + 1)
    if len(body) > CERTIFICATE_LIMIT:
        raise ValueError(f"certificate larger than {CERTIFICATE_LIMIT} bytes")
    return body


async def confirm_subscription(url: str) -> None:
    """GET ``SubscribeURL``, which is how an HTTP endpoint confirms an SNS subscription."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, allow_redirects=False) as resp:
            resp.raise_for_status()


class CertificateCache:
    """Signing keys by certificate URL, least recently used dropped past ``size``."""

    def __init__(self, fetch: Fetch, size: int = 16) -> None:
        self.fetch = fetch
        self.size = size
        self._keys: collections.OrderedDict[str, rsa.RSAPublicKey] = collections.OrderedDict()

    async def key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
            return key
        key = load_certificate(await self.fetch(url))
        self._keys[url] = key
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return key


class SnsReceiver:
    """What ``/events/sns`` needs beyond the settings: the certificate fetcher and the confirmer."""

    def __init__(self, topics: tuple[str, ...], verify: bool, *, fetch: Fetch = fetch_certificate,
                 confirm: Confirm = confirm_subscription, cache_size: int = 16) -> None:
        self.topics = topics
        self.verify = verify
        self.certificates = CertificateCache(fetch, cache_size)
        self.confirm = confirm

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> "SnsReceiver":
        return cls(settings.sns_topics, settings.sns_verify)

    async def check_signature(self, envelope: Envelope) -> None:
        url = envelope.get("SigningCertURL") or ""
        if not certificate_url_allowed(url):
            raise SignatureError("SigningCertURL must be https://sns.<region>.amazonaws.com/….pem")
        try:
            key = await self.certificates.key(url)
        except SignatureError:
            raise
        except Exception as exc:  # noqa: BLE001 - any fetch failure is the same answer to SNS
            logger.warning("SNS signing certificate %s could not be fetched: %s", url, exc)
            raise GatewayError(502, "CertificateUnavailableException",
                               "the SNS signing certificate could not be fetched") from None
        verify_signature(envelope, key)


RECEIVER = web.AppKey("sns_receiver", SnsReceiver)


def _refuse(request: web.Request, status: int, error_type: str, message: str, outcome: str) -> GatewayError:
    request.app[METRICS].events_received.labels("sns", outcome).inc()
    return GatewayError(status, error_type, message)


async def sns_webhook(request: web.Request) -> web.Response:
    """``POST /events/sns``: one SNS message."""
    settings = request.app[SETTINGS]
    receiver = request.app[RECEIVER]
    body = await bodies.read_bounded(request, settings.events_body_limit)
    try:
        envelope = parse_envelope(json.loads(body), signed=receiver.verify)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError (or nesting too deep) and SnsError
        message = str(exc) if isinstance(exc, SnsError) else "body is not an SNS message (JSON)"
        raise _refuse(request, 400, "InvalidRequestContentException", message, "rejected") from None
    if not topic_allowed(envelope.topic_arn, receiver.topics):
        logger.warning("SNS %s from topic %s refused: not in KFN_SNS_TOPICS", envelope.type, envelope.topic_arn)
        raise _refuse(request, 403, "AccessDeniedException",
                      f"topic {envelope.topic_arn} is not allowed (KFN_SNS_TOPICS)", "unauthorized")
    if receiver.verify:
        try:
            await receiver.check_signature(envelope)
        except SignatureError as exc:
            logger.warning("SNS %s %s from %s refused: %s", envelope.type, envelope.message_id,
                           envelope.topic_arn, exc)
            raise _refuse(request, 403, "InvalidSignatureException", str(exc), "unauthorized") from None
    if envelope.type == "SubscriptionConfirmation":
        return await _confirm(request, receiver, envelope)
    if envelope.type == "UnsubscribeConfirmation":
        logger.info("SNS subscription to %s was removed", envelope.topic_arn)
        request.app[METRICS].events_received.labels("sns", "unsubscribed").inc()
        return web.json_response({"unsubscribed": envelope.topic_arn})
    try:
        notification = s3events.parse_notification(json.loads(envelope.fields["Message"]))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError (or nesting too deep) and S3EventError
        detail = str(exc) if isinstance(exc, s3events.S3EventError) else "must be an S3 event notification (JSON)"
        raise _refuse(request, 400, "InvalidRequestContentException", f"Message: {detail}", "rejected") from None
    delivery = await request.app[EVENTS].deliver(notification, "sns")
    result = {"queued": delivery.queued, "invoked": delivery.invoked}
    if delivery.failed:
        return web.json_response({**result, "failed": delivery.failed}, status=502)
    return web.json_response(result)


async def _confirm(request: web.Request, receiver: SnsReceiver, envelope: Envelope) -> web.Response:
    url = envelope.fields["SubscribeURL"]
    if not subscribe_url_allowed(url, verify=receiver.verify):
        raise _refuse(request, 403, "AccessDeniedException",
                      "SubscribeURL must be https://sns.<region>.amazonaws.com/…", "unauthorized")
    try:
        await receiver.confirm(url)
    except Exception as exc:  # noqa: BLE001 - SNS sends the confirmation again on a failure
        logger.warning("SNS subscription to %s could not be confirmed: %s", envelope.topic_arn, exc)
        raise _refuse(request, 502, "SubscriptionConfirmationException",
                      "the subscription could not be confirmed", "failed") from None
    logger.info("SNS subscription to %s confirmed", envelope.topic_arn)
    request.app[METRICS].events_received.labels("sns", "confirmed").inc()
    return web.json_response({"confirmed": envelope.topic_arn})
