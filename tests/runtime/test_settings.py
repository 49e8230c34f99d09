"""Settings and function configs, parsed from plain dicts (the environment, a /load body).

Nothing is faked: these are pure functions. Asserted: defaults, and that every invalid value is
refused at once with an error naming the variable or field.
"""

from __future__ import annotations

import os

import pytest

from kfn_runtime import config, settings

FUNCTION = {"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "hello"}
LOAD = {"name": "hello", "handler": "app.handler", "codeDir": "/code"}


def test_defaults_for_a_function_from_the_environment() -> None:
    s = settings.load_settings(FUNCTION)
    assert (s.host, s.port, s.ready_fd, s.pool) == ("0.0.0.0", 8080, None, False)
    assert s.function == config.FunctionConfig(
        name="hello", namespace="default", handler="app.handler", code_dir=os.getcwd(), timeout_seconds=3,
        memory_mib=128, concurrency=10, env={}, region="us-east-1", version="$LATEST")


def test_every_function_variable_is_read() -> None:
    s = settings.load_settings({
        **FUNCTION, "KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": "0", "KFN_READY_FD": "7",
        "LAMBDA_TASK_ROOT": "/var/task", "KFN_NAMESPACE": "media", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "KFN_TIMEOUT_SECONDS": "900", "KFN_CONCURRENCY": "4", "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_VERSION": "7"})
    assert (s.host, s.port, s.ready_fd) == ("127.0.0.1", 0, 7)
    assert s.function is not None
    f = s.function
    assert (f.code_dir, f.namespace, f.memory_mib, f.timeout_seconds, f.concurrency, f.region, f.version) == (
        "/var/task", "media", 512, 900, 4, "eu-west-1", "7")


def test_pool_mode_needs_no_function() -> None:
    s = settings.load_settings({"KFN_POOL": "1"})
    assert s.pool and s.function is None


@pytest.mark.parametrize(("env", "variable"), [
    ({"KFN_RUNTIME_PORT": "http"}, "KFN_RUNTIME_PORT"),
    ({"KFN_RUNTIME_PORT": "70000"}, "KFN_RUNTIME_PORT"),
    ({"KFN_RUNTIME_PORT": "-1"}, "KFN_RUNTIME_PORT"),
    ({"KFN_READY_FD": "three"}, "KFN_READY_FD"),
    ({"KFN_POOL": "yes please"}, "KFN_POOL"),
    ({"_HANDLER": ""}, "_HANDLER"),
    ({"AWS_LAMBDA_FUNCTION_NAME": ""}, "AWS_LAMBDA_FUNCTION_NAME"),
    ({"AWS_LAMBDA_FUNCTION_NAME": "Hello_World"}, "AWS_LAMBDA_FUNCTION_NAME"),
    ({"KFN_NAMESPACE": "a/b"}, "KFN_NAMESPACE"),
    ({"KFN_TIMEOUT_SECONDS": "0"}, "KFN_TIMEOUT_SECONDS"),
    ({"KFN_TIMEOUT_SECONDS": "901"}, "KFN_TIMEOUT_SECONDS"),
    ({"KFN_TIMEOUT_SECONDS": "2.5"}, "KFN_TIMEOUT_SECONDS"),
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "64"}, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
    ({"KFN_CONCURRENCY": "0"}, "KFN_CONCURRENCY"),
])
def test_invalid_variables_are_named(env: dict[str, str], variable: str) -> None:
    with pytest.raises(settings.SettingsError) as info:
        settings.load_settings({**FUNCTION, **env})
    assert info.value.field == variable
    assert str(info.value).startswith(f"{variable}: ")


def test_missing_handler_is_named() -> None:
    with pytest.raises(settings.SettingsError, match=r"^_HANDLER: required unless KFN_POOL=1$"):
        settings.load_settings({"AWS_LAMBDA_FUNCTION_NAME": "hello"})


def test_a_load_body_with_defaults() -> None:
    assert config.from_load_body(LOAD) == config.FunctionConfig(
        name="hello", namespace="default", handler="app.handler", code_dir="/code", timeout_seconds=3,
        memory_mib=128, concurrency=10, env={}, region="us-east-1", version="$LATEST")


