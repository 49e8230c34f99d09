"""The kfn API types: Function and Trigger of ``kfn.dev/v1alpha1``, parsed once, at the boundary.

Every component (the operator, the gateway, ``kfn dev`` and the CRD schema tests) reads objects
through :func:`parse_function` and :func:`parse_trigger`, so there is one set of defaults and one
validator. Field names are the YAML's camelCase; errors name the field path the user wrote
(``spec.timeoutSeconds: must be ≤ 900``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Mapping

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kfn import names

__all__ = [
    "API_VERSION", "GROUP", "VERSION", "FieldError", "InvalidObject",
    "Function", "FunctionSpec", "Trigger", "TriggerSpec", "ObjectMeta",
    "parse_function", "parse_trigger", "parse_object",
]

GROUP = "kfn.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

PYTHON_RUNTIME = re.compile(r"^python3\.(9|1[0-9])$")
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
PYTHON_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.[A-Za-z_][A-Za-z0-9_]*$")
# Segments separated by single slashes, an optional trailing slash. Written so that each
# character has one way to match: the nested ``([…]+/?)*`` form backtracks exponentially on a long
# path that ends in a bad character.
HTTP_PATH = re.compile(r"^/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]+(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*/?)?$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Paths the gateway serves itself; a Trigger may claim neither them nor a path below them
# (matched on whole segments, as routes are: /metricsx is free).
RESERVED_HTTP_PREFIXES = ("/fn/", "/events/", "/2015-03-31/", "/healthz", "/readyz", "/metrics", "/stats")
S3_EVENT = re.compile(r"^(s3:)?[A-Za-z]+(:[A-Za-z*]+)*$")
# An http(s) URL without user, query or fragment: an SQS queue URL or an endpoint (moto, LocalStack).
SERVICE_URL = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


class FieldError(ValueError):
    """One invalid field: ``path`` is dotted as written in YAML (``spec.code``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class InvalidObject(Exception):
    """A Function or Trigger that fails validation; carries every field error found."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind = kind
        self.name = name
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class _Model(BaseModel):
    # populate_by_name lets Python code build models with snake_case keywords; the parsers below
    # validate with by_name=False, so YAML and API objects must use the camelCase names the CRD
    # has (a ``timeout_seconds:`` key is an unknown field, as the API server would say).
    model_config = ConfigDict(
        strict=True, frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel,
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        # An explicit null (``env:`` with nothing under it) means "not set", as it does on the API
        # server, which drops the nulls of a custom resource before it applies the defaults.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


def _label(value: str) -> str:
    problem = names.dns1123_error(value)
    if problem:
        raise ValueError(problem)
    return value


# --- Function ---------------------------------------------------------------------------------


class ConfigMapSource(_Model):
    name: str
    _check = field_validator("name")(classmethod(lambda cls, v: _label(v)))


class Code(_Model):
    """Where the handler's code comes from; exactly one source."""

    inline: str | None = Field(default=None, min_length=1, max_length=262144)
    config_map: ConfigMapSource | None = None
    image: str | None = Field(default=None, min_length=1, max_length=512)
    # kfn dev only: a directory relative to the YAML file that declares the Function.
    path: str | None = Field(default=None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _exactly_one(self) -> "Code":
        sources = {"inline": self.inline, "configMap": self.config_map, "image": self.image, "path": self.path}
        given = [n for n, v in sources.items() if v is not None]
        if len(given) != 1:
            raise ValueError("exactly one of inline, configMap, image, path must be set"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class KeyRef(_Model):
    name: str
    key: str = Field(min_length=1, max_length=253)
    _check = field_validator("name")(classmethod(lambda cls, v: _label(v)))


class EnvValueFrom(_Model):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "EnvValueFrom":
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError("exactly one of secretKeyRef, configMapKeyRef must be set")
        return self


class EnvVar(_Model):
    name: str = Field(min_length=1, max_length=256)
    value: str | None = None
    value_from: EnvValueFrom | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(names.ENV_NAME, v):
            raise ValueError("must be letters, digits and '_', not starting with a digit")
        if names.is_reserved_env(v):
            raise ValueError(f"{v} is reserved for the runtime")
        return v

    @model_validator(mode="after")
    def _one_value(self) -> "EnvVar":
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


class Concurrency(_Model):
    per_replica: int = Field(default=10, ge=1, le=1000)
    """Hard limit of concurrent invocations one replica serves (Knative's containerConcurrency)."""
    max: int = Field(default=100, ge=1, le=100000)
    """Lambda's reserved concurrency: beyond it requests are throttled with 429."""


class Scaling(_Model):
    min_replicas: int = Field(default=0, ge=0, le=1000)
    max_replicas: int = Field(default=10, ge=1, le=1000)
    target_concurrency: int | None = Field(default=None, ge=1, le=1000)
    """In-flight requests per replica the autoscaler aims at; defaults to concurrency.perReplica."""
    scale_to_zero_after_seconds: int = Field(default=300, ge=1, le=86400)

    @model_validator(mode="after")
    def _bounds(self) -> "Scaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must be ≤ maxReplicas ({self.max_replicas})")
        return self


class Destination(_Model):
    function: str
    _check = field_validator("function")(classmethod(lambda cls, v: _label(v)))


class AsyncConfig(_Model):
    max_retries: int = Field(default=2, ge=0, le=2)
    max_event_age_seconds: int = Field(default=21600, ge=60, le=21600)
    on_failure: Destination | None = None


class Auth(_Model):
    type: Literal["none", "token"] = "none"
    secret_name: str | None = None
    """For ``token``: the Secret whose values are the accepted bearer tokens."""

    _check = field_validator("secret_name")(classmethod(lambda cls, v: _label(v)))

    @model_validator(mode="after")
    def _secret(self) -> "Auth":
        if self.type == "token" and not self.secret_name:
            raise FieldError("secretName", "required when type is token")
        return self


class FunctionSpec(_Model):
    runtime: str
    handler: str | None = Field(default=None, min_length=1, max_length=128)
    code: Code
    env: tuple[EnvVar, ...] = Field(default=(), max_length=256)
    """Bounded so that the CRD's per-variable CEL rules fit the API server's cost budget."""
    timeout_seconds: int = Field(default=3, ge=1, le=900)
    memory_mib: int = Field(default=128, ge=128, le=10240, alias="memoryMiB")
    concurrency: Concurrency = Concurrency()
    scaling: Scaling = Scaling()
    async_: AsyncConfig = Field(default=AsyncConfig(), alias="async")
    auth: Auth = Auth()
    replicas: int | None = Field(default=None, ge=0, le=1000)
    """Written by ``kubectl scale`` through the CRD's scale subresource; None (the usual case)
    leaves the replica count to the autoscaler, which owns it otherwise."""

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, v: str) -> str:
        if not (PYTHON_RUNTIME.match(v) or v in PROVIDED_RUNTIMES):
            raise ValueError("must be python3.9 … python3.19 or provided (provided.al2, provided.al2023)")
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env_list(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @model_validator(mode="after")
    def _consistent(self) -> "FunctionSpec":
        if self.is_python:
            if self.handler is None:
                raise FieldError("handler", "required for python runtimes (module.function)")
            if not PYTHON_HANDLER.match(self.handler):
                raise FieldError("handler", "must be module.function, e.g. app.handler")
        seen: set[str] = set()
        for i, var in enumerate(self.env):
            if var.name in seen:
                raise FieldError(f"env[{i}].name", f"duplicate variable {var.name}")
            seen.add(var.name)
        target = self.scaling.target_concurrency
        if target is not None and target > self.concurrency.per_replica:
            raise FieldError("scaling.targetConcurrency",
                             f"must be ≤ concurrency.perReplica ({self.concurrency.per_replica})")
        return self

    @property
    def is_python(self) -> bool:
        return self.runtime.startswith("python")

    @property
    def per_replica(self) -> int:
        """Invocations one replica serves at once: ``concurrency.perReplica`` for Python; 1 for
        provided runtimes, whose bootstrap takes one event at a time from the Runtime API, as on Lambda."""
        return self.concurrency.per_replica if self.is_python else 1

    @property
    def target_concurrency(self) -> int:
        return min(self.scaling.target_concurrency or self.per_replica, self.per_replica)


class ObjectMeta(_Model):
    model_config = ConfigDict(extra="ignore")
    name: str
    namespace: str = "default"
    _check = field_validator("name", "namespace")(classmethod(lambda cls, v: _label(v)))


class Function(_Model):
    model_config = ConfigDict(extra="ignore")
    metadata: ObjectMeta
    spec: FunctionSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"


# --- Trigger ----------------------------------------------------------------------------------


class HttpTrigger(_Model):
    path: str = Field(min_length=1, max_length=1024)
    methods: tuple[str, ...] = ()
    """Empty means any method."""

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not HTTP_PATH.match(v) or "/../" in v + "/" or "//" in v:
            raise ValueError("must be an absolute URL path such as /hello (no '..', no empty segment)")
        if v == "/" or any(v == p.rstrip("/") or v.startswith(p.rstrip("/") + "/") for p in RESERVED_HTTP_PREFIXES):
            raise ValueError("is served by the gateway itself (/, /fn/, /events/, /2015-03-31/, "
                             "/healthz, /readyz, /metrics, /stats)")
        return v

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        if isinstance(v, list):
            bad = [m for m in v if not isinstance(m, str) or m.upper() not in HTTP_METHODS]
            if bad:
                raise ValueError(f"unknown method {bad[0]!r}; use {', '.join(HTTP_METHODS)}")
            return tuple(m.upper() for m in v)
        return v


class S3Filter(_Model):
    prefix: str = Field(default="", max_length=1024)
    suffix: str = Field(default="", max_length=1024)


def _service_url(value: str) -> str:
    if not SERVICE_URL.match(value) or "\n" in value:
        raise ValueError("must be an http(s) URL such as https://sqs.us-east-1.amazonaws.com/123456789012/uploads")
    return value


class SqsSource(_Model):
    """An SQS queue the bucket notifies (AWS S3 → SQS), long-polled by the gateway."""

    queue_url: str = Field(min_length=1, max_length=2048)
    region: str = Field(min_length=1, max_length=32)
    endpoint_url: str | None = Field(default=None, min_length=1, max_length=2048)
    """Another endpoint than AWS's (an emulator); unset, boto3's for ``region``."""
    credentials_secret: str | None = None
    """In a cluster: a Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally
    AWS_SESSION_TOKEN); unset, the gateway's own credentials. ``kfn dev`` reads the AWS variables
    of its environment instead, and refuses this field."""

    _urls = field_validator("queue_url", "endpoint_url")(classmethod(lambda cls, v: _service_url(v)))
    _secret = field_validator("credentials_secret")(classmethod(lambda cls, v: _label(v)))

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not AWS_REGION.match(v) or "\n" in v:
            raise ValueError("must be an AWS region such as us-east-1")
        return v


class S3Source(_Model):
    """Where a Trigger fetches notifications itself, instead of a store pushing them to the gateway."""

    sqs: SqsSource


class S3Trigger(_Model):
    bucket: str = Field(min_length=3, max_length=63)
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)
    filter: S3Filter = S3Filter()
    source: S3Source | None = None
    """Unset: the store pushes notifications to ``/events/s3`` (MinIO, Ceph) or ``/events/sns``."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", v):
            raise ValueError("must be an S3 bucket name: lower-case letters, digits, '.' and '-'")
        return v

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not v:
                raise ValueError("must name at least one event, e.g. s3:ObjectCreated:*")
            for e in v:
                if not isinstance(e, str) or not S3_EVENT.match(e):
                    raise ValueError(f"{e!r} is not an S3 event name such as s3:ObjectCreated:*")
            return tuple(v)
        return v


class TriggerSpec(_Model):
    function: str
    http: HttpTrigger | None = None
    s3: S3Trigger | None = None
    invocation_type: Literal["Event", "RequestResponse"] | None = None

    _check = field_validator("function")(classmethod(lambda cls, v: _label(v)))

    @model_validator(mode="after")
    def _one_kind(self) -> "TriggerSpec":
        kinds = [k for k in ("http", "s3") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("exactly one of http, s3 must be set"
                             + (f" (got {', '.join(kinds)})" if kinds else ""))
        if self.http is not None and self.invocation_type == "Event":
            raise FieldError("invocationType", "http triggers are synchronous: use RequestResponse")
        return self

    @property
    def kind(self) -> str:
        return "http" if self.http is not None else "s3"

    @property
    def effective_invocation_type(self) -> str:
        return self.invocation_type or ("RequestResponse" if self.http is not None else "Event")


class Trigger(_Model):
    model_config = ConfigDict(extra="ignore")
    metadata: ObjectMeta
    spec: TriggerSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"


# --- parsing ----------------------------------------------------------------------------------


def _message(err: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        sign = {"less_than_equal": "≤", "greater_than_equal": "≥", "less_than": "<", "greater_than": ">"}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {sign} {bound}"
    if kind in ("string_too_long", "too_long"):
        return f"must be at most {ctx.get('max_length')} {'characters' if kind.startswith('string') else 'items'}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "string_type":
        return "must be a string"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object"
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        error = ctx.get("error")
        if isinstance(error, FieldError):
            return error.message
        return str(error) if error is not None else err["msg"]
    return str(err["msg"])


def _path(prefix: str, err: Mapping[str, Any]) -> str:
    parts: list[str] = [prefix] if prefix else []
    for item in err["loc"]:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    ctx = err.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(error, FieldError) and error.path:
        parts.append(error.path)
    return ".".join(parts)


def _convert(kind: str, name: str, exc: pydantic.ValidationError) -> InvalidObject:
    errors = [FieldError(_path("", e), _message(e)) for e in exc.errors(include_url=False)]
    return InvalidObject(kind, name, errors)


def _check_header(obj: Any, kind: str) -> str:
    if not isinstance(obj, Mapping):
        raise InvalidObject(kind, "?", [FieldError("", "must be a mapping (a YAML object)")])
    meta = obj.get("metadata")
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    name = name if isinstance(name, str) else "?"
    errors: list[FieldError] = []
    if obj.get("apiVersion") != API_VERSION:
        errors.append(FieldError("apiVersion", f"must be {API_VERSION}"))
    if obj.get("kind") != kind:
        errors.append(FieldError("kind", f"must be {kind}"))
    if errors:
        raise InvalidObject(kind, name, errors)
    return name


def parse_function(obj: Any) -> Function:
    """Validate a Function object (a dict from YAML or the API) and apply the defaults."""
    name = _check_header(obj, "Function")
    try:
        return Function.model_validate(obj, by_name=False)
    except pydantic.ValidationError as exc:
        raise _convert("Function", name, exc) from None


def parse_trigger(obj: Any) -> Trigger:
    """Validate a Trigger object (a dict from YAML or the API) and apply the defaults."""
    name = _check_header(obj, "Trigger")
    try:
        return Trigger.model_validate(obj, by_name=False)
    except pydantic.ValidationError as exc:
        raise _convert("Trigger", name, exc) from None


def parse_object(obj: Any) -> Function | Trigger:
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    if kind == "Trigger":
        return parse_trigger(obj)
    return parse_function(obj)
