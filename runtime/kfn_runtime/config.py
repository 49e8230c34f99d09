"""The function a runtime process hosts, parsed once at the boundary (environment or ``POST /load``).

Both sources share the checks below, so a function gets the same defaults and limits whichever
way it arrives; only the field names in the errors differ (``KFN_TIMEOUT_SECONDS`` there,
``timeoutSeconds`` here).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

__all__ = ["FunctionConfig", "ConfigError", "from_load_body", "runtime_kind", "PYTHON", "PROVIDED"]

DEFAULT_NAMESPACE = "default"
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MIB = 128
DEFAULT_CONCURRENCY = 10
DEFAULT_REGION = "us-east-1"
DEFAULT_VERSION = "$LATEST"
TIMEOUT_RANGE = (1, 900)
MEMORY_RANGE = (128, 10240)
CONCURRENCY_RANGE = (1, 1000)
PYTHON = "python"
"""The handler is a Python function this process imports and calls."""
PROVIDED = "provided"
"""The function brings a ``bootstrap`` executable that talks to the Lambda Runtime API."""

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(ValueError):
    """A setting is missing or invalid; ``field`` names it as its source spells it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True, kw_only=True)
class FunctionConfig:
    name: str
    """The Function's name, a DNS-1123 label; Lambda's function name."""
    namespace: str = DEFAULT_NAMESPACE
    """The Function's namespace; part of the ARN unless it is ``default``."""
    handler: str
    """``module.function`` as Lambda's ``_HANDLER``; checked when it is imported, as Lambda does.
    For ``provided`` it is passed to the bootstrap as is, and may be empty."""
    runtime: str = PYTHON
    """``python`` or ``provided``: import the handler here, or run the code's ``bootstrap``."""
    code_dir: str
    """The directory holding the code (Lambda's task root): put on ``sys.path`` and made the cwd."""
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    """Seconds an invocation may run before it is answered with ``Sandbox.Timedout`` (1..900)."""
    memory_mib: int = DEFAULT_MEMORY_MIB
    """The memory size reported to the handler and in REPORT lines; the pod's limit enforces it."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Invocations this process runs at once; one more is refused with 429. A ``provided``
    runtime runs one at a time whatever this says, as a Lambda sandbox does."""
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Extra environment variables for the function (the spec's ``env``), set before import."""
    region: str = DEFAULT_REGION
    """The AWS region the handler sees (``AWS_REGION``, the ARN)."""
    version: str = DEFAULT_VERSION
    """Lambda's function version, as START lines and ``context.function_version`` show it."""

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.name}"


def label(value: object, field: str) -> str:
    """A DNS-1123 label: names reach ARNs, log group names and URLs."""
    text = string(value, field)
    if len(text) > 63 or _LABEL.fullmatch(text) is None:
        raise ConfigError(field, "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
    return text


def string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(field, "must be a string")
    if not value:
        raise ConfigError(field, "must not be empty")
    return value


def optional_string(value: object, field: str) -> str:
    """A string that may be absent (None) or empty; absent reads as empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(field, "must be a string")
    return value


def integer(value: object, field: str, bounds: tuple[int, int]) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(field, "must be an integer")
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(field, f"must be between {low} and {high} (got {value})")
    return value


def runtime_kind(value: object, field: str) -> str:
    """``python`` or ``provided``, also spelled as a Function's ``spec.runtime`` (``python3.12``,
    ``provided.al2023``), so a caller can pass either."""
    text = string(value, field)
    if text == PYTHON or text.startswith("python3."):
        return PYTHON
    if text == PROVIDED or text.startswith("provided."):
        return PROVIDED
    raise ConfigError(field, f"must be python, python3.x, provided or provided.al2023 (got {text!r})")


def env_vars(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(field, "must be an object of strings")
    for key, item in value.items():
        if _ENV_NAME.fullmatch(key) is None:
            raise ConfigError(f"{field}.{key}", "must be letters, digits and '_', not starting with a digit")
        if not isinstance(item, str):
            raise ConfigError(f"{field}.{key}", "must be a string")
    return dict(value)


_LOAD_FIELDS = frozenset({"name", "namespace", "handler", "runtime", "codeDir", "timeoutSeconds", "memoryMiB",
                          "concurrency", "env", "region", "version"})


def from_load_body(body: object) -> FunctionConfig:
    """The function described by a ``POST /load`` body; unknown fields are refused, not ignored."""
    if not isinstance(body, dict):
        raise ConfigError("body", "must be a JSON object")
    for key in body:
        if key not in _LOAD_FIELDS:
            raise ConfigError(str(key), "unknown field")
    kind = runtime_kind(body.get("runtime", PYTHON), "runtime")
    for key in ("name", "handler", "codeDir") if kind == PYTHON else ("name", "codeDir"):
        if key not in body:
            raise ConfigError(key, "required")
    return FunctionConfig(
        name=label(body["name"], "name"),
        namespace=label(body.get("namespace", DEFAULT_NAMESPACE), "namespace"),
        handler=(string(body["handler"], "handler") if kind == PYTHON
                 else optional_string(body.get("handler"), "handler")),
        runtime=kind,
        code_dir=string(body["codeDir"], "codeDir"),
        timeout_seconds=integer(body.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS), "timeoutSeconds",
                                TIMEOUT_RANGE),
        memory_mib=integer(body.get("memoryMiB", DEFAULT_MEMORY_MIB), "memoryMiB", MEMORY_RANGE),
        concurrency=integer(body.get("concurrency", DEFAULT_CONCURRENCY), "concurrency", CONCURRENCY_RANGE),
        env=env_vars(body.get("env", {}), "env"),
        region=string(body.get("region", DEFAULT_REGION), "region"),
        version=string(body.get("version", DEFAULT_VERSION), "version"),
    )
