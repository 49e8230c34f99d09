"""The runtime's settings, read from the environment once at start and validated at once.

This is the only module that reads the environment; ``main`` passes ``os.environ`` in and tests
pass a plain dict.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from kfn_runtime import config

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(config.ConfigError):
    """An environment variable is missing or invalid; ``field`` names the variable."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "0.0.0.0"
    """Address to listen on (``KFN_RUNTIME_HOST``)."""
    port: int = 8080
    """Port to listen on, 0 for a free one (``KFN_RUNTIME_PORT``); the ready line tells which."""
    ready_fd: int | None = None
    """A pipe to write ``{"port", "pid"}`` to once listening (``KFN_READY_FD``); how a parent learns the port."""
    pool: bool = False
    """Start with no function and wait for ``POST /load`` (``KFN_POOL``): a pre-warmed generic worker."""
    function: config.FunctionConfig | None = None
    """The function to load at start; None in pool mode. Its variables: ``AWS_LAMBDA_FUNCTION_NAME``,
    ``_HANDLER`` (required for python), ``LAMBDA_TASK_ROOT`` (default: the cwd), ``KFN_NAMESPACE``,
    ``KFN_TIMEOUT_SECONDS``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, ``KFN_CONCURRENCY``, ``AWS_REGION``,
    ``AWS_LAMBDA_FUNCTION_VERSION``, and ``KFN_RUNTIME_KIND``: ``python`` (the default) imports the
    handler; ``provided`` (or a ``provided.al2023``-style runtime name) starts
    ``$LAMBDA_TASK_ROOT/bootstrap`` and serves it the Lambda Runtime API."""
    memory_watch: bool = False
    """Kill the process once it uses more than the function's ``memoryMiB`` (``KFN_MEMORY_WATCH``):
    ``kfn dev`` sets it, where no container limit does that."""
    parent_pid: int | None = None
    """Exit when this process is no longer our parent (``KFN_PARENT_PID``): a worker of ``kfn dev``
    must not outlive a gateway that was killed without the chance to stop it."""


def load_settings(env: Mapping[str, str]) -> Settings:
    try:
        return _parse(env)
    except config.ConfigError as e:
        raise SettingsError(e.field, e.reason) from None


def _parse(env: Mapping[str, str]) -> Settings:
    pool = _flag(env, "KFN_POOL")
    ready_fd = None
    if env.get("KFN_READY_FD", "").strip():
        ready_fd = config.integer(_int(env, "KFN_READY_FD", 0), "KFN_READY_FD", (0, 1 << 20))
    parent_pid = None
    if env.get("KFN_PARENT_PID", "").strip():
        parent_pid = config.integer(_int(env, "KFN_PARENT_PID", 0), "KFN_PARENT_PID", (1, 1 << 30))
    return Settings(
        memory_watch=_flag(env, "KFN_MEMORY_WATCH"),
        parent_pid=parent_pid,
        host=config.string(env.get("KFN_RUNTIME_HOST", "0.0.0.0"), "KFN_RUNTIME_HOST"),
        port=config.integer(_int(env, "KFN_RUNTIME_PORT", 8080), "KFN_RUNTIME_PORT", (0, 65535)),
        ready_fd=ready_fd,
        pool=pool,
        function=None if pool else _function(env),
    )


def _function(env: Mapping[str, str]) -> config.FunctionConfig:
    kind = config.runtime_kind(env.get("KFN_RUNTIME_KIND") or config.PYTHON, "KFN_RUNTIME_KIND")
    for name in ("_HANDLER", "AWS_LAMBDA_FUNCTION_NAME") if kind == config.PYTHON else ("AWS_LAMBDA_FUNCTION_NAME",):
        if not env.get(name):
            raise config.ConfigError(name, "required unless KFN_POOL=1")
    return config.FunctionConfig(
        name=config.label(env["AWS_LAMBDA_FUNCTION_NAME"], "AWS_LAMBDA_FUNCTION_NAME"),
        namespace=config.label(env.get("KFN_NAMESPACE", config.DEFAULT_NAMESPACE), "KFN_NAMESPACE"),
        handler=env.get("_HANDLER", ""),
        runtime=kind,
        code_dir=env.get("LAMBDA_TASK_ROOT") or os.getcwd(),
        timeout_seconds=config.integer(_int(env, "KFN_TIMEOUT_SECONDS", config.DEFAULT_TIMEOUT_SECONDS),
                                       "KFN_TIMEOUT_SECONDS", config.TIMEOUT_RANGE),
        memory_mib=config.integer(_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.DEFAULT_MEMORY_MIB),
                                  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.MEMORY_RANGE),
        concurrency=config.integer(_int(env, "KFN_CONCURRENCY", config.DEFAULT_CONCURRENCY),
                                   "KFN_CONCURRENCY", config.CONCURRENCY_RANGE),
        region=config.string(env.get("AWS_REGION", config.DEFAULT_REGION), "AWS_REGION"),
        version=config.string(env.get("AWS_LAMBDA_FUNCTION_VERSION", config.DEFAULT_VERSION),
                              "AWS_LAMBDA_FUNCTION_VERSION"),
    )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise config.ConfigError(name, f"must be an integer (got {raw!r})") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise config.ConfigError(name, f"must be 1 or 0 (got {raw!r})")
