"""The CRDs in crds/ and the API types in kfn.api say the same thing.

Real: the CRD files; kfn.api's parsers; kubernetes-validate's apiextensions.k8s.io/v1 schema (for
the CRD objects themselves); jsonschema (for each CRD's openAPIV3Schema); cel-python (for its
x-kubernetes-validations rules). There is no API server here, so ``admit`` does what one does with
a custom resource, in its order: drop nulls, apply the schema's defaults, validate against the
schema (unknown fields rejected, as with kubectl's default strict field validation), check the keys
of list-type maps, evaluate each CEL rule with ``self`` bound to the node that carries it.

Asserted: both CRDs are valid CustomResourceDefinitions with structural schemas, valid defaults,
scale subresource and printer columns that point at real fields; every Function and Trigger under
examples/ passes both the CRD and the model and gets the same defaults from both; a table of
invalid objects is refused by both, each at the expected field; per field, values on both sides of
its rules are judged alike, alone and (hypothesis) combined; the patterns are the model's.
"""

from __future__ import annotations

import copy
import functools
import json
import pathlib
import re
import sys
from typing import Any, Iterable, Iterator

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kfn import api, names

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"

JUNCTORS = ("oneOf", "anyOf", "allOf")
RULE_KEYS = {"rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf"}


# --- the CRDs ---------------------------------------------------------------------------------


@functools.cache
def crd(kind: str) -> dict[str, Any]:
    """The CRD of ``kind``, parsed once: tests read it and never change it."""
    return yaml.safe_load((CRDS / f"{kind.lower()}.yaml").read_text(encoding="utf-8"))


def schema(kind: str) -> dict[str, Any]:
    return crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def node(kind: str, dotted: str) -> dict[str, Any]:
    """The schema node of a field path such as ``spec.env[].name``."""
    current = schema(kind)
    for part in dotted.split("."):
        items = part.endswith("[]")
        current = current["properties"][part.removesuffix("[]")]
        if items:
            current = current["items"]
    return current


# --- what the API server does with a custom resource ------------------------------------------


