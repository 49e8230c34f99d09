"""Opt-in tests against a real cluster with kfn installed (docs/kubernetes.md, "Testing on a cluster").

They run only with ``KFN_E2E=1``, a KUBECONFIG (or ~/.kube/config) whose current context is the
cluster, ``kubectl`` on the PATH, and ``KFN_E2E_GATEWAY_URL`` reaching the gateway (for example
through ``kubectl -n kfn-system port-forward svc/kfn-gateway 8080:80``). Each test works in a
namespace of its own and deletes it after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from typing import Iterator

import pytest

ENABLED = os.environ.get("KFN_E2E") == "1"
REASON = "real-cluster tests are opt-in: set KFN_E2E=1, KUBECONFIG and KFN_E2E_GATEWAY_URL (docs/kubernetes.md)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.cluster)
            if not ENABLED:
                item.add_marker(pytest.mark.skip(reason=REASON))
            elif shutil.which("kubectl") is None:
                item.add_marker(pytest.mark.skip(reason="kubectl is not installed"))


def kubectl(*args: str, stdin: str | None = None, timeout: float = 180) -> str:
    done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"kfn-e2e-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def gateway_url() -> str:
    url = os.environ.get("KFN_E2E_GATEWAY_URL", "")
    assert url, "KFN_E2E_GATEWAY_URL must point at the gateway"
    return url.rstrip("/")
