"""The operator's door to the Kubernetes API besides kopf itself: the shared client
(:mod:`kfn.kubeclient`), the credentials kopf uses, and the paths of the objects it touches.
"""

from __future__ import annotations

import kopf

from kfn.kubeclient import MERGE, Api, ApiError, Configuration, Obj, load_configuration

__all__ = ["ApiError", "Api", "Configuration", "load_configuration", "connection_info", "MERGE", "paths"]


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