def _dotted(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(path: str, child: str) -> str:
    return f"{path}.{child}" if path else child


def prune_nulls(value: Any, s: dict[str, Any]) -> Any:
    """Nulls of non-nullable fields are dropped (and then defaulted), as the API server does."""
    if isinstance(value, dict) and "properties" in s:
        props = s["properties"]
        return {k: prune_nulls(v, props[k]) if k in props else v for k, v in value.items()
                if not (v is None and k in props and not props[k].get("nullable"))}
    if isinstance(value, list) and "items" in s:
        return [prune_nulls(v, s["items"]) for v in value]
    return value


def apply_defaults(value: Any, s: dict[str, Any]) -> Any:
    """The structural defaulting algorithm: set missing defaulted fields, then recurse (also into
    the values just defaulted)."""
    if isinstance(value, dict) and "properties" in s:
        out = dict(value)
        for key, prop in s["properties"].items():
            if key not in out and "default" in prop:
                out[key] = copy.deepcopy(prop["default"])
        return {k: apply_defaults(v, s["properties"][k]) if k in s["properties"] else v
                for k, v in out.items()}
    if isinstance(value, list) and "items" in s:
        return [apply_defaults(v, s["items"]) for v in value]
    return value


def to_jsonschema(s: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """An OpenAPI v3 node as JSON Schema: x-kubernetes-* dropped, unknown fields refused (except in
    metadata, whose other fields the API server validates itself)."""
    out: dict[str, Any] = {}
    for key, value in s.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {k: to_jsonschema(v, root=False) for k, v in value.items()}
        elif key == "items":
            out[key] = to_jsonschema(value, root=False)
        elif key in JUNCTORS:
            out[key] = [to_jsonschema(v, root=False) for v in value]
        else:
            out[key] = value
    if s.get("type") == "object" and "properties" in s:
        out["additionalProperties"] = False
    if root and "metadata" in out.get("properties", {}):
        out["properties"]["metadata"].pop("additionalProperties", None)
    return out


def schema_errors(value: Any, validator: jsonschema.protocols.Validator) -> list[tuple[str, str]]:
    return [(_dotted(e.absolute_path), e.message) for e in validator.iter_errors(value)]


@functools.cache
def validator(kind: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(to_jsonschema(schema(kind)))


def node_validator(s: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(to_jsonschema(s, root=False))


def list_map_errors(value: Any, s: dict[str, Any], path: str = "") -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if isinstance(value, dict) and "properties" in s:
        for k, v in value.items():
            if k in s["properties"]:
                errors += list_map_errors(v, s["properties"][k], _join(path, k))
    elif isinstance(value, list) and "items" in s:
        if s.get("x-kubernetes-list-type") == "map":
            seen: set[tuple[Any, ...]] = set()
            for i, item in enumerate(value):
                key = tuple(item.get(k) for k in s["x-kubernetes-list-map-keys"])
                if key in seen:
                    errors.append((f"{path}[{i}]", f"Duplicate value: {key}"))
                seen.add(key)
        for i, item in enumerate(value):
            errors += list_map_errors(item, s["items"], f"{path}[{i}]")
    return errors


def _cel_environment() -> celpy.Environment:
    limit = sys.getrecursionlimit()
    env = celpy.Environment()
    sys.setrecursionlimit(limit)  # raised by celpy for deeply nested expressions; ours are flat
    return env


CEL = _cel_environment()


@functools.cache
def _program(rule: str) -> celpy.Runner:
    return CEL.program(CEL.compile(rule))


def rule_holds(rule: str, value: Any) -> bool:
    return _rule_holds(rule, json.dumps(value, sort_keys=True))


@functools.cache  # rules are pure functions of self, and interpreting one takes milliseconds
def _rule_holds(rule: str, value: str) -> bool:
    try:
        result = _program(rule).evaluate({"self": celpy.json_to_cel(json.loads(value))})
    except celpy.CELEvalError:
        return False  # the API server refuses an object whose rule cannot be evaluated
    return isinstance(result, celpy.celtypes.BoolType) and bool(result)


def cel_errors(value: Any, s: dict[str, Any], path: str = "") -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for rule in s.get("x-kubernetes-validations", ()):
        if not rule_holds(rule["rule"], value):
            errors.append((path + rule.get("fieldPath", "") if path else rule.get("fieldPath", "").lstrip("."),
                           rule["message"]))
    if isinstance(value, dict) and "properties" in s:
        for k, v in value.items():
            if k in s["properties"]:
                errors += cel_errors(v, s["properties"][k], _join(path, k))
    elif isinstance(value, list) and "items" in s:
        for i, item in enumerate(value):
            errors += cel_errors(item, s["items"], f"{path}[{i}]")
    return errors


def admit(kind: str, obj: Any) -> tuple[Any, list[tuple[str, str]]]:
    """The object as stored, and every (field path, message) the API server would refuse it for."""
    s = schema(kind)
    obj = apply_defaults(prune_nulls(obj, s), s)
    errors = schema_errors(obj, validator(kind))
    if errors:  # CEL rules are only evaluated on an object of the declared types
        return obj, errors
    return obj, list_map_errors(obj, s) + cel_errors(obj, s)


def parse(obj: Any) -> api.Function | api.Trigger:
    return api.parse_object(obj)


# --- the CRD objects --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Function", "Trigger"])
def test_crd_is_a_valid_customresourcedefinition(kind):
    kubernetes_validate.validate(crd(kind), "1.30", strict=True)


@pytest.mark.parametrize("kind, plural, short", [("Function", "functions", "fn"),
                                                 ("Trigger", "triggers", "kfntrigger")])
def test_crd_names_group_and_version(kind, plural, short):
    obj = crd(kind)
    assert obj["metadata"]["name"] == f"{plural}.{api.GROUP}"
    spec = obj["spec"]
    assert spec["group"] == api.GROUP and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind and spec["names"]["plural"] == plural
    assert short in spec["names"]["shortNames"] and spec["names"]["categories"] == ["kfn"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (api.VERSION, True, True)
    assert version["subresources"]["status"] == {}


def _walk(s: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node that is not a junctor branch, with its field path."""
    yield path, s
    for key, prop in s.get("properties", {}).items():
        yield from _walk(prop, _join(path, key))
    if "items" in s:
        yield from _walk(s["items"], path + "[]")


def _resolve(s: dict[str, Any], json_path: str) -> dict[str, Any]:
    """The schema node of a simple JSONPath (``.spec.replicas``); KeyError when there is none."""
    for part in json_path.lstrip(".").split("."):
        s = s["properties"][part]
    return s


@pytest.mark.parametrize("kind", ["Function", "Trigger"])
def test_schema_is_structural(kind):
    root = schema(kind)
    assert set(root["properties"]["metadata"]) <= {"type", "properties"}
    assert set(root["properties"]["metadata"].get("properties", {})) <= {"name", "generateName"}
    for path, s in _walk(root):
        where = path or "<root>"
        assert s.get("type") in ("object", "array", "string", "integer", "number", "boolean"), where
        assert s.get("additionalProperties") is not False, where
        assert not ("additionalProperties" in s and "properties" in s), where
        if s["type"] == "object" and path:
            assert "properties" in s, f"{where}: an object without properties prunes every field"
        if s["type"] == "array":
            assert "items" in s, where
        for name in s.get("required", ()):
            assert name in s.get("properties", {}), f"{where}: required {name} is not a property"
        for value in s.get("enum", ()):
            assert {"string": str, "integer": int}[s["type"]] is type(value), where
        for junctor in JUNCTORS:
            for branch in s.get(junctor, ()):
                # Branches may only restate what the node itself declares: no type, description,
                # default, nullable or x-kubernetes-*, so here nothing but `required`.
                assert set(branch) == {"required"}, f"{where}.{junctor}"
                assert set(branch["required"]) <= set(s["properties"]), f"{where}.{junctor}"
        assert "not" not in s, where
        list_type = s.get("x-kubernetes-list-type")
        if list_type is not None:
            assert s["type"] == "array" and list_type in ("atomic", "set", "map"), where
        if list_type == "map":
            items = s["items"]
            for key in s["x-kubernetes-list-map-keys"]:
                assert items["properties"][key]["type"] in ("string", "integer", "boolean"), where
                assert key in items.get("required", ()) or "default" in items["properties"][key], where
        else:
            assert "x-kubernetes-list-map-keys" not in s, where
        for rule in s.get("x-kubernetes-validations", ()):
            assert set(rule) <= RULE_KEYS and {"rule", "message"} <= set(rule), where
            _program(rule["rule"])  # compiles
            if "fieldPath" in rule:
                _resolve(s, rule["fieldPath"])


def _rule_nodes(s: dict[str, Any], path: str = "", unbounded: str = "") -> Iterator[tuple[str, dict[str, Any], str]]:
    """Nodes carrying CEL rules, each with the first array above it that has no maxItems."""
    if "x-kubernetes-validations" in s:
        yield path, s, unbounded
    for key, prop in s.get("properties", {}).items():
        yield from _rule_nodes(prop, _join(path, key), unbounded)
    if "items" in s:
        yield from _rule_nodes(s["items"], path + "[]", unbounded or ("" if "maxItems" in s else path))


@pytest.mark.parametrize("kind", ["Function", "Trigger"])
def test_cel_rules_have_a_bounded_cost(kind):
    # The API server estimates a rule's cost over the largest input a 3 MiB request could hold
    # and refuses the CRD past its budget: rules must not sit below an array without maxItems,
    # and the strings they read need a maxLength (or an enum).
    found = list(_rule_nodes(schema(kind)))
    assert found
    for path, s, unbounded in found:
        assert not unbounded, f"{path}: below {unbounded}, which has no maxItems"
        if s["type"] == "string":
            assert "maxLength" in s or "enum" in s, path
        for rule in s["x-kubernetes-validations"]:
            read = re.sub(r"has\(self[.\w]*\)", "", rule["rule"])  # has() costs the same for any value
            for field in re.findall(r"self((?:\.[A-Za-z]+)+)(?![\w(])", read):  # fields, not methods
                target = _resolve(s, field)
                if target["type"] == "string":
                    assert "maxLength" in target or "enum" in target, f"{path}{field}"


@pytest.mark.parametrize("kind", ["Function", "Trigger"])
def test_defaults_validate_against_their_own_schema_and_rules(kind):
    # The API server refuses a CRD whose defaults fail the schema or the CEL rules at their node
    # (evaluated on the default as written, without nested defaults).
    checked = 0
    for path, s in _walk(schema(kind)):
        if "default" in s:
            assert not path.startswith("metadata"), path
            assert schema_errors(s["default"], node_validator(s)) == [], path
            assert cel_errors(s["default"], s, path) == [], path
            checked += 1
    assert checked >= 5


def test_function_scale_subresource_paths_exist():
    version = crd("Function")["spec"]["versions"][0]
    scale = version["subresources"]["scale"]
    root = schema("Function")
    assert _resolve(root, scale["specReplicasPath"])["type"] == "integer"
    assert _resolve(root, scale["statusReplicasPath"])["type"] == "integer"
    assert _resolve(root, scale["labelSelectorPath"])["type"] == "string"


@pytest.mark.parametrize("kind, columns", [
    ("Function", ["Ready", "Replicas", "URL", "Age"]),
    ("Trigger", ["Function", "HTTP", "S3", "Ready", "Age"]),
])
def test_printer_columns(kind, columns):
    version = crd(kind)["spec"]["versions"][0]
    printed = version["additionalPrinterColumns"]
    assert [c["name"] for c in printed] == columns
    root = schema(kind)
    for column in printed:
        path = column["jsonPath"]
        if path == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        if path == '.status.conditions[?(@.type=="Ready")].status':
            assert _resolve(root, ".status.conditions")["items"]["properties"]["status"]["type"] == "string"
            continue
        assert _resolve(root, path)["type"] == column["type"], column


def test_status_conditions_are_keyed_by_type():
    for kind in ("Function", "Trigger"):
        conditions = node(kind, "status.conditions")
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        fields = conditions["items"]["properties"]
        assert {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"} <= set(fields)
    assert {"replicas", "readyReplicas", "url", "observedGeneration", "selector"} <= set(
        schema("Function")["properties"]["status"]["properties"])


def test_a_status_as_the_operator_writes_it_is_admitted():
    obj = {**_function(), "status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "1 of 1 ready",
                        "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 2}],
        "replicas": 1, "readyReplicas": 1, "url": "http://kfn-gateway.kfn-system/fn/default/thumbnail",
        "selector": "kfn.dev/function=thumbnail", "observedGeneration": 2}}
    assert admit("Function", obj)[1] == []
    obj["status"]["conditions"].append({"type": "Ready", "status": "False"})
    assert admit("Function", obj)[1] == [("status.conditions[1]", "Duplicate value: ('Ready',)")]


# --- the patterns are the model's -------------------------------------------------------------


def test_patterns_are_the_models():
    label = names.DNS1123_LABEL
    for kind, path in [("Function", "metadata.name"), ("Function", "spec.code.configMap.name"),
                       ("Function", "spec.env[].valueFrom.secretKeyRef.name"),
                       ("Function", "spec.env[].valueFrom.configMapKeyRef.name"),
                       ("Function", "spec.async.onFailure.function"), ("Function", "spec.auth.secretName"),
                       ("Trigger", "metadata.name"), ("Trigger", "spec.function")]:
        assert (node(kind, path)["pattern"], node(kind, path)["maxLength"]) == (label, 63), path
    assert node("Function", "spec.env[].name")["pattern"] == names.ENV_NAME
    assert node("Trigger", "spec.http.path")["pattern"] == api.HTTP_PATH.pattern
    assert node("Trigger", "spec.s3.events[]")["pattern"] == api.S3_EVENT.pattern
    for field in ("queueUrl", "endpointUrl"):
        assert node("Trigger", f"spec.s3.source.sqs.{field}")["pattern"] == api.SERVICE_URL.pattern
    assert node("Trigger", "spec.s3.source.sqs.region")["pattern"] == api.AWS_REGION.pattern
    assert node("Trigger", "spec.s3.source.sqs.credentialsSecret")["pattern"] == names.DNS1123_LABEL
    methods = re.fullmatch(r"\^\(\?i:(.*)\)\$", node("Trigger", "spec.http.methods[]")["pattern"])
    assert methods is not None and tuple(methods.group(1).split("|")) == api.HTTP_METHODS
    [handler_rule] = [r["rule"] for r in schema("Function")["properties"]["spec"]["x-kubernetes-validations"]
                      if "matches(" in r["rule"]]
    [handler] = re.findall(r"matches\('([^']*)'\)", handler_rule)
    assert handler.replace("[.]", "\\.") == api.PYTHON_HANDLER.pattern  # CEL strings take no "\."
    runtimes = node("Function", "spec.runtime")["enum"]
    assert [r for r in runtimes if api.PYTHON_RUNTIME.match(r)] == [f"python3.{n}" for n in range(9, 20)]
    assert [r for r in runtimes if not api.PYTHON_RUNTIME.match(r)] == list(api.PROVIDED_RUNTIMES)


def test_reserved_lists_are_the_models():
    [env_rule] = node("Function", "spec.env[].name")["x-kubernetes-validations"]
    exact, *_ = re.findall(r"\[([^\]]*)\]", env_rule["rule"])
    assert set(re.findall(r"'([^']*)'", exact)) == names.RESERVED_ENV_NAMES
    assert tuple(re.findall(r"startsWith\('([^']*)'\)", env_rule["rule"])) == names.RESERVED_ENV_PREFIXES
    _, path_rule = node("Trigger", "spec.http.path")["x-kubernetes-validations"]
    exact, below = (re.findall(r"'([^']*)'", part) for part in re.findall(r"\[([^\]]*)\]", path_rule["rule"]))
    assert exact == ["/"] + [p.rstrip("/") for p in api.RESERVED_HTTP_PREFIXES]
    assert below == [p.rstrip("/") + "/" for p in api.RESERVED_HTTP_PREFIXES]


# --- the examples -----------------------------------------------------------------------------


def _example_objects() -> list[Any]:
    params = []
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        if any(part.startswith(".") or part == "node_modules" for part in path.relative_to(EXAMPLES).parts):
            continue  # an example's dependencies, not examples
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("apiVersion") == api.API_VERSION:
                ident = f"{path.relative_to(EXAMPLES)}:{doc['kind']}/{doc['metadata']['name']}"
                params.append(pytest.param(doc, id=ident))
    return params


EXAMPLE_OBJECTS = _example_objects()


def test_examples_hold_functions_and_triggers():
    kinds = {p.values[0]["kind"] for p in EXAMPLE_OBJECTS}
    assert kinds == {"Function", "Trigger"}


@pytest.mark.parametrize("obj", EXAMPLE_OBJECTS)
def test_example_is_valid_under_crd_and_model(obj):
    parse(obj)
    assert admit(obj["kind"], obj)[1] == []


@pytest.mark.parametrize("obj", EXAMPLE_OBJECTS)
def test_example_defaults_agree(obj):
    stored, _ = admit(obj["kind"], obj)
    assert stored["spec"] == _dump(parse(obj))


# --- defaults ---------------------------------------------------------------------------------


def _function(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": api.API_VERSION, "kind": "Function", "metadata": {"name": "thumbnail"},
            "spec": {"runtime": "python3.12", "handler": "app.handler",
                     "code": {"inline": "def handler(event, context):\n    return event\n"}, **spec}}


def _trigger(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": "on-upload"},
            "spec": {"function": "thumbnail", **spec}}


def _dump(obj: api.Function | api.Trigger) -> dict[str, Any]:
    return obj.spec.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.mark.parametrize("obj", [
    pytest.param(_function(), id="function-minimal"),
    pytest.param(_function(runtime="provided", handler=None, code={"image": "registry.example/fn:1"}),
                 id="function-provided-null-handler"),
    pytest.param(_function(scaling={"targetConcurrency": 4}, auth={"type": "token", "secretName": "tokens"},
                           **{"async": {"onFailure": {"function": "failed"}}}), id="function-partial-objects"),
    pytest.param(_trigger(http={"path": "/thumbnails"}), id="trigger-http"),
    pytest.param(_trigger(s3={"bucket": "uploads"}), id="trigger-s3"),
    pytest.param(_trigger(s3={"bucket": "uploads", "filter": {"suffix": ".jpg"}}), id="trigger-s3-filter"),
])
def test_defaults_agree(obj):
    stored, errors = admit(obj["kind"], obj)
    assert errors == []
    assert stored["spec"] == _dump(parse(obj))


def test_minimal_function_defaults_in_full():
    stored, _ = admit("Function", _function())
    assert {k: v for k, v in stored["spec"].items() if k not in ("runtime", "handler", "code")} == {
        "env": [], "timeoutSeconds": 3, "memoryMiB": 128,
        "concurrency": {"perReplica": 10, "max": 100},
        "scaling": {"minReplicas": 0, "maxReplicas": 10, "scaleToZeroAfterSeconds": 300},
        "async": {"maxRetries": 2, "maxEventAgeSeconds": 21600},
        "auth": {"type": "none"},
    }


# --- objects both accept ----------------------------------------------------------------------


VALID = [
    pytest.param(_function(), id="minimal"),
    pytest.param({**_function(), "metadata": {"name": "a" * 63}}, id="name-63-chars"),
    pytest.param(_function(runtime="provided", handler="bootstrap.anything-goes", code={"image": "r/fn:1"}),
                 id="provided-any-handler"),
    pytest.param(_function(runtime="provided.al2023", handler=None, code={"configMap": {"name": "code"}}),
                 id="provided-no-handler"),
    pytest.param(_function(runtime="python3.9", handler="pkg.sub.module.handler"), id="dotted-handler"),
    pytest.param(_function(code={"path": "./src"}), id="code-path"),
    pytest.param(_function(env=[{"name": "_PRIVATE"}, {"name": "TOKEN", "valueFrom": {
        "secretKeyRef": {"name": "api", "key": "token"}}}, {"name": "MODE", "valueFrom": {
            "configMapKeyRef": {"name": "settings", "key": "mode.txt"}}}]), id="env-value-from"),
    pytest.param(_function(concurrency={"perReplica": 1, "max": 1}, scaling={
        "minReplicas": 1000, "maxReplicas": 1000, "targetConcurrency": 1, "scaleToZeroAfterSeconds": 86400}),
        id="scaling-bounds"),
    pytest.param(_function(timeoutSeconds=900, memoryMiB=10240, replicas=0), id="upper-bounds"),
    pytest.param(_function(**{"async": {"maxRetries": 0, "maxEventAgeSeconds": 60}}), id="async-lower-bounds"),
    pytest.param(_function(scaling={"targetConcurrency": None}, timeoutSeconds=None, env=None), id="nulls"),
    pytest.param(_trigger(http={"path": "/a/b/", "methods": ["get", "Post", "OPTIONS"]}), id="http-any-case"),
    pytest.param(_trigger(http={"path": "/fnord"}), id="http-near-reserved"),
    pytest.param(_trigger(http={"path": "/a/.../b.."}), id="http-dots-not-parent"),
    pytest.param(_trigger(http={"path": "/x"}, invocationType="RequestResponse"), id="http-request-response"),
    pytest.param(_trigger(s3={"bucket": "a.b-c", "events": ["ObjectRemoved:*", "s3:ObjectCreated:Put"],
                              "filter": {"prefix": "in/"}}, invocationType="RequestResponse"), id="s3-full"),
]


@pytest.mark.parametrize("obj", VALID)
def test_valid_under_both(obj):
    parse(obj)
    assert admit(obj["kind"], obj)[1] == []


@pytest.mark.parametrize("runtime", [f"python3.{n}" for n in range(9, 20)] + list(api.PROVIDED_RUNTIMES))
def test_every_runtime_accepted_by_both(runtime):
    obj = _function(runtime=runtime)
    parse(obj)
    assert admit("Function", obj)[1] == []


# --- objects both refuse ----------------------------------------------------------------------


def _set(obj: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with one field set (or removed, for DELETE)."""
    obj = copy.deepcopy(obj)
    *parents, last = dotted.split(".")
    target = obj
    for part in parents:
        target = target.setdefault(part, {})
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


DELETE = object()
FN = _function()
HTTP = _trigger(http={"path": "/thumbnails"})
S3 = _trigger(s3={"bucket": "uploads"})


def case(ident: str, obj: dict[str, Any], model_path: str, crd_path: str | None = None) -> Any:
    return pytest.param(obj, model_path, model_path if crd_path is None else crd_path, id=ident)


INVALID = [
    case("name-uppercase", _set(FN, "metadata.name", "Thumbnail"), "metadata.name"),
    case("name-64-chars", _set(FN, "metadata.name", "a" * 64), "metadata.name"),
    case("name-trailing-dash", _set(HTTP, "metadata.name", "on-"), "metadata.name"),
    case("no-spec", _set(FN, "spec", DELETE), "spec", ""),
    case("no-runtime", _set(FN, "spec.runtime", DELETE), "spec.runtime", "spec"),
    case("unknown-runtime", _set(FN, "spec.runtime", "nodejs20.x"), "spec.runtime"),
    case("python-without-handler", _set(FN, "spec.handler", DELETE), "spec.handler"),
    case("python-handler-not-module-function", _set(FN, "spec.handler", "handler"), "spec.handler"),
    case("python-handler-dash", _set(FN, "spec.handler", "my-app.handler"), "spec.handler"),
    case("handler-too-long", _set(FN, "spec.handler", "a." + "b" * 127), "spec.handler"),
    case("no-code-source", _set(FN, "spec.code", {}), "spec.code"),
    case("two-code-sources", _set(FN, "spec.code.image", "r/fn:1"), "spec.code"),
    case("empty-inline", _set(FN, "spec.code.inline", ""), "spec.code.inline"),
    case("configmap-name-invalid", _set(FN, "spec.code", {"configMap": {"name": "My_Code"}}),
         "spec.code.configMap.name"),
    case("timeout-0", _set(FN, "spec.timeoutSeconds", 0), "spec.timeoutSeconds"),
    case("timeout-901", _set(FN, "spec.timeoutSeconds", 901), "spec.timeoutSeconds"),
    case("timeout-string", _set(FN, "spec.timeoutSeconds", "30"), "spec.timeoutSeconds"),
    case("timeout-float", _set(FN, "spec.timeoutSeconds", 2.5), "spec.timeoutSeconds"),
    case("memory-127", _set(FN, "spec.memoryMiB", 127), "spec.memoryMiB"),
    case("memory-10241", _set(FN, "spec.memoryMiB", 10241), "spec.memoryMiB"),
    case("per-replica-0", _set(FN, "spec.concurrency", {"perReplica": 0}), "spec.concurrency.perReplica"),
    case("concurrency-max-too-big", _set(FN, "spec.concurrency", {"max": 100001}), "spec.concurrency.max"),
    case("min-above-max-replicas", _set(FN, "spec.scaling", {"minReplicas": 5, "maxReplicas": 2}),
         "spec.scaling", "spec.scaling.minReplicas"),
    case("min-above-default-max", _set(FN, "spec.scaling", {"minReplicas": 11}),
         "spec.scaling", "spec.scaling.minReplicas"),
    case("max-replicas-0", _set(FN, "spec.scaling", {"maxReplicas": 0}), "spec.scaling.maxReplicas"),
    case("target-above-per-replica",
         _set(_set(FN, "spec.concurrency", {"perReplica": 4}), "spec.scaling", {"targetConcurrency": 8}),
         "spec.scaling.targetConcurrency"),
    case("scale-to-zero-0", _set(FN, "spec.scaling", {"scaleToZeroAfterSeconds": 0}),
         "spec.scaling.scaleToZeroAfterSeconds"),
    case("env-reserved", _set(FN, "spec.env", [{"name": "AWS_LAMBDA_FUNCTION_NAME", "value": "x"}]),
         "spec.env[0].name"),
    case("env-duplicate", _set(FN, "spec.env", [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
         "spec.env[1].name", "spec.env[1]"),
    case("env-name-starts-with-digit", _set(FN, "spec.env", [{"name": "1A"}]), "spec.env[0].name"),
    case("env-value-and-value-from", _set(FN, "spec.env", [{"name": "A", "value": "1", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}}}]), "spec.env[0]"),
    case("env-value-from-two-refs", _set(FN, "spec.env", [{"name": "A", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}}}]),
        "spec.env[0].valueFrom"),
    case("env-value-from-empty", _set(FN, "spec.env", [{"name": "A", "valueFrom": {}}]), "spec.env[0].valueFrom"),
    case("env-key-empty", _set(FN, "spec.env", [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}}]),
         "spec.env[0].valueFrom.secretKeyRef.key"),
    case("env-not-a-list", _set(FN, "spec.env", {"A": "1"}), "spec.env"),
    case("env-too-many", _set(FN, "spec.env", [{"name": f"V{i}"} for i in range(257)]), "spec.env"),
    case("max-retries-3", _set(FN, "spec.async", {"maxRetries": 3}), "spec.async.maxRetries"),
    case("event-age-59", _set(FN, "spec.async", {"maxEventAgeSeconds": 59}), "spec.async.maxEventAgeSeconds"),
    case("on-failure-invalid-name", _set(FN, "spec.async", {"onFailure": {"function": "Failed_Events"}}),
         "spec.async.onFailure.function"),
    case("auth-token-without-secret", _set(FN, "spec.auth", {"type": "token"}), "spec.auth.secretName"),
    case("auth-secret-invalid", _set(FN, "spec.auth", {"type": "token", "secretName": "Tokens"}),
         "spec.auth.secretName"),
    case("auth-unknown-type", _set(FN, "spec.auth", {"type": "basic"}), "spec.auth.type"),
    case("replicas-negative", _set(FN, "spec.replicas", -1), "spec.replicas"),
    case("unknown-field", _set(FN, "spec.timeout", 30), "spec.timeout", "spec"),
    case("snake-case-field", _set(FN, "spec.timeout_seconds", 30), "spec.timeout_seconds", "spec"),
    case("unknown-nested-field", _set(FN, "spec.scaling", {"max": 3}), "spec.scaling.max", "spec.scaling"),
    case("trigger-no-kind", _set(HTTP, "spec.http", DELETE), "spec"),
    case("trigger-two-kinds", _set(HTTP, "spec.s3", {"bucket": "uploads"}), "spec"),
    case("trigger-no-function", _set(HTTP, "spec.function", DELETE), "spec.function", "spec"),
    case("trigger-function-invalid", _set(HTTP, "spec.function", "Thumbnail"), "spec.function"),
    case("http-relative-path", _set(HTTP, "spec.http.path", "thumbnails"), "spec.http.path"),
    case("http-parent-segment", _set(HTTP, "spec.http.path", "/a/../fn/x"), "spec.http.path"),
    case("http-trailing-parent", _set(HTTP, "spec.http.path", "/a/.."), "spec.http.path"),
    case("http-empty-segment", _set(HTTP, "spec.http.path", "/a//b"), "spec.http.path"),
    case("http-query", _set(HTTP, "spec.http.path", "/a?b=c"), "spec.http.path"),
    case("http-root", _set(HTTP, "spec.http.path", "/"), "spec.http.path"),
    case("http-reserved-fn", _set(HTTP, "spec.http.path", "/fn/default/x"), "spec.http.path"),
    case("http-reserved-metrics", _set(HTTP, "spec.http.path", "/metrics"), "spec.http.path"),
    case("http-path-too-long", _set(HTTP, "spec.http.path", "/" + "a" * 1024), "spec.http.path"),
    case("http-unknown-method", _set(HTTP, "spec.http.methods", ["FETCH"]), "spec.http.methods",
         "spec.http.methods[0]"),
    case("http-event-invocation", _set(HTTP, "spec.invocationType", "Event"), "spec.invocationType"),
    case("unknown-invocation-type", _set(S3, "spec.invocationType", "Async"), "spec.invocationType"),
    case("s3-bucket-uppercase", _set(S3, "spec.s3.bucket", "Uploads"), "spec.s3.bucket"),
    case("s3-bucket-too-short", _set(S3, "spec.s3.bucket", "ab"), "spec.s3.bucket"),
    case("s3-bucket-dash-end", _set(S3, "spec.s3.bucket", "uploads-"), "spec.s3.bucket"),
    case("s3-no-bucket", _set(S3, "spec.s3.bucket", DELETE), "spec.s3.bucket", "spec.s3"),
    case("s3-no-events", _set(S3, "spec.s3.events", []), "spec.s3.events"),
    case("s3-event-with-space", _set(S3, "spec.s3.events", ["s3:Object Created"]), "spec.s3.events",
         "spec.s3.events[0]"),
    case("s3-prefix-too-long", _set(S3, "spec.s3.filter", {"prefix": "p" * 1025}), "spec.s3.filter.prefix"),
]


@pytest.mark.parametrize("obj, model_path, crd_path", INVALID)
def test_invalid_under_both(obj, model_path, crd_path):
    with pytest.raises(api.InvalidObject) as info:
        parse(obj)
    assert model_path in [e.path for e in info.value.errors], info.value
    _, errors = admit(obj["kind"], obj)
    assert crd_path in [path for path, _ in errors], errors


def test_enough_invalid_cases():
    assert len(INVALID) >= 20
    assert len({p.id for p in INVALID}) == len(INVALID)


@pytest.mark.parametrize("name", sorted(names.RESERVED_ENV_NAMES)
                         + [p + "X" for p in names.RESERVED_ENV_PREFIXES])
def test_reserved_env_names_refused_by_both(name):
    obj = _function(env=[{"name": name, "value": "x"}])
    with pytest.raises(api.InvalidObject):
        parse(obj)
    assert admit("Function", obj)[1] == [("spec.env[0].name", node("Function", "spec.env[].name")[
        "x-kubernetes-validations"][0]["message"])]


@pytest.mark.parametrize("prefix", api.RESERVED_HTTP_PREFIXES)
@pytest.mark.parametrize("form", ["exact", "below"])
def test_reserved_http_paths_refused_by_both(prefix, form):
    path = prefix.rstrip("/") if form == "exact" else prefix.rstrip("/") + "/x"
    obj = _trigger(http={"path": path})
    with pytest.raises(api.InvalidObject):
        parse(obj)
    assert [p for p, _ in admit("Trigger", obj)[1]] == ["spec.http.path"]


def test_cel_rule_messages_name_their_field():
    for kind in ("Function", "Trigger"):
        for path, s in _walk(schema(kind)):
            for rule in s.get("x-kubernetes-validations", ()):
                leaf = (path + rule.get("fieldPath", "")).rsplit(".", 1)[-1].removesuffix("[]")
                assert leaf in rule["message"] or path.endswith("[]"), (path, rule["message"])


# --- agreement on generated objects -----------------------------------------------------------

# Per field: values its own rules accept, and values they refuse. Each refused value is tried
# alone in a valid object; the accepted ones are also combined by hypothesis, so that the
# cross-field rules meet combinations they were not written for.
FUNCTION_FIELDS: dict[str, tuple[list[Any], list[Any]]] = {
    "runtime": (["python3.11", "python3.9", "python3.19", "provided", "provided.al2"],
                ["python3.8", "python3.20", "nodejs20.x", "Python3.11", 3, None]),
    "handler": (["app.handler", "pkg.mod.fn", "handler", "bootstrap", "my-app.fn", None], ["", "h" * 129, 1]),
    "code": ([{"inline": "x"}, {"image": "r/fn:1"}, {"configMap": {"name": "code"}}, {"path": "."},
              {"inline": "x", "image": None}],
             [{"configMap": {"name": "Code"}}, {"configMap": {}}, {}, {"inline": "x", "path": "."},
              {"inline": ""}, None, "x"]),
    "env": ([[], [{"name": "A", "value": "1"}], [{"name": "A"}, {"name": "B"}], [{"name": "_x", "value": ""}],
             [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
             [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], None],
            [[{"name": "A"}, {"name": "A"}], [{"name": "KFN_X"}], [{"name": "AWS_REGION"}], [{"name": "9A"}],
             [{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
             [{"name": "A", "valueFrom": {}}], [{"value": "1"}], [{"name": "A", "value": 1}], "A=1"]),
    "timeoutSeconds": ([1, 3, 900, None], [0, 901, "3", 2.5, True]),
    "memoryMiB": ([128, 10240], [127, 10241]),
    "concurrency": ([{}, {"perReplica": 1}, {"perReplica": 4}, {"max": 100000}, {"perReplica": 1000, "max": 1}],
                    [{"perReplica": 0}, {"max": 100001}, {"perReplica": "4"}, {"burst": 1}]),
    "scaling": ([{}, {"minReplicas": 3, "maxReplicas": 2}, {"minReplicas": 10}, {"minReplicas": 11},
                 {"targetConcurrency": 4}, {"targetConcurrency": 11}, {"scaleToZeroAfterSeconds": 86400},
                 {"minReplicas": 2, "maxReplicas": 2, "targetConcurrency": 1}, {"targetConcurrency": None}],
                [{"maxReplicas": 0}, {"minReplicas": -1}, {"scaleToZeroAfterSeconds": 86401},
                 {"targetConcurrency": 0}]),
    "async": ([{}, {"maxRetries": 0, "maxEventAgeSeconds": 60}, {"onFailure": {"function": "dlq"}}],
              [{"maxRetries": 3}, {"maxEventAgeSeconds": 59}, {"onFailure": {}}, {"onFailure": {"function": "DLQ"}}]),
    "auth": ([{}, {"type": "token"}, {"type": "token", "secretName": "t"}, {"type": "none", "secretName": "t"},
              {"type": "none"}],
             [{"type": "x"}, {"secretName": "T"}, {"type": "token", "secretName": ""}]),
    "replicas": ([0, 1000, None], [-1, 1001]),
}

TRIGGER_FIELDS: dict[str, tuple[list[Any], list[Any]]] = {
    "function": (["thumbnail", "a" * 63], ["Thumbnail", "", "a" * 64, None]),
    "http": ([{"path": "/x"}, {"path": "/x/", "methods": ["get", "POST"]}, {"path": "/x", "methods": []},
              {"path": "/fnord"}, {"path": "/a/.../b"}, {"path": "/fn"}, {"path": "/a/.."}, {"path": "/"},
              {"path": "/healthzz"}, {"path": "/metrics/x"}, None],
             [{"path": "x"}, {"path": "//x"}, {"path": "/x?y"}, {"path": "/x", "methods": ["FETCH"]},
              {"methods": ["GET"]}, {"path": "/x", "methods": "GET"}]),
    "s3": ([{"bucket": "uploads"}, {"bucket": "a.b"}, {"bucket": "uploads", "filter": {"prefix": "a"}},
            {"bucket": "uploads", "events": ["ObjectCreated:*", "s3:ObjectRemoved:Delete"]},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
                                                     "region": "us-east-1"}}},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "http://127.0.0.1:5000/123456789012/q.fifo",
                                                     "region": "us-gov-west-1", "endpointUrl": "http://[::1]:5000",
                                                     "credentialsSecret": "aws-keys"}}}, None],
           [{"bucket": "Up"}, {"bucket": "a-"}, {"bucket": "uploads", "events": []},
            {"bucket": "uploads", "events": ["s3:"]}, {"bucket": "uploads", "filter": {"other": 1}},
            {"bucket": "uploads", "source": {}},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "sqs://q", "region": "us-east-1"}}},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "https://u@sqs/q", "region": "us-east-1"}}},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "https://sqs/q", "region": "US-East-1"}}},
            {"bucket": "uploads", "source": {"sqs": {"region": "us-east-1"}}},
            {"bucket": "uploads", "source": {"sqs": {"queueUrl": "https://sqs/q", "region": "us-east-1",
                                                     "credentialsSecret": "Keys"}}}]),
    "invocationType": (["Event", "RequestResponse", None], ["Sync", "event"]),
}


