"""The API types: kfn.api's parsers on plain dicts, as YAML or the API server hands them over.

Real: kfn.api and kfn.names, nothing faked; no I/O. Asserted: the defaults; every validation rule,
each refusal naming the field path and saying why (``spec.timeoutSeconds: must be ≤ 900``); wrong
types, unknown fields and non-mappings are refused the same way; and, for any JSON-like input, the
parsers return a model or raise InvalidObject, never anything else.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfn import api, names


def function(spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api.API_VERSION, "kind": "Function", "metadata": {"name": "thumbnail"},
        "spec": {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": "def handler(e, c): ..."}},
    }
    obj["spec"].update(spec or {})
    obj.update(top)
    return obj


def trigger(spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": "on-upload"},
                           "spec": {"function": "thumbnail", **(spec or {})}}
    obj.update(top)
    return obj


def errors_of(obj: Any) -> list[str]:
    """Every error as ``path: message``; fails when the object is accepted."""
    with pytest.raises(api.InvalidObject) as info:
        api.parse_object(obj)
    return [str(e) for e in info.value.errors]


DNS_MESSAGE = "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"


# --- defaults ---------------------------------------------------------------------------------


def test_function_defaults():
    fn = api.parse_function(function())
    spec = fn.spec
    assert (fn.name, fn.namespace, fn.key) == ("thumbnail", "default", "default/thumbnail")
    assert spec.env == ()
    assert (spec.timeout_seconds, spec.memory_mib) == (3, 128)
    assert (spec.concurrency.per_replica, spec.concurrency.max) == (10, 100)
    assert (spec.scaling.min_replicas, spec.scaling.max_replicas, spec.scaling.target_concurrency,
            spec.scaling.scale_to_zero_after_seconds) == (0, 10, None, 300)
    assert (spec.async_.max_retries, spec.async_.max_event_age_seconds, spec.async_.on_failure) == (2, 21600, None)
    assert (spec.auth.type, spec.auth.secret_name) == ("none", None)
    assert spec.replicas is None
    assert spec.is_python and spec.target_concurrency == 10


def test_function_explicit_values():
    fn = api.parse_function(function({
        "env": [{"name": "BUCKET", "value": "thumbnails"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
        "timeoutSeconds": 30, "memoryMiB": 256, "concurrency": {"perReplica": 8, "max": 40},
        "scaling": {"minReplicas": 1, "maxReplicas": 5, "targetConcurrency": 4, "scaleToZeroAfterSeconds": 60},
        "async": {"maxRetries": 0, "maxEventAgeSeconds": 60, "onFailure": {"function": "failed-events"}},
        "auth": {"type": "token", "secretName": "tokens"}, "replicas": 2,
    }, metadata={"name": "thumbnail", "namespace": "media", "labels": {"team": "a"}}))
    spec = fn.spec
    assert fn.key == "media/thumbnail"
    assert [v.name for v in spec.env] == ["BUCKET", "TOKEN"]
    assert spec.env[1].value_from.secret_key_ref.key == "token"
    assert (spec.timeout_seconds, spec.memory_mib, spec.replicas) == (30, 256, 2)
    assert spec.target_concurrency == 4
    assert spec.async_.on_failure.function == "failed-events"
    assert spec.auth.secret_name == "tokens"


def test_provided_runtime_needs_no_handler():
    fn = api.parse_function(function({"runtime": "provided.al2023", "handler": None, "code": {"image": "r/fn:1"}}))
    assert fn.spec.handler is None and not fn.spec.is_python


def test_trigger_defaults():
    http = api.parse_trigger(trigger({"http": {"path": "/thumbnails"}}))
    assert http.spec.kind == "http" and http.spec.http.methods == ()
    assert http.spec.invocation_type is None and http.spec.effective_invocation_type == "RequestResponse"
    s3 = api.parse_trigger(trigger({"s3": {"bucket": "uploads"}}))
    assert s3.spec.kind == "s3" and s3.spec.effective_invocation_type == "Event"
    assert s3.spec.s3.events == ("s3:ObjectCreated:*",)
    assert (s3.spec.s3.filter.prefix, s3.spec.s3.filter.suffix) == ("", "")
    assert s3.key == "default/on-upload"
    sync = api.parse_trigger(trigger({"s3": {"bucket": "uploads"}, "invocationType": "RequestResponse"}))
    assert sync.spec.effective_invocation_type == "RequestResponse"


def test_null_means_not_set():
    # As on the API server, which drops nulls before defaulting: `env:` with nothing under it.
    fn = api.parse_function(function({"env": None, "timeoutSeconds": None, "scaling": {"targetConcurrency": None},
                                       "code": {"inline": "x", "image": None}}))
    assert fn.spec.env == () and fn.spec.timeout_seconds == 3 and fn.spec.code.image is None
    assert errors_of(function({"runtime": None})) == ["spec.runtime: required"]


def test_models_are_frozen():
    fn = api.parse_function(function())
    with pytest.raises(pydantic.ValidationError):
        fn.spec.timeout_seconds = 5  # type: ignore[misc]


def test_python_callers_may_use_field_names():
    assert api.Scaling(min_replicas=1, max_replicas=2).max_replicas == 2


def test_top_level_extras_and_metadata_extras_are_ignored():
    obj = function(status={"replicas": 1}, metadata={"name": "thumbnail", "uid": "x", "annotations": {"a": "b"}})
    assert api.parse_function(obj).name == "thumbnail"


def test_parse_object_dispatches_on_kind():
    assert isinstance(api.parse_object(function()), api.Function)
    assert isinstance(api.parse_object(trigger({"http": {"path": "/x"}})), api.Trigger)


def test_input_is_not_modified():
    obj = function({"env": [{"name": "A", "value": None}]})
    before = copy.deepcopy(obj)
    api.parse_function(obj)
    assert obj == before


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "a" * 63, "thumbnail-2", "0abc", "a-b-c"])
def test_valid_names(name):
    assert api.parse_function(function(metadata={"name": name})).name == name
    assert api.parse_trigger(trigger({"http": {"path": "/x"}}, metadata={"name": name})).name == name
    assert names.is_dns1123_label(name)


@pytest.mark.parametrize("name, message", [
    ("a" * 64, "must be at most 63 characters (got 64)"),
    ("Thumbnail", DNS_MESSAGE),
    ("thumb_nail", DNS_MESSAGE),
    ("thumb.nail", DNS_MESSAGE),
    ("-thumbnail", DNS_MESSAGE),
    ("thumbnail-", DNS_MESSAGE),
    ("", "must not be empty"),
])
def test_invalid_names(name, message):
    assert errors_of(function(metadata={"name": name})) == [f"metadata.name: {message}"]
    assert errors_of(function(metadata={"name": "ok", "namespace": name})) == [f"metadata.namespace: {message}"]
    assert not names.is_dns1123_label(name)


@pytest.mark.parametrize("path, obj", [
    ("spec.code.configMap.name", function({"code": {"configMap": {"name": "Code"}}})),
    ("spec.env[0].valueFrom.secretKeyRef.name", function({"env": [{"name": "A", "valueFrom": {
        "secretKeyRef": {"name": "API", "key": "k"}}}]})),
    ("spec.env[0].valueFrom.configMapKeyRef.name", function({"env": [{"name": "A", "valueFrom": {
        "configMapKeyRef": {"name": "a_b", "key": "k"}}}]})),
    ("spec.async.onFailure.function", function({"async": {"onFailure": {"function": "Failed"}}})),
    ("spec.auth.secretName", function({"auth": {"type": "token", "secretName": "Tokens"}})),
    ("spec.function", trigger({"http": {"path": "/x"}, "function": "Thumbnail"})),
])
def test_names_in_spec_are_labels(path, obj):
    assert errors_of(obj) == [f"{path}: {DNS_MESSAGE}"]


def test_missing_metadata_and_name():
    assert errors_of({"apiVersion": api.API_VERSION, "kind": "Function"}) == ["metadata: required", "spec: required"]
    assert errors_of(function(metadata={})) == ["metadata.name: required"]
    with pytest.raises(api.InvalidObject) as info:
        api.parse_function(function(metadata={"namespace": "x"}))
    assert info.value.name == "?"


# --- code -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [{"inline": "x"}, {"configMap": {"name": "code"}}, {"image": "r/fn:1"},
                                  {"path": "./src"}])
def test_each_code_source(code):
    assert api.parse_function(function({"code": code})).spec.code.model_dump(by_alias=True, exclude_none=True) == code


@pytest.mark.parametrize("code, message", [
    ({}, "exactly one of inline, configMap, image, path must be set"),
    ({"inline": "x", "image": "r/fn:1"}, "exactly one of inline, configMap, image, path must be set (got inline, image)"),
    ({"inline": "x", "configMap": {"name": "c"}, "path": "."},
     "exactly one of inline, configMap, image, path must be set (got inline, configMap, path)"),
])
def test_exactly_one_code_source(code, message):
    assert errors_of(function({"code": code})) == [f"spec.code: {message}"]


@pytest.mark.parametrize("code, error", [
    ({"inline": ""}, "spec.code.inline: must not be empty"),
    ({"inline": "x" * 262145}, "spec.code.inline: must be at most 262144 characters"),
    ({"image": "i" * 513}, "spec.code.image: must be at most 512 characters"),
    ({"configMap": {}}, "spec.code.configMap.name: required"),
    ({"git": "https://example.com/r.git"}, "spec.code.git: unknown field"),
])
def test_code_fields(code, error):
    assert error in errors_of(function({"code": code}))


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, error", [
    ({"timeoutSeconds": 0}, "spec.timeoutSeconds: must be ≥ 1"),
    ({"timeoutSeconds": 901}, "spec.timeoutSeconds: must be ≤ 900"),
    ({"memoryMiB": 127}, "spec.memoryMiB: must be ≥ 128"),
    ({"memoryMiB": 10241}, "spec.memoryMiB: must be ≤ 10240"),
    ({"concurrency": {"perReplica": 0}}, "spec.concurrency.perReplica: must be ≥ 1"),
    ({"concurrency": {"perReplica": 1001}}, "spec.concurrency.perReplica: must be ≤ 1000"),
    ({"concurrency": {"max": 0}}, "spec.concurrency.max: must be ≥ 1"),
    ({"concurrency": {"max": 100001}}, "spec.concurrency.max: must be ≤ 100000"),
    ({"scaling": {"minReplicas": -1}}, "spec.scaling.minReplicas: must be ≥ 0"),
    ({"scaling": {"maxReplicas": 0}}, "spec.scaling.maxReplicas: must be ≥ 1"),
    ({"scaling": {"maxReplicas": 1001}}, "spec.scaling.maxReplicas: must be ≤ 1000"),
    ({"scaling": {"targetConcurrency": 0}}, "spec.scaling.targetConcurrency: must be ≥ 1"),
    ({"scaling": {"scaleToZeroAfterSeconds": 0}}, "spec.scaling.scaleToZeroAfterSeconds: must be ≥ 1"),
    ({"scaling": {"scaleToZeroAfterSeconds": 86401}}, "spec.scaling.scaleToZeroAfterSeconds: must be ≤ 86400"),
    ({"async": {"maxRetries": 3}}, "spec.async.maxRetries: must be ≤ 2"),
    ({"async": {"maxRetries": -1}}, "spec.async.maxRetries: must be ≥ 0"),
    ({"async": {"maxEventAgeSeconds": 59}}, "spec.async.maxEventAgeSeconds: must be ≥ 60"),
    ({"async": {"maxEventAgeSeconds": 21601}}, "spec.async.maxEventAgeSeconds: must be ≤ 21600"),
    ({"replicas": -1}, "spec.replicas: must be ≥ 0"),
    ({"replicas": 1001}, "spec.replicas: must be ≤ 1000"),
])
def test_bounds(spec, error):
    assert errors_of(function(spec)) == [error]


@pytest.mark.parametrize("spec", [
    {"timeoutSeconds": 1}, {"timeoutSeconds": 900}, {"memoryMiB": 128}, {"memoryMiB": 10240},
    {"concurrency": {"perReplica": 1000, "max": 100000}}, {"scaling": {"minReplicas": 1000, "maxReplicas": 1000}},
    {"scaling": {"scaleToZeroAfterSeconds": 86400}}, {"async": {"maxRetries": 0, "maxEventAgeSeconds": 60}},
    {"replicas": 0}, {"replicas": 1000},
])
def test_bounds_are_inclusive(spec):
    api.parse_function(function(spec))


def test_min_replicas_above_max():
    assert errors_of(function({"scaling": {"minReplicas": 5, "maxReplicas": 2}})) == [
        "spec.scaling: minReplicas (5) must be ≤ maxReplicas (2)"]
    assert errors_of(function({"scaling": {"minReplicas": 11}})) == [
        "spec.scaling: minReplicas (11) must be ≤ maxReplicas (10)"]
    assert api.parse_function(function({"scaling": {"minReplicas": 3, "maxReplicas": 3}})).spec.scaling.min_replicas == 3


def test_target_concurrency_within_per_replica():
    assert errors_of(function({"concurrency": {"perReplica": 4}, "scaling": {"targetConcurrency": 8}})) == [
        "spec.scaling.targetConcurrency: must be ≤ concurrency.perReplica (4)"]
    assert errors_of(function({"scaling": {"targetConcurrency": 11}})) == [
        "spec.scaling.targetConcurrency: must be ≤ concurrency.perReplica (10)"]
    fn = api.parse_function(function({"concurrency": {"perReplica": 4}, "scaling": {"targetConcurrency": 4}}))
    assert fn.spec.target_concurrency == 4


# --- env --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(names.RESERVED_ENV_NAMES) + ["AWS_LAMBDA_FUNCTION_NAME", "KFN_X", "LAMBDA_X"])
def test_reserved_env_names(name):
    assert errors_of(function({"env": [{"name": name, "value": "x"}]})) == [
        f"spec.env[0].name: {name} is reserved for the runtime"]


@pytest.mark.parametrize("name", ["A", "_A", "a1", "AWS_ACCESS_KEY_ID", "PATH", "kfn_lower", "X" * 256])
def test_valid_env_names(name):
    assert api.parse_function(function({"env": [{"name": name}]})).spec.env[0].name == name


@pytest.mark.parametrize("name, error", [
    ("1A", "spec.env[0].name: must be letters, digits and '_', not starting with a digit"),
    ("A-B", "spec.env[0].name: must be letters, digits and '_', not starting with a digit"),
    ("A B", "spec.env[0].name: must be letters, digits and '_', not starting with a digit"),
    ("", "spec.env[0].name: must not be empty"),
    ("X" * 257, "spec.env[0].name: must be at most 256 characters"),
])
def test_invalid_env_names(name, error):
    assert errors_of(function({"env": [{"name": name}]})) == [error]


def test_env_count_is_bounded():
    api.parse_function(function({"env": [{"name": f"V{i}"} for i in range(256)]}))
    assert errors_of(function({"env": [{"name": f"V{i}"} for i in range(257)]})) == [
        "spec.env: must be at most 256 items"]


def test_duplicate_env_names():
    env = [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "2"}]
    assert errors_of(function({"env": env})) == ["spec.env[2].name: duplicate variable A"]


@pytest.mark.parametrize("var, error", [
    ({"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
     "spec.env[0]: value and valueFrom are mutually exclusive"),
    ({"name": "A", "valueFrom": {}}, "spec.env[0].valueFrom: exactly one of secretKeyRef, configMapKeyRef must be set"),
    ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"},
                                 "configMapKeyRef": {"name": "c", "key": "k"}}},
     "spec.env[0].valueFrom: exactly one of secretKeyRef, configMapKeyRef must be set"),
    ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}, "spec.env[0].valueFrom.secretKeyRef.key: required"),
    ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}},
     "spec.env[0].valueFrom.secretKeyRef.key: must not be empty"),
    ({"value": "1"}, "spec.env[0].name: required"),
    ({"name": "A", "value": 1}, "spec.env[0].value: must be a string"),
])
def test_env_values(var, error):
    assert errors_of(function({"env": [var]})) == [error]


# --- runtimes and handlers --------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10", "python3.12", "python3.19",
                                     "provided", "provided.al2", "provided.al2023"])
def test_runtimes(runtime):
    assert api.parse_function(function({"runtime": runtime})).spec.runtime == runtime


@pytest.mark.parametrize("runtime", ["python3.8", "python3.20", "python3", "python2.7", "Python3.12",
                                     "nodejs20.x", "provided.al3", "", " python3.12"])
def test_unknown_runtimes(runtime):
    assert errors_of(function({"runtime": runtime})) == [
        "spec.runtime: must be python3.9 … python3.19 or provided (provided.al2, provided.al2023)"]


@pytest.mark.parametrize("handler", ["app.handler", "pkg.module.handler", "_private._h", "App.Handler2"])
def test_python_handlers(handler):
    assert api.parse_function(function({"handler": handler})).spec.handler == handler


@pytest.mark.parametrize("handler", ["handler", "app.", ".handler", "app..handler", "my-app.handler",
                                     "app.handler()", "1app.handler", "app/handler"])
def test_invalid_python_handlers(handler):
    assert errors_of(function({"handler": handler})) == ["spec.handler: must be module.function, e.g. app.handler"]


def test_python_handler_required():
    assert errors_of(function({"handler": None})) == ["spec.handler: required for python runtimes (module.function)"]


@pytest.mark.parametrize("handler", ["bootstrap", "index.handler", "com.example::Handler", "main"])
def test_provided_handlers_are_free_form(handler):
    assert api.parse_function(function({"runtime": "provided", "handler": handler})).spec.handler == handler


@pytest.mark.parametrize("handler, error", [("", "spec.handler: must not be empty"),
                                            ("a." + "b" * 127, "spec.handler: must be at most 128 characters")])
def test_handler_length(handler, error):
    assert errors_of(function({"runtime": "provided", "handler": handler})) == [error]


# --- auth -------------------------------------------------------------------------------------


def test_auth():
    assert api.parse_function(function({"auth": {"type": "token", "secretName": "tokens"}})).spec.auth.type == "token"
    assert errors_of(function({"auth": {"type": "token"}})) == ["spec.auth.secretName: required when type is token"]
    assert errors_of(function({"auth": {"type": "basic"}})) == ["spec.auth.type: must be one of 'none' or 'token'"]


# --- triggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/hello", "/hello/", "/a/b/c", "/a-b_c.d~e", "/v1/items:batch", "/@me",
                                  "/fnord", "/eventsx", "/metricsx/y", "/healthzx", "/readyzz", "/statistics", "/a/.../b", "/a/..b", "/a/./b"])
def test_http_paths(path):
    assert api.parse_trigger(trigger({"http": {"path": path}})).spec.http.path == path


PATH_MESSAGE = "must be an absolute URL path such as /hello (no '..', no empty segment)"
RESERVED_MESSAGE = ("is served by the gateway itself (/, /fn/, /events/, /2015-03-31/, /healthz, /readyz, "
                    "/metrics, /stats)")


@pytest.mark.parametrize("path, message", [
    ("hello", PATH_MESSAGE),
    ("/a/../b", PATH_MESSAGE),
    ("/a/..", PATH_MESSAGE),
    ("/..", PATH_MESSAGE),
    ("//a", PATH_MESSAGE),
    ("/a//b", PATH_MESSAGE),
    ("/a b", PATH_MESSAGE),
    ("/a?b=1", PATH_MESSAGE),
    ("/a#b", PATH_MESSAGE),
    ("/a%20b", PATH_MESSAGE),
    ("/", RESERVED_MESSAGE),
    ("/fn", RESERVED_MESSAGE),
    ("/fn/default/x", RESERVED_MESSAGE),
    ("/events/s3", RESERVED_MESSAGE),
    ("/2015-03-31/functions/x/invocations", RESERVED_MESSAGE),
    ("/healthz", RESERVED_MESSAGE),
    ("/readyz", RESERVED_MESSAGE),
    ("/readyz/x", RESERVED_MESSAGE),
    ("/metrics", RESERVED_MESSAGE),
    ("/stats/", RESERVED_MESSAGE),
    ("", "must not be empty"),
    ("/" + "a" * 1024, "must be at most 1024 characters"),
])
def test_invalid_http_paths(path, message):
    assert errors_of(trigger({"http": {"path": path}})) == [f"spec.http.path: {message}"]


@pytest.mark.parametrize("prefix", api.RESERVED_HTTP_PREFIXES)
def test_every_reserved_prefix(prefix):
    for path in (prefix.rstrip("/"), prefix.rstrip("/") + "/x"):
        assert errors_of(trigger({"http": {"path": path}})) == [f"spec.http.path: {RESERVED_MESSAGE}"]


def test_long_invalid_path_is_refused_quickly():
    # A path of many segments that ends in a bad character once took exponential time to refuse.
    start = time.monotonic()
    assert errors_of(trigger({"http": {"path": "/" + "a" * 1000 + "%"}})) == [f"spec.http.path: {PATH_MESSAGE}"]
    assert errors_of(trigger({"http": {"path": "/a" * 500 + "/%"}})) == [f"spec.http.path: {PATH_MESSAGE}"]
    assert time.monotonic() - start < 1


def test_http_methods():
    http = api.parse_trigger(trigger({"http": {"path": "/x", "methods": ["get", "Post", "DELETE"]}})).spec.http
    assert http.methods == ("GET", "POST", "DELETE")
    for method in api.HTTP_METHODS:
        api.parse_trigger(trigger({"http": {"path": "/x", "methods": [method]}}))


@pytest.mark.parametrize("methods, error", [
    (["FETCH"], "spec.http.methods: unknown method 'FETCH'; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    (["GET", 1], "spec.http.methods: unknown method 1; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    ("GET", "spec.http.methods: must be a list"),
])
def test_invalid_http_methods(methods, error):
    assert errors_of(trigger({"http": {"path": "/x", "methods": methods}})) == [error]


@pytest.mark.parametrize("bucket", ["abc", "uploads", "my.bucket-1", "0" * 63])
def test_s3_buckets(bucket):
    assert api.parse_trigger(trigger({"s3": {"bucket": bucket}})).spec.s3.bucket == bucket


BUCKET_MESSAGE = "must be an S3 bucket name: lower-case letters, digits, '.' and '-'"


@pytest.mark.parametrize("bucket, message", [
    ("ab", "must be at least 3 characters"),
    ("a" * 64, "must be at most 63 characters"),
    ("Uploads", BUCKET_MESSAGE),
    ("up_loads", BUCKET_MESSAGE),
    ("-uploads", BUCKET_MESSAGE),
    ("uploads.", BUCKET_MESSAGE),
])
def test_invalid_s3_buckets(bucket, message):
    assert errors_of(trigger({"s3": {"bucket": bucket}})) == [f"spec.s3.bucket: {message}"]


def test_s3_events():
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete", "ObjectCreated:Put", "s3:ObjectCreated:Complete*"]
    s3 = api.parse_trigger(trigger({"s3": {"bucket": "uploads", "events": events,
                                           "filter": {"prefix": "images/", "suffix": ".jpg"}}})).spec.s3
    assert s3.events == tuple(events) and (s3.filter.prefix, s3.filter.suffix) == ("images/", ".jpg")


@pytest.mark.parametrize("events, error", [
    ([], "spec.s3.events: must name at least one event, e.g. s3:ObjectCreated:*"),
    (["s3:"], "spec.s3.events: 's3:' is not an S3 event name such as s3:ObjectCreated:*"),
    (["s3:Object Created"], "spec.s3.events: 's3:Object Created' is not an S3 event name such as s3:ObjectCreated:*"),
    (["s3:ObjectCreated:*", 5], "spec.s3.events: 5 is not an S3 event name such as s3:ObjectCreated:*"),
    ("s3:ObjectCreated:*", "spec.s3.events: must be a list"),
])
def test_invalid_s3_events(events, error):
    assert errors_of(trigger({"s3": {"bucket": "uploads", "events": events}})) == [error]


def test_s3_filter_bounds():
    assert errors_of(trigger({"s3": {"bucket": "uploads", "filter": {"suffix": "x" * 1025}}})) == [
        "spec.s3.filter.suffix: must be at most 1024 characters"]


@pytest.mark.parametrize("spec, error", [
    ({}, "spec: exactly one of http, s3 must be set"),
    ({"http": {"path": "/x"}, "s3": {"bucket": "uploads"}}, "spec: exactly one of http, s3 must be set (got http, s3)"),
    ({"http": {"path": "/x"}, "invocationType": "Event"},
     "spec.invocationType: http triggers are synchronous: use RequestResponse"),
    ({"s3": {"bucket": "uploads"}, "invocationType": "Async"},
     "spec.invocationType: must be one of 'Event' or 'RequestResponse'"),
    ({"http": {}}, "spec.http.path: required"),
])
def test_trigger_kinds_and_invocation_types(spec, error):
    assert errors_of(trigger(spec)) == [error]


def test_trigger_needs_a_function():
    assert errors_of({"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": "t"},
                      "spec": {"http": {"path": "/x"}}}) == ["spec.function: required"]


# --- types, unknown fields, non-mappings ------------------------------------------------------


@pytest.mark.parametrize("spec, error", [
    ({"timeoutSeconds": "30"}, "spec.timeoutSeconds: must be an integer"),
    ({"timeoutSeconds": 2.5}, "spec.timeoutSeconds: must be an integer"),
    ({"timeoutSeconds": 30.0}, "spec.timeoutSeconds: must be an integer"),
    ({"timeoutSeconds": True}, "spec.timeoutSeconds: must be an integer"),
    ({"handler": 5}, "spec.handler: must be a string"),
    ({"concurrency": [10]}, "spec.concurrency: must be an object"),
    ({"code": "inline"}, "spec.code: must be an object"),
    ({"env": "A=1"}, "spec.env: must be a list"),
    ({"env": {"A": "1"}}, "spec.env: must be a list"),
    ({"auth": {"type": 1}}, "spec.auth.type: must be one of 'none' or 'token'"),
])
def test_wrong_types(spec, error):
    assert errors_of(function(spec)) == [error]


@pytest.mark.parametrize("spec, error", [
    ({"timeout": 30}, "spec.timeout: unknown field"),
    ({"timeout_seconds": 30}, "spec.timeout_seconds: unknown field"),  # YAML spells fields as the CRD does
    ({"async_": {}}, "spec.async_: unknown field"),
    ({"scaling": {"max": 3}}, "spec.scaling.max: unknown field"),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}]},
     "spec.env[0].valueFrom.secretKeyRef.optional: unknown field"),
])
def test_unknown_fields(spec, error):
    assert errors_of(function(spec)) == [error]


@pytest.mark.parametrize("obj", [None, [], "Function", 3, [function()]])
def test_non_mappings(obj):
    with pytest.raises(api.InvalidObject) as info:
        api.parse_function(obj)
    assert [str(e) for e in info.value.errors] == ["must be a mapping (a YAML object)"]
    with pytest.raises(api.InvalidObject):
        api.parse_trigger(obj)
    with pytest.raises(api.InvalidObject):
        api.parse_object(obj)


def test_wrong_api_version_and_kind():
    assert errors_of(function(apiVersion="kfn.dev/v1")) == ["apiVersion: must be kfn.dev/v1alpha1"]
    with pytest.raises(api.InvalidObject) as info:
        api.parse_function(function(kind="Trigger", apiVersion="v1"))
    assert [str(e) for e in info.value.errors] == ["apiVersion: must be kfn.dev/v1alpha1", "kind: must be Function"]
    assert (info.value.kind, info.value.name) == ("Function", "thumbnail")


def test_every_error_is_reported_at_once():
    obj = function({"runtime": "nodejs", "code": {}, "timeoutSeconds": 0}, metadata={"name": "Bad"})
    with pytest.raises(api.InvalidObject) as info:
        api.parse_function(obj)
    assert [e.path for e in info.value.errors] == ["metadata.name", "spec.runtime", "spec.code", "spec.timeoutSeconds"]
    assert str(info.value) == "; ".join(str(e) for e in info.value.errors)
    assert all(isinstance(e, api.FieldError) and e.message for e in info.value.errors)


# --- arbitrary input --------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)

FUNCTION_KEYS = ["runtime", "handler", "code", "env", "timeoutSeconds", "memoryMiB", "concurrency", "scaling",
                 "async", "auth", "replicas"]
TRIGGER_KEYS = ["function", "http", "s3", "invocationType"]
NESTED_KEYS = ["inline", "configMap", "image", "path", "name", "value", "valueFrom", "secretKeyRef", "key",
               "perReplica", "max", "minReplicas", "maxReplicas", "targetConcurrency", "onFailure", "type",
               "secretName", "methods", "bucket", "events", "filter", "prefix", "suffix", "function"]


def _shaped(keys: list[str]) -> st.SearchStrategy[Any]:
    # Near misses: the right keys (often), with arbitrary values, so the parser's deeper
    # validators see odd input too.
    value = st.recursive(JSON, lambda inner: st.dictionaries(st.sampled_from(NESTED_KEYS), inner, max_size=4)
                         | st.lists(inner, max_size=3), max_leaves=6)
    return st.dictionaries(st.sampled_from(keys), value, max_size=6)


def _one_field_changed(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    # A valid spec with one field replaced or removed: valid objects turn up too.
    value = st.recursive(JSON, lambda inner: st.dictionaries(st.sampled_from(NESTED_KEYS), inner, max_size=3),
                         max_leaves=6)
    return st.builds(lambda key, new: {k: v for k, v in {**spec, key: new}.items() if v is not None},
                     st.sampled_from(sorted(spec) + ["env", "scaling", "timeoutSeconds", "invocationType"]), value)


def _objects(kind: str, keys: list[str]) -> st.SearchStrategy[Any]:
    valid = function()["spec"] if kind == "Function" else trigger({"http": {"path": "/x"}})["spec"]
    header = {"apiVersion": api.API_VERSION, "kind": kind, "metadata": {"name": "a"}}
    near_valid = _one_field_changed(valid).map(lambda spec: {**header, "spec": spec})
    shaped = st.fixed_dictionaries({
        "apiVersion": st.just(api.API_VERSION) | JSON, "kind": st.just(kind) | JSON,
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["a", "Bad", ""]) | JSON}) | JSON,
        "spec": _shaped(keys) | JSON,
    })
    return near_valid | shaped | JSON


@settings(max_examples=100, deadline=None)
@given(obj=_objects("Function", FUNCTION_KEYS))
def test_parse_function_raises_only_invalid_object(obj):
    try:
        assert isinstance(api.parse_function(obj), api.Function)
    except api.InvalidObject as exc:
        assert exc.errors and all(isinstance(e, api.FieldError) for e in exc.errors)


@settings(max_examples=100, deadline=None)
@given(obj=_objects("Trigger", TRIGGER_KEYS))
def test_parse_trigger_raises_only_invalid_object(obj):
    try:
        assert isinstance(api.parse_trigger(obj), api.Trigger)
    except api.InvalidObject as exc:
        assert exc.errors and all(isinstance(e, api.FieldError) for e in exc.errors)
