"""The Lambda Invoke API and async invocations, end to end, with boto3 as the client.

Real parts: ``kfn dev`` as a subprocess, its runtime workers, the SQLite queue on disk, and AWS's
own SDK (boto3's Lambda client with ``endpoint_url``), which parses kfn's answers exactly as it
parses Lambda's. Asserted: RequestResponse, Event (side effect observed), DryRun, handler errors
(FunctionError + payload), LogType Tail, missing function, throttle, oversized payloads as the SDK's
own exception classes; the /events/s3 webhook (token, MinIO body, matching, bad input) and async
retries ending on the onFailure destination with Lambda's record.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import pathlib
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

from tests import minio
from tests.dev_e2e.conftest import DevServer, serving

pytestmark = pytest.mark.e2e

FUNCTIONS = pathlib.Path(__file__).parent / "invoke"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("invoke")
    with serving(FUNCTIONS, base / "kfn-dev.log",
                 env={"KFN_S3_WEBHOOK_TOKEN": TOKEN, "KFN_ASYNC_RETRY_BASE": "0.1",
                      "KFN_STATE_DIR": str(base / "state")}) as server:
        yield server


@pytest.fixture(scope="module")
def lam(dev):
    client = boto3.client("lambda", endpoint_url=dev.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}, read_timeout=60))
    yield client
    client.close()


def wait_for_file(path: pathlib.Path, timeout: float = 20, lines: int = 1) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            got = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if len(got) >= lines:
                return got
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {lines} line(s) within {timeout}s")


def post(dev: DevServer, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
    request = urllib.request.Request(dev.url + path, data=body if method == "POST" else None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_request_response(lam):
    resp = lam.invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    body = json.loads(resp["Payload"].read())
    assert body["event"] == {"a": 1} and body["function"] == "echo"
    assert body["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"


def test_namespaced_name_and_arn(lam):
    for name in ("team_echo", "arn:aws:lambda:us-east-1:000000000000:function:team_echo:$LATEST"):
        body = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
        assert body["namespace"] == "team"


def test_handler_error(lam):
    resp = lam.invoke(FunctionName="boom", Payload=b"{}")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    error = json.loads(resp["Payload"].read())
    assert error["errorType"] == "KeyError" and "missing" in error["errorMessage"]
    assert isinstance(error["stackTrace"], list)


def test_log_tail(lam):
    resp = lam.invoke(FunctionName="echo", Payload=b"{}", LogType="Tail")
    log = base64.b64decode(resp["LogResult"]).decode()
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in log
    assert "echo was called" in log and "a log line through logging" in log
    assert f"END RequestId: {request_id}" in log and f"REPORT RequestId: {request_id}" in log
    assert len(resp["LogResult"]) <= 4096 * 4 // 3 + 4


def test_dry_run_and_missing_function(lam):
    assert lam.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", Payload=b"{}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", InvocationType="DryRun")


def test_invalid_json_payload(lam):
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="echo", Payload=b"{not json")


def test_payload_too_large(lam):
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="echo", Payload=b'"' + b"x" * (7 * 1024 * 1024) + b'"')
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'"' + b"x" * (300 * 1024) + b'"')


def in_flight(dev: DevServer, function: str) -> float:
    _, text = post(dev, "/metrics", b"", {}, method="GET")
    for line in text.decode().splitlines():
        if line.startswith("kfn_function_concurrent_executions{") and f'function="{function}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_throttle(dev, lam):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(lam.invoke, FunctionName="single", Payload=json.dumps({"seconds": 2}))
        deadline = time.monotonic() + 20
        while in_flight(dev, "single") < 1:
            assert time.monotonic() < deadline, "the slow invocation never started"
            time.sleep(0.05)
        with pytest.raises(lam.exceptions.TooManyRequestsException):
            lam.invoke(FunctionName="single", Payload=json.dumps({"seconds": 0}))
        assert json.loads(slow.result()["Payload"].read()) == {"slept": 2}


def test_event_invocation_runs_later(lam, tmp_path):
    resp = lam.invoke(FunctionName="recorder", InvocationType="Event",
                      Payload=json.dumps({"id": "evt-1", "out": str(tmp_path)}))
    assert resp["StatusCode"] == 202
    [line] = wait_for_file(tmp_path / "evt-1")
    assert line["event"]["id"] == "evt-1"
    assert line["requestId"] == resp["ResponseMetadata"]["RequestId"]  # the same id, queued and run


def test_async_retries_end_on_the_destination(lam, tmp_path):
    resp = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"out": str(tmp_path)}))
    [record] = wait_for_file(tmp_path / "destination", timeout=30)
    attempts = wait_for_file(tmp_path / "attempts", lines=3)
    assert len(attempts) == 3  # the first try and maxRetries: 2
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert {a["requestId"] for a in attempts} == {request_id}
    ctx = record["requestContext"]
    assert ctx == {"requestId": request_id, "condition": "RetriesExhausted", "approximateInvokeCount": 3,
                   "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST"}
    assert record["requestPayload"] == {"out": str(tmp_path)}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def minio_body(out: pathlib.Path, key: str, event: str = "s3:ObjectCreated:Put", bucket: str = "uploads") -> bytes:
    return json.dumps(minio.notification(bucket, key, event, user_metadata={"out": str(out)})).encode()


def test_s3_webhook_matches_and_queues(dev, tmp_path):
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert post(dev, "/events/s3", b"", auth, method="HEAD")[0] == 200
    status, body = post(dev, "/events/s3", minio_body(tmp_path, "images/cat%20one.jpg"), auth)
    assert status == 200 and json.loads(body) == {"queued": 1, "invoked": 0}
    [line] = wait_for_file(tmp_path / "s3_ObjectCreated_Put-images_cat%20one.jpg")
    assert line["event"]["Records"][0]["s3"]["object"]["key"] == "images/cat%20one.jpg"  # as S3 sent it
    # filtered out: wrong prefix, wrong suffix, other bucket; removal events go to the other trigger
    for key, bucket in (("docs/a.jpg", "uploads"), ("images/a.png", "uploads"), ("images/a.jpg", "other")):
        status, body = post(dev, "/events/s3", minio_body(tmp_path, key, bucket=bucket), auth)
        assert status == 200 and json.loads(body)["queued"] == 0
    status, body = post(dev, "/events/s3", minio_body(tmp_path, "docs/a.txt", "s3:ObjectRemoved:Delete"), auth)
    assert json.loads(body)["queued"] == 1
    wait_for_file(tmp_path / "s3_ObjectRemoved_Delete-docs_a.txt")


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not JSON"),
    (b"[]", 400, "body"),
    (b"{}", 400, "Records: required"),
    (b'{"Records": {}}', 400, "Records: must be a list"),
    (b'{"Records": [{"eventName": 3}]}', 400, "Records[0].eventName: must be a string"),
    (b'{"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}}]}', 400,
     "Records[0].s3.object: required"),
    (b"x" * (10 * 1024 * 1024), 413, "smaller than"),
])
def test_s3_webhook_bad_input(dev, body, status, message):
    got, answer = post(dev, "/events/s3", body, {"Authorization": f"Bearer {TOKEN}"})
    assert got == status and message in json.loads(answer)["errorMessage"]


def test_s3_webhook_refuses_wrong_token(dev, tmp_path):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        assert post(dev, "/events/s3", minio_body(tmp_path, "images/x.jpg"), headers)[0] == 401
        assert post(dev, "/events/s3", b"", headers, method="HEAD")[0] == 401
    time.sleep(0.5)
    assert not list(tmp_path.iterdir()), "a refused notification must not run anything"


def test_token_auth_on_function_url(dev):
    assert post(dev, "/fn/default/private", b"{}", {})[0] == 401
    assert post(dev, "/fn/default/private", b"{}", {"Authorization": "Bearer nope"})[0] == 401
    status, body = post(dev, "/fn/default/private", b"{}", {"Authorization": "Bearer tok-alice"})
    assert status == 200 and json.loads(body) == {"secret": "tok-bob", "colour": "green"}
    assert post(dev, "/fn/default/private", b"{}", {"X-Kfn-Authorization": "Bearer tok-bob"})[0] == 200


def test_token_auth_on_the_invoke_api(dev, lam):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="private", InvocationType="DryRun")
    assert info.value.response["Error"]["Code"] == "UnauthorizedException"
    with pytest.raises(ClientError):
        lam.invoke(FunctionName="private", InvocationType="Event", Payload=b"{}")
    authed = boto3.client("lambda", endpoint_url=dev.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}))

    def add_token(request, **_):  # how SDK users pass a kfn token next to the SigV4 signature
        request.headers["X-Kfn-Authorization"] = "Bearer tok-alice"
    authed.meta.events.register("before-send.lambda.Invoke", add_token)
    try:
        assert authed.invoke(FunctionName="private", InvocationType="DryRun")["StatusCode"] == 204
        assert json.loads(authed.invoke(FunctionName="private", Payload=b"{}")["Payload"].read())["colour"] == "green"
    finally:
        authed.close()


def test_client_context_and_trace_id_reach_the_function(lam):
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {}, "client": {}}).encode()).decode()
    resp = lam.invoke(FunctionName="echo", Payload=b"{}", ClientContext=context)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="echo", Payload=b"{}", ClientContext=base64.b64encode(b"not json").decode())
