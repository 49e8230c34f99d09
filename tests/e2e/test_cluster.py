"""A Function on a real cluster: applied with kubectl, Ready, invoked from zero, back to zero.

Nothing is faked: a real API server, controllers, kubelets, the operator and gateway as
installed. Run as described in docs/kubernetes.md; skipped otherwise.
"""

from __future__ import annotations

import json
import pathlib
import time
import urllib.request

from tests.e2e.conftest import kubectl

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
FUNCTION = """
apiVersion: kfn.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  runtime: python3.12
  handler: app.handler
  code:
    inline: |
      def handler(event, context):
          return {"hello": context.function_name}
  scaling: {minReplicas: 0, maxReplicas: 2, scaleToZeroAfterSeconds: 20}
"""


def replicas(namespace: str) -> int:
    return int(kubectl("-n", namespace, "get", "deployment", "fn-hello", "-o", "jsonpath={.spec.replicas}") or 0)


def wait_for(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout}s"
        time.sleep(2)


def test_scale_from_zero_and_back(namespace: str, gateway_url: str) -> None:
    kubectl("apply", "-f", str(CRDS))
    kubectl("-n", namespace, "apply", "-f", "-", stdin=FUNCTION)
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "function/hello", "--timeout=120s")
    assert replicas(namespace) == 0
    columns = kubectl("-n", namespace, "get", "functions").splitlines()[0].split()
    assert columns == ["NAME", "READY", "REPLICAS", "URL", "AGE"]
    request = urllib.request.Request(f"{gateway_url}/fn/{namespace}/hello", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=120) as resp:  # a cold start pulls the image
        assert json.loads(resp.read()) == {"hello": "hello"}
    assert replicas(namespace) >= 1
    wait_for(lambda: replicas(namespace) == 0, timeout=180)


def test_kubectl_scale_pins_the_function(namespace: str) -> None:
    kubectl("apply", "-f", str(CRDS))
    kubectl("-n", namespace, "apply", "-f", "-", stdin=FUNCTION)
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "function/hello", "--timeout=120s")
    kubectl("-n", namespace, "scale", "function", "hello", "--replicas=1")
    wait_for(lambda: replicas(namespace) == 1, timeout=60)
    kubectl("-n", namespace, "wait", "--for=jsonpath={.status.readyReplicas}=1", "function/hello", "--timeout=180s")
