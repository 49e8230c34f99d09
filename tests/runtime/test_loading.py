"""Initialising a function inside the test process: environment, task root, import, init errors.

Real: handler modules written to tmp_path and imported by importlib. The environment is a plain
dict (the runtime is given its environment), and the ``process_state`` fixture undoes the
working directory, ``sys.path`` and module changes a load makes.
Asserted: Lambda's variables, and awslambdaric's init error types and messages.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import sys

import pytest

from kfn_runtime import config, context, errors, loading

pytestmark = pytest.mark.usefixtures("process_state")


def write(directory: pathlib.Path, module: str, source: str) -> None:
    (directory / f"{module}.py").write_text(source)


def load(tmp_path: pathlib.Path, handler: str, environ: dict[str, str] | None = None) -> loading.Loaded:
    cfg = config.FunctionConfig(name="hello", namespace="media", handler=handler, code_dir=str(tmp_path),
                                memory_mib=256, env={"BUCKET": "b"}, region="eu-west-1")
    return loading.load(cfg, context.identify(cfg), {} if environ is None else environ)


def init_error(tmp_path: pathlib.Path, handler: str) -> errors.InitError:
    with pytest.raises(errors.InitError) as info:
        load(tmp_path, handler)
    return info.value


def test_load_prepares_the_process_as_lambda_does(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_env", "def handler(event, context):\n    return 1\n")
    environ: dict[str, str] = {"BUCKET": "old", "AWS_REGION": "from-the-function"}
    loaded = load(tmp_path, "fn_env.handler", environ)
    assert loaded.handler({}, None) == 1 and not loaded.is_async
    assert sys.path[0] == str(tmp_path)
    assert os.getcwd() == str(tmp_path)
    stream = environ.pop("AWS_LAMBDA_LOG_STREAM_NAME")
    assert stream.startswith(datetime.datetime.now(datetime.UTC).strftime("%Y/%m/%d/[$LATEST]"))
    assert environ == {
        "BUCKET": "b", "AWS_LAMBDA_FUNCTION_NAME": "hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
        "LAMBDA_TASK_ROOT": str(tmp_path), "_HANDLER": "fn_env.handler",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello"}


def test_async_handlers_are_recognised(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_async", "async def handler(event, context):\n    return 1\n\n"
                                "class H:\n    async def __call__(self, event, context):\n        return 1\n\n"
                                "obj = H()\n")
    assert load(tmp_path, "fn_async.handler").is_async
    assert load(tmp_path, "fn_async.obj").is_async


def test_handlers_in_subdirectories(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "__init__", "")
    write(tmp_path / "pkg", "fn_nested", "def handler(event, context):\n    return 2\n")
    assert load(tmp_path, "pkg/fn_nested.handler").handler({}, None) == 2
    assert load(tmp_path, "pkg.fn_nested.handler").handler({}, None) == 2


def test_a_missing_module(tmp_path: pathlib.Path) -> None:
    e = init_error(tmp_path, "fn_nowhere.handler")
    assert e.to_object() == {"errorMessage": "Unable to import module 'fn_nowhere': No module named 'fn_nowhere'",
                             "errorType": "Runtime.ImportModuleError", "stackTrace": []}


def test_a_module_with_a_missing_dependency(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_dep", "import kfn_no_such_dependency\n")
    e = init_error(tmp_path, "fn_dep.handler")
    assert (e.error_type, e.message) == ("Runtime.ImportModuleError",
                                         "Unable to import module 'fn_dep': No module named 'kfn_no_such_dependency'")


def test_a_module_raising_on_import(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_raises", "\nraise RuntimeError('BUCKET is not set')\n")
    e = init_error(tmp_path, "fn_raises.handler")
    assert (e.error_type, e.message) == ("Runtime.ImportModuleError",
                                         "Unable to import module 'fn_raises': BUCKET is not set")
    assert e.trace == [f'  File "{tmp_path}/fn_raises.py", line 2, in <module>\n'
                       f"    raise RuntimeError('BUCKET is not set')\n"]


def test_a_missing_function(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_nope", "def handler(event, context):\n    return 1\n")
    e = init_error(tmp_path, "fn_nope.nope")
    assert (e.error_type, e.message) == ("Runtime.HandlerNotFound", "Handler 'nope' missing on module 'fn_nope'")


def test_a_malformed_handler(tmp_path: pathlib.Path) -> None:
    e = init_error(tmp_path, "app")
    assert (e.error_type, e.message) == ("Runtime.MalformedHandlerName",
                                         "Bad handler 'app': not enough values to unpack (expected 2, got 1)")


def test_a_syntax_error(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "fn_syntax", "def handler(event, context)\n    return 1\n")
    e = init_error(tmp_path, "fn_syntax.handler")
    assert e.error_type == "Runtime.UserCodeSyntaxError"
    assert e.message.startswith("Syntax error in module 'fn_syntax': expected ':' (fn_syntax.py, line 1)")
    assert e.trace[0].startswith(f'  File "{tmp_path}/fn_syntax.py" Line 1\n    def handler')


def test_a_builtin_module_is_refused(tmp_path: pathlib.Path) -> None:
    e = init_error(tmp_path, "sys.exit")
    assert (e.error_type, e.message) == ("Runtime.BuiltInModuleConflict",
                                         "Cannot use built-in module sys as a handler module")
