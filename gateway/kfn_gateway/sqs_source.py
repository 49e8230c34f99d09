"""Polling SQS queues that S3 notifies (AWS S3 → SQS): a Trigger's ``s3.source.sqs``.

One poller per distinct queue. boto3 blocks, so each poller's SQS calls run in a thread of its
own (a daemon: a long poll in progress never delays the gateway's exit; ``stop`` waits for it only
a bounded time). The thread long-polls (``WaitTimeSeconds`` 20, at most 10 messages), hands every
message body to the ``EventRouter`` on the event loop, and deletes a message only after ``deliver``
returned, that is once its invocations are durably queued. A message that cannot be used (not an
S3 event) or whose delivery failed is left alone: SQS shows it again after the queue's visibility
timeout, and its redrive policy moves it to a dead-letter queue after ``maxReceiveCount`` tries.

Bodies are S3 event notifications, ``s3:TestEvent`` (deleted, never invoked), or the same wrapped
in an SNS envelope (S3 → SNS → SQS without raw delivery).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import logging
import threading
from typing import Any, Callable, Iterable, Mapping

from kfn import api
from kfn_gateway import s3events
from kfn_gateway.event_routing import EventRouter

__all__ = ["SqsPoller", "PollerSet", "ClientFactory", "parse_message", "queue_key", "boto3_client", "CREDENTIAL_KEYS"]

logger = logging.getLogger(__name__)

MAX_MESSAGES = 10
"""SQS's largest batch per ReceiveMessage."""
WAIT_SECONDS = 20
"""SQS's longest long poll; a stopping gateway does not wait for it."""
DELIVER_TIMEOUT = 60.0
"""Seconds the poller thread waits for one delivery before leaving the message to SQS."""
STOP_TIMEOUT = 2.0
"""Seconds ``stop`` waits for a poller thread that is not in a long poll to finish its batch."""
_REMEMBERED = 1024

ClientFactory = Callable[[api.SqsSource], Any]


def parse_message(body: str) -> s3events.Notification:
    """An SQS message body as an S3 notification; raises S3EventError naming the problem. Pure."""
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and decoded.get("Type") == "Notification" and "TopicArn" in decoded:
            message = decoded.get("Message")
            if not isinstance(message, str):
                raise s3events.S3EventError("Message: must be a string (an SNS envelope)")
            decoded = json.loads(message)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, s3events.S3EventError):
            raise
        raise s3events.S3EventError("body: must be an S3 event notification (JSON)") from None
    return s3events.parse_notification(decoded)


QueueKey = tuple[str, str, "str | None", "str | None"]


def queue_key(source: api.SqsSource) -> QueueKey:
    """Triggers reading the same queue with the same credentials share one poller."""
    return (source.queue_url, source.region, source.endpoint_url, source.credentials_secret)


CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""The keys of a ``credentialsSecret`` (the last one optional), named as the AWS variables are."""


def boto3_client(source: api.SqsSource, credentials: Mapping[str, str] | None = None) -> Any:
    """An SQS client with ``credentials`` (a ``credentialsSecret``'s keys), else the process's own
    (``kfn dev``: the AWS_* variables; in a cluster: the pod's, e.g. IRSA)."""
    import boto3  # only gateways with an SQS source need it
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=WAIT_SECONDS + 10, retries={"max_attempts": 3, "mode": "standard"})
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {"aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]}
        if credentials.get("AWS_SESSION_TOKEN"):
            keys["aws_session_token"] = credentials["AWS_SESSION_TOKEN"]
    return boto3.session.Session(**keys).client("sqs", region_name=source.region, endpoint_url=source.endpoint_url,
                                                config=config)


class SqsPoller:
    def __init__(self, source: api.SqsSource, router: EventRouter, *, client_factory: ClientFactory = boto3_client,
                 wait_seconds: int = WAIT_SECONDS, error_delay: float = 1.0) -> None:
        self.source = source
        self.router = router
        self.client_factory = client_factory
        self.wait_seconds = wait_seconds
        self.error_delay = error_delay
        self._stopping = threading.Event()
        self._long_polling = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Event | None = None
        self._unusable: collections.OrderedDict[str, None] = collections.OrderedDict()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._finished = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs {self.source.queue_url}", daemon=True)
        self._thread.start()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the thread to stop; wait at most ``timeout`` for a batch being delivered, not at all
        for a long poll in progress (whatever it receives is left to SQS)."""
        self._stopping.set()
        if self._finished is not None and not self._long_polling:
            try:
                await asyncio.wait_for(self._finished.wait(), timeout)
            except TimeoutError:
                logger.warning("SQS poller of %s still delivering at stop; what it has not deleted comes back "
                               "after the queue's visibility timeout", self.source.queue_url)

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        client = None
        try:
            delay = self.error_delay
            while not self._stopping.is_set():
                try:
                    if client is None:  # made here, retried: credentials may come later (a Secret created after)
                        client = self.client_factory(self.source)
                        logger.info("polling SQS queue %s", self.source.queue_url)
                    messages = self._receive(client)
                except Exception as exc:  # noqa: BLE001 - the queue may come back; say why, wait, retry
                    what = "cannot receive" if client is not None else "cannot make a client"
                    logger.warning("SQS %s: %s: %s; retrying in %.0fs", self.source.queue_url, what, exc, delay)
                    if client is not None:  # made again next time: rotated credentials are read then
                        client.close()
                        client = None
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                delay = self.error_delay
                done = [m["ReceiptHandle"] for m in messages if not self._stopping.is_set() and self._handle(m)]
                if done:
                    self._delete(client, done)
        except Exception:  # noqa: BLE001 - a poller must never take the gateway down
            logger.exception("SQS poller of %s stopped", self.source.queue_url)
        finally:
            if client is not None:
                client.close()
            self._signal_finished()

    def _receive(self, client: Any) -> list[dict[str, Any]]:
        self._long_polling = True
        try:
            response = client.receive_message(QueueUrl=self.source.queue_url, MaxNumberOfMessages=MAX_MESSAGES,
                                              WaitTimeSeconds=self.wait_seconds)
        finally:
            self._long_polling = False
        return list(response.get("Messages", []))

    def _handle(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` was delivered (its invocations durably queued) and may be deleted."""
        message_id = str(message.get("MessageId", ""))
        try:
            notification = parse_message(str(message.get("Body", "")))
        except s3events.S3EventError as exc:
            if message_id not in self._unusable:
                logger.warning("SQS %s: message %s is not an S3 event (%s); left for the queue's redrive policy",
                               self.source.queue_url, message_id, exc)
                self._unusable[message_id] = None
                if len(self._unusable) > _REMEMBERED:
                    self._unusable.popitem(last=False)
                self.router.metrics.events_received.labels("sqs", "rejected").inc()
            return False
        assert self._loop is not None
        future: concurrent.futures.Future[Any] | None = None
        try:
            future = asyncio.run_coroutine_threadsafe(self.router.deliver(notification, "sqs"), self._loop)
            delivery = future.result(DELIVER_TIMEOUT)
        except concurrent.futures.TimeoutError:
            if future is not None:
                future.cancel()
            logger.warning("SQS %s: message %s not delivered within %.0fs; SQS will show it again",
                           self.source.queue_url, message_id, DELIVER_TIMEOUT)
            return False
        except Exception as exc:  # noqa: BLE001 - left in the queue: SQS shows it again
            logger.warning("SQS %s: message %s not delivered (%s); SQS will show it again",
                           self.source.queue_url, message_id, exc)
            return False
        if delivery.failed:
            logger.warning("SQS %s: message %s: synchronous invocations failed (%s); SQS will show it again",
                           self.source.queue_url, message_id, ", ".join(delivery.failed))
            return False
        return True

    def _delete(self, client: Any, receipts: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        try:
            response = client.delete_message_batch(QueueUrl=self.source.queue_url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - delivered already; a second delivery is the worst case
            logger.warning("SQS %s: cannot delete %d delivered message(s): %s", self.source.queue_url, len(entries), exc)
            return
        for failure in response.get("Failed", []):
            logger.warning("SQS %s: cannot delete a delivered message: %s", self.source.queue_url,
                           failure.get("Message") or failure.get("Code"))

    def _signal_finished(self) -> None:
        if self._loop is None or self._finished is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._finished.set)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting


def _by_queue(triggers: Iterable[api.Trigger]) -> dict[tuple[QueueKey, str | None], tuple[api.SqsSource, list[api.Trigger]]]:
    """The SQS-sourced Triggers grouped by the queue and credentials they read. Pure. A
    ``credentialsSecret`` is a name in the Trigger's namespace, so it groups per namespace."""
    groups: dict[tuple[QueueKey, str | None], tuple[api.SqsSource, list[api.Trigger]]] = {}
    for trigger in triggers:
        s3 = trigger.spec.s3
        if s3 is not None and s3.source is not None:
            source = s3.source.sqs
            key = (queue_key(source), trigger.namespace if source.credentials_secret else None)
            groups.setdefault(key, (source, []))[1].append(trigger)
    return groups


class PollerSet:
    """One started poller per distinct queue of the current Triggers, each delivering to a router of
    that queue's Triggers only; ``update`` starts, re-points and stops pollers as Triggers change
    (``kfn dev`` calls it once, the cluster gateway on every Trigger event). ``clients`` gives, for
    a Trigger's namespace, what makes its poller's SQS client (a ``credentialsSecret`` is read
    there)."""

    def __init__(self, make_router: Callable[[list[api.Trigger]], EventRouter],
                 clients: Callable[[str], ClientFactory] | None = None, **options: Any) -> None:
        self.make_router = make_router
        self.clients = clients
        self.options = options
        self.pollers: dict[tuple[QueueKey, str | None], SqsPoller] = {}
        self.stopping: set[asyncio.Task[None]] = set()

    def update(self, triggers: Iterable[api.Trigger]) -> None:
        groups = _by_queue(triggers)
        for key in [k for k in self.pollers if k not in groups]:
            task = asyncio.get_running_loop().create_task(self.pollers.pop(key).stop())
            self.stopping.add(task)
            task.add_done_callback(self.stopping.discard)
        for key, (source, group) in groups.items():
            poller = self.pollers.get(key)
            if poller is None:
                options = dict(self.options)
                if self.clients is not None:
                    options["client_factory"] = self.clients(group[0].namespace)
                poller = self.pollers[key] = SqsPoller(source, self.make_router(group), **options)
                poller.start()
            else:
                poller.router.triggers = [t for t in group if t.spec.s3 is not None]

    async def close(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        await asyncio.gather(*(poller.stop() for poller in pollers), *self.stopping)
