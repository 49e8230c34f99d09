"""Initialising a function the way Lambda's Python runtime does: environment, task root, import.

Runs once per process, off the event loop (an import may take seconds). From then on the process
belongs to that function: its environment variables, ``sys.path`` and working directory are set
for good, as in a Lambda sandbox.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from kfn_runtime import config, context, errors

__all__ = ["Loaded", "load", "lambda_environment", "import_handler"]


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    handler: Callable[[Any, Any], Any]
    is_async: bool
    """``async def`` handlers run on the event loop; the others in a thread."""


def load(cfg: config.FunctionConfig, identity: context.Identity, environ: MutableMapping[str, str]) -> Loaded:
    """Prepare the process for ``cfg`` and import its handler; raises ``errors.InitError``."""
    environ.update(cfg.env)
    environ.update(lambda_environment(cfg, identity))
    if cfg.code_dir not in sys.path:
        sys.path.insert(0, cfg.code_dir)
    try:
        os.chdir(cfg.code_dir)
    except OSError:
        pass  # a missing code directory shows up below as Runtime.ImportModuleError
    importlib.invalidate_caches()  # the code may have been written after the directory was last listed
    return import_handler(cfg.handler)


def lambda_environment(cfg: config.FunctionConfig, identity: context.Identity) -> dict[str, str]:
    """The variables Lambda sets in a function's sandbox; they win over the function's own."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mib),
        "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
        "AWS_REGION": cfg.region,
        "AWS_DEFAULT_REGION": cfg.region,
        "LAMBDA_TASK_ROOT": cfg.code_dir,
        "_HANDLER": cfg.handler,
        "AWS_LAMBDA_LOG_GROUP_NAME": identity.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": identity.log_stream_name,
    }


def import_handler(spec: str) -> Loaded:
    """Resolve ``module.function``, with awslambdaric's error types and messages."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        raise errors.InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise errors.InitError("Runtime.BuiltInModuleConflict",
                               f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise errors.InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from None
    except SyntaxError as e:
        raise errors.InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}",
                               [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']) from None
    except (Exception, SystemExit) as e:
        raise errors.InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}",
                               errors.stack_trace(e.__traceback__)) from None
    try:
        handler = getattr(module, function_name)
    except AttributeError:
        raise errors.InitError("Runtime.HandlerNotFound",
                               f"Handler '{function_name}' missing on module '{module_name}'") from None
    call = inspect.getattr_static(type(handler), "__call__", None)  # an object with ``async def __call__``
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)
    return Loaded(handler=handler, is_async=is_async)
