"""The one Kubernetes API client of kfn: get, list, create, patch and watch, on raw dicts.

The operator (``kfn_operator.kube``) and the gateway (``kfn_gateway.backends.k8s_api``) both
reach the API through this class; each of those modules adds only what its component needs.
Connection details (in-cluster service account, kubeconfig, exec plugins, token refresh) come
from kubernetes_asyncio's loaders; the calls are plain aiohttp, each with a timeout (a watch: the
server ends it after ``timeoutSeconds``, the client gives up if nothing arrives for longer), so
objects go out exactly as built. Library errors never leave this module: every failure is an
:class:`ApiError` with the API's status code and reason.
"""

from __future__ import annotations

import json
import ssl
from typing import Any, AsyncIterator

import aiohttp
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client import Configuration

__all__ = ["ApiError", "Api", "Configuration", "load_configuration", "MERGE", "Obj"]

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
MAX_OBJECT = 4 * 1024 * 1024
"""Longest watch line read: a Function with 256 KiB of inline code, JSON-escaped, fits."""


class ApiError(Exception):
    """A refused or failed call: ``status`` 0 means the API could not be reached; 410 a watch
    that must start again from a fresh list."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


async def load_configuration(kubeconfig: str | None, context: str | None, in_cluster: bool) -> Configuration:
    """Where the API is and how to authenticate: the pod's service account, or a kubeconfig."""
    configuration = Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await k8s_config.load_kube_config(config_file=kubeconfig, context=context,
                                              client_configuration=configuration)
    except (k8s_config.ConfigException, OSError) as exc:
        raise ApiError(0, "NoConfiguration", f"cannot load the Kubernetes configuration: {exc}") from None
    return configuration


def _error(status: int, text: str) -> ApiError:
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    return ApiError(status, str(payload.get("reason", "")), str(payload.get("message", text[:500])))


class Api:
    def __init__(self, configuration: Configuration, timeout: float) -> None:
        self.configuration = configuration
        self.timeout = timeout
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Api":
        context: ssl.SSLContext | bool = False
        if (self.configuration.host or "").startswith("https"):
            context = ssl.create_default_context(cafile=self.configuration.ssl_ca_cert)
            if self.configuration.cert_file:
                context.load_cert_chain(self.configuration.cert_file, self.configuration.key_file)
            if not self.configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), read_bufsize=MAX_OBJECT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if "BearerToken" in self.configuration.api_key:
            headers["Authorization"] = await self.configuration.get_api_key_with_prefix("BearerToken")
        elif self.configuration.username:
            headers["Authorization"] = aiohttp.BasicAuth(self.configuration.username,
                                                         self.configuration.password or "").encode()
        return headers

    def _url(self, path: str) -> str:
        return (self.configuration.host or "").rstrip("/") + path

    async def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                      params: dict[str, str] | None = None) -> Obj:
        assert self.session is not None, "use Api as an async context manager"
        try:
            async with self.session.request(method, self._url(path), params=params,
                                            data=None if body is None else json.dumps(body),
                                            headers=await self._headers(content_type),
                                            timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(0, "Unreachable", f"{method} {path}: {exc!r}") from None
        if status >= 400:
            raise _error(status, text)
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            raise ApiError(status, "BadResponse", f"{method} {path}: not JSON") from None
        return payload if isinstance(payload, dict) else {}

    async def get(self, path: str) -> Obj | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, path: str, label_selector: str | None = None) -> Obj:
        params = {"labelSelector": label_selector} if label_selector else None
        return await self.request("GET", path, params=params)

    async def create(self, collection: str, body: Obj) -> Obj:
        return await self.request("POST", collection, body)

    async def patch(self, path: str, body: Obj, content_type: str = MERGE) -> Obj:
        return await self.request("PATCH", path, body, content_type)

    async def watch(self, path: str, resource_version: str, label_selector: str | None = None,
                    timeout_seconds: int = 300) -> AsyncIterator[Obj]:
        """The events after ``resource_version`` until the server ends the stream."""
        assert self.session is not None, "use Api as an async context manager"
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(timeout_seconds)}
        if label_selector:
            params["labelSelector"] = label_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=timeout_seconds + 30)
        try:
            async with self.session.get(self._url(path), params=params, headers=await self._headers(),
                                        timeout=timeout) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.text())
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(int(status.get("code") or 500), str(status.get("reason", "")),
                                       str(status.get("message", "")))
                    yield event
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ApiError(0, "WatchBroken", f"watch {path}: {exc!r}") from None
