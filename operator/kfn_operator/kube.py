"""The operator's only door to the Kubernetes API besides kopf itself: a few JSON calls.

Connection details (kubeconfig, in-cluster service account, exec plugins, token refresh) come
from kubernetes_asyncio's loaders; the calls themselves are plain aiohttp with a timeout each, on
raw dicts, so the builders' objects go out exactly as built. Library errors never leave this
module: every failure is an :class:`ApiError` with the API's status code and reason.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import kopf
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client import Configuration

__all__ = ["ApiError", "Api", "Configuration", "load_configuration", "connection_info", "MERGE", "paths"]

MERGE = "application/merge-patch+json"
Obj = dict[str, Any]


class ApiError(Exception):
    """A refused or failed API call: ``status`` 0 means the API could not be reached."""

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


async def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """The same credentials for kopf's own watches and patches."""
    token = None
    if "BearerToken" in configuration.api_key:
        token = await configuration.get_api_key_with_prefix("BearerToken")
    scheme, _, value = (token or "").partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host or "", ca_path=configuration.ssl_ca_cert, insecure=not configuration.verify_ssl,
        username=configuration.username or None, password=configuration.password or None,
        scheme=scheme or None, token=value or None,
        certificate_path=configuration.cert_file, private_key_path=configuration.key_file)


class paths:
    """API paths of the objects the operator touches."""

    @staticmethod
    def core(namespace: str, plural: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    @staticmethod
    def apps(namespace: str, plural: str, name: str = "") -> str:
        return f"/apis/apps/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    @staticmethod
    def kfn(namespace: str, plural: str, name: str = "") -> str:
        return f"/apis/kfn.dev/v1alpha1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    @staticmethod
    def of(obj: Obj) -> str:
        """The collection path an object built by ``builders`` is created in."""
        plural = {"ConfigMap": "configmaps", "Service": "services", "Deployment": "deployments"}[obj["kind"]]
        namespace = obj["metadata"]["namespace"]
        return paths.apps(namespace, plural) if obj["apiVersion"] == "apps/v1" else paths.core(namespace, plural)


class Api:
    def __init__(self, configuration: Configuration, timeout: float) -> None:
        self.configuration = configuration
        self.timeout = aiohttp.ClientTimeout(total=timeout)
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
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if "BearerToken" in self.configuration.api_key:
            headers["Authorization"] = await self.configuration.get_api_key_with_prefix("BearerToken")
        elif self.configuration.username:
            headers["Authorization"] = aiohttp.BasicAuth(self.configuration.username,
                                                         self.configuration.password or "").encode()
        return headers

    async def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Obj:
        assert self.session is not None, "use Api as an async context manager"
        data = None if body is None else json.dumps(body)
        try:
            async with self.session.request(method, (self.configuration.host or "").rstrip("/") + path, data=data,
                                            headers=await self._headers(content_type),
                                            timeout=self.timeout) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(0, "Unreachable", f"{method} {path}: {exc!r}") from None
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"message": text[:500]}
        if status >= 400:
            raise ApiError(status, str(payload.get("reason", "")), str(payload.get("message", text[:500])))
        return payload if isinstance(payload, dict) else {}

    async def get(self, path: str) -> Obj | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, collection: str, body: Obj) -> Obj:
        return await self.request("POST", collection, body)

    async def patch(self, path: str, body: Obj, content_type: str = MERGE) -> Obj:
        return await self.request("PATCH", path, body, content_type)
