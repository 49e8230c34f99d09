"""The Function URL event (payload 2.0) built from a request: pure, compared field by field.

Asserted against the shape AWS documents for Lambda Function URLs: rawPath is the full path,
headers are lower-cased and joined, cookies are split out, text bodies stay text, others base64.
"""

import base64

from kfn_gateway import events


def req(**over):
    base = dict(method="POST", path="/fn/default/hello/a%20b", query_string="x=1&x=2&y=",
                headers=[("Content-Type", "application/json"), ("X-Multi", "a"), ("X-Multi", "b"),
                         ("Cookie", "s=1; t=2"), ("User-Agent", "curl/8"), ("Host", "127.0.0.1:8080")],
                body=b'{"name": "kfn"}', source_ip="127.0.0.1", host="127.0.0.1:8080")
    base.update(over)
    return events.HttpRequest(**base)


def test_payload_v2_fields():
    ev = events.url_event(req(), "rid-1", now=1700000000.123)
    assert ev["version"] == "2.0"
    assert ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/fn/default/hello/a%20b"
    assert ev["rawQueryString"] == "x=1&x=2&y="
    assert ev["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert ev["headers"]["x-multi"] == "a,b"
    assert "cookie" not in ev["headers"]
    assert ev["cookies"] == ["s=1", "t=2"]
    assert ev["body"] == '{"name": "kfn"}' and ev["isBase64Encoded"] is False
    http = ev["requestContext"]["http"]
    assert http == {"method": "POST", "path": "/fn/default/hello/a%20b", "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1", "userAgent": "curl/8"}
    ctx = ev["requestContext"]
    assert ctx["requestId"] == "rid-1" and ctx["timeEpoch"] == 1700000000123
    assert ctx["time"] == "14/Nov/2023:22:13:20 +0000"
    assert ctx["domainName"] == "127.0.0.1:8080"


def test_binary_body_is_base64():
    body = bytes(range(256))
    ev = events.url_event(req(headers=[("Content-Type", "image/png")], body=body), "r")
    assert ev["isBase64Encoded"] is True
    assert base64.b64decode(ev["body"]) == body


def test_text_type_with_invalid_utf8_falls_back_to_base64():
    ev = events.url_event(req(headers=[("Content-Type", "text/plain")], body=b"\xff\xfe"), "r")
    assert ev["isBase64Encoded"] is True


def test_no_body_no_query():
    ev = events.url_event(req(method="GET", body=b"", query_string=""), "r")
    assert "body" not in ev and "queryStringParameters" not in ev and ev["isBase64Encoded"] is False


def test_is_text():
    assert events.is_text("application/json; charset=utf-8")
    assert events.is_text("application/vnd.api+json")
    assert events.is_text("text/csv")
    assert events.is_text(None)
    assert not events.is_text("application/octet-stream")
    assert not events.is_text("image/jpeg")
