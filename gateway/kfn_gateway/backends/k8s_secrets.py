"""The SQS clients a ``credentialsSecret`` makes, in a cluster.

The gateway reads a Secret only by the name a Function or Trigger gives (RBAC ``get``, no
``list``/``watch``), in that object's namespace, and never logs a value.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from kfn import api, manifests
from kfn_gateway import sqs_source
from kfn_gateway.backends.k8s_api import Api

__all__ = ["sqs_clients"]


def sqs_clients(client: Api, loop: asyncio.AbstractEventLoop, timeout: float
                ) -> Callable[[str], sqs_source.ClientFactory]:
    """For a Trigger's namespace, what makes its poller's SQS client: with the keys of the source's
    ``credentialsSecret`` read from that namespace, else the pod's own credentials. Called in the
    poller's thread (the read runs on ``loop``); raises LookupError naming what is missing, which
    the poller reports and retries."""
    def for_namespace(namespace: str) -> sqs_source.ClientFactory:
        def make(source: api.SqsSource) -> Any:
            name = source.credentials_secret
            if name is None:
                return sqs_source.boto3_client(source)
            future = asyncio.run_coroutine_threadsafe(client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}"),
                                                      loop)
            secret = future.result(timeout + 5)
            if secret is None:
                raise LookupError(f"credentialsSecret: Secret {namespace}/{name} not found")
            found = manifests.data_values(secret)[0]
            missing = [k for k in sqs_source.CREDENTIAL_KEYS[:2] if not found.get(k)]
            if missing:
                raise LookupError(f"credentialsSecret: Secret {namespace}/{name} has no {' or '.join(missing)}")
            return sqs_source.boto3_client(source, found)
        return make
    return for_namespace
