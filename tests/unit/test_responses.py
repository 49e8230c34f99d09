"""Outcome -> HTTP response, as Lambda Function URLs map them: pure, table-driven.

Asserted: structured {statusCode, headers, body, isBase64Encoded, cookies} responses; any other
JSON value as a 200 JSON body; handler/init/exit errors 502 and timeouts 504 with errorType and
errorMessage (no stack trace); malformed structured responses 502 with the reason.
"""

import json

import pytest

from kfn_gateway import responses
from kfn_gateway.outcomes import Kind, Outcome


def ok(value):
    return Outcome(Kind.SUCCESS, json.dumps(value).encode(), "r")


def test_structured_response():
    r = responses.url_response(ok({"statusCode": 201, "headers": {"X-A": "1", "Content-Length": "9"},
                                   "cookies": ["a=1"], "body": "made"}))
    assert r.status == 201 and r.body == b"made"
    assert ("X-A", "1") in r.headers and ("Set-Cookie", "a=1") in r.headers
    assert not any(k.lower() == "content-length" for k, _ in r.headers)


def test_base64_body():
    r = responses.url_response(ok({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True,
                                   "headers": {"Content-Type": "image/png"}}))
    assert r.body == b"hi" and ("Content-Type", "image/png") in r.headers


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], "text", 3, None])
def test_other_values_are_json_200(value):
    r = responses.url_response(ok(value))
    assert r.status == 200 and json.loads(r.body) == value
    assert ("Content-Type", "application/json") in r.headers


@pytest.mark.parametrize("bad, reason", [
    ({"statusCode": "200"}, "statusCode"),
    ({"statusCode": 99}, "statusCode"),
    ({"statusCode": 200, "headers": []}, "headers"),
    ({"statusCode": 200, "headers": {"a": "x\r\nInjected: 1"}}, "single-line"),
    ({"statusCode": 200, "body": "!!", "isBase64Encoded": True}, "base64"),
    ({"statusCode": 200, "cookies": "a=1"}, "cookies"),
])
def test_invalid_structured_responses_are_502(bad, reason):
    r = responses.url_response(ok(bad))
    body = json.loads(r.body)
    assert r.status == 502 and body["errorType"] == "Runtime.InvalidResponse" and reason in body["errorMessage"]


@pytest.mark.parametrize("kind, status", [(Kind.ERROR, 502), (Kind.INIT_ERROR, 502), (Kind.EXIT_ERROR, 502),
                                          (Kind.TIMEOUT, 504)])
def test_errors(kind, status):
    err = {"errorType": "ValueError", "errorMessage": "boom", "stackTrace": ["secret frame"]}
    r = responses.url_response(Outcome(kind, json.dumps(err).encode(), "r"))
    assert r.status == status
    assert json.loads(r.body) == {"errorType": "ValueError", "errorMessage": "boom"}


def test_unreadable_error_payload_still_names_a_type():
    r = responses.url_response(Outcome(Kind.ERROR, b"not json", "r"))
    assert r.status == 502 and json.loads(r.body)["errorType"] == "Runtime.Unknown"