def _base(kind: str) -> dict[str, Any]:
    return _function() if kind == "Function" else _trigger(http={"path": "/thumbnails"})


def _with_field(kind: str, field: str, value: Any) -> dict[str, Any]:
    obj = _base(kind)
    if kind == "Trigger" and field == "s3":
        del obj["spec"]["http"]
    obj["spec"][field] = value
    return obj


def _accepted_by_model(obj: Any) -> bool:
    try:
        parse(obj)
    except api.InvalidObject:
        return False
    return True


def _field_values(accepted: bool) -> list[Any]:
    return [pytest.param(kind, field, value, id=f"{kind}-{field}-{i}")
            for kind, fields in (("Function", FUNCTION_FIELDS), ("Trigger", TRIGGER_FIELDS))
            for field, values in fields.items()
            for i, value in enumerate(values[0 if accepted else 1])]


@pytest.mark.parametrize("kind, field, value", _field_values(accepted=False))
def test_each_refused_value_is_refused_by_both(kind, field, value):
    obj = _with_field(kind, field, value)
    assert not _accepted_by_model(obj)
    assert admit(kind, obj)[1] != []


@pytest.mark.parametrize("kind, field, value", _field_values(accepted=True))
def test_each_accepted_value_is_judged_alike(kind, field, value):
    # Alone in an otherwise valid object; some are refused there by a cross-field rule (a
    # minReplicas above the default maxReplicas), and then by both.
    obj = _with_field(kind, field, value)
    _, errors = admit(kind, copy.deepcopy(obj))
    assert _accepted_by_model(obj) == (errors == []), errors


@st.composite
def combined_objects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Function", "Trigger"]))
    fields = FUNCTION_FIELDS if kind == "Function" else TRIGGER_FIELDS
    spec = {field: draw(st.sampled_from(accepted)) for field, (accepted, _) in fields.items()
            if draw(st.booleans())}
    return {"apiVersion": api.API_VERSION, "kind": kind, "metadata": {"name": "thumbnail"}, "spec": spec}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(obj=combined_objects())
def test_crd_and_model_agree_on_combined_values(obj):
    _, errors = admit(obj["kind"], copy.deepcopy(obj))
    assert _accepted_by_model(obj) == (errors == []), errors
