"""Pure parts of the async path and the AWS-facing endpoints: no I/O.

Asserted: FunctionName → (namespace, name) as the Invoke API maps it; the webhook token check;
Lambda's destination record; the retry backoff curve.
"""

import json

import pytest

from kfn_gateway import destinations, invoke_api, webhooks
from kfn_gateway.async_dispatch import backoff
from kfn_gateway.outcomes import GatewayError, Kind, Outcome


@pytest.mark.parametrize("raw, qualifier, expected", [
    ("hello", None, ("default", "hello")),
    ("team_hello", None, ("team", "hello")),
    ("hello:$LATEST", None, ("default", "hello")),
    ("hello", "$LATEST", ("default", "hello")),
    ("arn:aws:lambda:us-east-1:000000000000:function:hello", None, ("default", "hello")),
    ("arn:aws:lambda:eu-west-1:123456789012:function:team_hello:$LATEST", None, ("team", "hello")),
    ("000000000000:function:team_hello", None, ("team", "hello")),
])
def test_function_names(raw, qualifier, expected):
    assert invoke_api.parse_function_name(raw, qualifier) == expected


@pytest.mark.parametrize("raw, qualifier, status", [
    ("Hello", None, 404),                 # not a DNS-1123 label
    ("a_b_c", None, 404),                 # namespace 'a_b' is not a label
    ("hello:1", None, 404),               # no published versions
    ("hello", "prod", 404),
    ("hello:$LATEST", "1", 400),          # contradicting qualifiers
    ("arn:aws:s3:::bucket", None, 404),
    ("../etc", None, 404),
    ("", None, 404),
])
def test_bad_function_names(raw, qualifier, status):
    with pytest.raises(GatewayError) as info:
        invoke_api.parse_function_name(raw, qualifier)
    assert info.value.status == status


@pytest.mark.parametrize("header, token, ok", [
    ("Bearer s3cret", "s3cret", True),
    ("Bearer s3cret ", "s3cret", True),
    ("Bearer wrong", "s3cret", False),
    ("s3cret", "s3cret", False),
    ("Basic eHl6", "Basic eHl6", True),   # a two-word token is the whole header
    ("Bearer Basic eHl6", "Basic eHl6", False),
    (None, "s3cret", False),
    ("Bearer ", "", False),
    ("Bearer anything", None, False),     # no token configured: refuse everything
])
def test_webhook_token(header, token, ok):
    assert webhooks.authorized(header, token) is ok


def test_failure_record_is_lambda_shaped():
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
    outcome = Outcome(Kind.ERROR, json.dumps(error).encode(), "rid")
    record = destinations.failure_record(request_id="rid", namespace="team", name="thumb",
                                         condition="RetriesExhausted", attempts=3,
                                         request_payload=b'{"Records": []}', outcome=outcome, now=1700000000.5)
    assert record == {
        "version": "1.0",
        "timestamp": "2023-11-14T22:13:20.500Z",
        "requestContext": {"requestId": "rid",
                           "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:team_thumb:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": []},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def test_age_exceeded_record_has_no_response():
    record = destinations.failure_record(request_id="r", namespace="default", name="f", condition="EventAgeExceeded",
                                         attempts=0, request_payload=b"not json", outcome=None)
    assert record["requestPayload"] == "not json" and "responsePayload" not in record
    assert record["requestContext"]["functionArn"].endswith(":function:f:$LATEST")


def test_backoff_doubles_caps_and_jitters():
    assert [backoff(n, 1.0, 100.0, 0.5) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(20, 1.0, 100.0, 0.5) == 100.0
    assert backoff(1, 10.0, 100.0, 0.0) == pytest.approx(9.0)
    assert backoff(1, 10.0, 100.0, 1.0) == pytest.approx(11.0)