def test_a_full_load_body() -> None:
    cfg = config.from_load_body({**LOAD, "namespace": "media", "timeoutSeconds": 30, "memoryMiB": 256,
                                 "concurrency": 2, "env": {"BUCKET": "b"}, "region": "eu-west-1",
                                 "version": "3"})
    assert (cfg.namespace, cfg.timeout_seconds, cfg.memory_mib, cfg.concurrency, cfg.env, cfg.region,
            cfg.version) == ("media", 30, 256, 2, {"BUCKET": "b"}, "eu-west-1", "3")
    assert cfg.qualified_name == "media/hello"


@pytest.mark.parametrize(("body", "message"), [
    ([], "body: must be a JSON object"),
    ({"handler": "app.handler", "codeDir": "/code"}, "name: required"),
    ({**LOAD, "handler": 3}, "handler: must be a string"),
    ({**LOAD, "codeDir": ""}, "codeDir: must not be empty"),
    ({**LOAD, "name": "Not A Label"}, "name: must be a DNS-1123 label"),
    ({**LOAD, "timeoutSeconds": 0}, "timeoutSeconds: must be between 1 and 900 (got 0)"),
    ({**LOAD, "timeoutSeconds": True}, "timeoutSeconds: must be an integer"),
    ({**LOAD, "memoryMiB": "128"}, "memoryMiB: must be an integer"),
    ({**LOAD, "concurrency": 1001}, "concurrency: must be between 1 and 1000 (got 1001)"),
    ({**LOAD, "env": {"A": 1}}, "env.A: must be a string"),
    ({**LOAD, "env": {"1A": "x"}}, "env.1A: must be letters"),
    ({**LOAD, "env": ["A=1"]}, "env: must be an object of strings"),
    ({**LOAD, "timeout": 3}, "timeout: unknown field"),
])
def test_invalid_load_bodies_name_the_field(body: object, message: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.from_load_body(body)
    assert str(info.value).startswith(message)


def test_a_provided_function_from_the_environment_needs_no_handler() -> None:
    s = settings.load_settings({"AWS_LAMBDA_FUNCTION_NAME": "hello", "KFN_RUNTIME_KIND": "provided",
                                "LAMBDA_TASK_ROOT": "/var/task"})
    assert s.function is not None
    assert (s.function.runtime, s.function.handler, s.function.code_dir) == ("provided", "", "/var/task")
    assert settings.load_settings({**FUNCTION, "KFN_RUNTIME_KIND": "provided.al2023"}).function.runtime == "provided"
    assert settings.load_settings({**FUNCTION, "KFN_RUNTIME_KIND": "python3.12"}).function.runtime == "python"
    with pytest.raises(settings.SettingsError, match=r"^KFN_RUNTIME_KIND: must be python, python3\.x, provided"):
        settings.load_settings({**FUNCTION, "KFN_RUNTIME_KIND": "java21"})


@pytest.mark.parametrize(("runtime", "handler"), [("provided", None), ("provided.al2", "bootstrap.anything"),
                                                   ("provided.al2023", None)])
def test_a_provided_load_body(runtime: str, handler: str | None) -> None:
    body = {"name": "hello", "codeDir": "/code", "runtime": runtime}
    if handler is not None:
        body["handler"] = handler
    cfg = config.from_load_body(body)
    assert (cfg.runtime, cfg.handler) == ("provided", handler or "")


@pytest.mark.parametrize(("body", "message"), [
    ({**LOAD, "runtime": "nodejs20.x"}, "runtime: must be python, python3.x, provided"),
    ({**LOAD, "runtime": 3}, "runtime: must be a string"),
    ({"name": "hello", "codeDir": "/code", "runtime": "python3.11"}, "handler: required"),
    ({"name": "hello", "codeDir": "/code", "runtime": "provided", "handler": 1}, "handler: must be a string"),
])
def test_invalid_runtimes_in_load_bodies(body: object, message: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.from_load_body(body)
    assert str(info.value).startswith(message)
