"""``kfn dev DIR``: the whole data plane on one port, with the ``local`` backend.

Reads every Function and Trigger under DIR with the same parser as the operator, refuses to
serve anything if one object is invalid, writes inline code to a private directory, then serves
the gateway until SIGINT/SIGTERM and stops every worker it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import pathlib
import shutil
import sys
import tempfile
from typing import Mapping

import prometheus_client as prom
from aiohttp import web

from kfn import api, manifests
from kfn_gateway import app as gateway_app
from kfn_gateway import event_routing, listening, logs, queue_engines, sqs_source
from kfn_gateway.async_dispatch import AsyncDispatcher, AsyncSettings
from kfn_gateway.autoscaling import Autoscaler
from kfn_gateway.backends.local import LocalBackend
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.event_routing import EventRouter
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.routing import RouteTable
from kfn_gateway.settings import GatewaySettings
from kfn_gateway.sqlite_queue import QueueInUse

__all__ = ["check_supported", "prepare_code", "serve", "main"]

logger = logging.getLogger(__name__)


def check_supported(manifest: manifests.Manifest) -> list[manifests.Problem]:
    """What a valid manifest asks for that ``kfn dev`` cannot honour (refused, never ignored)."""
    problems = []
    for fn in manifest.functions.values():
        where = f"Function/{fn.name}"
        spec = fn.spec
        if spec.code.path is None and spec.code.inline is None:
            problems.append(manifests.Problem("", where, "spec.code: kfn dev runs code.path or code.inline; "
                                              "code.image and code.configMap need a cluster"))
        try:
            resolve_env(fn, manifest)
            resolve_tokens(fn, manifest)
        except LookupError as exc:
            problems.append(manifests.Problem("", where, str(exc)))
        if spec.code.path is not None:
            code_dir = (manifest.sources[fn.key] / spec.code.path).resolve()
            if not code_dir.is_dir():
                problems.append(manifests.Problem("", where, f"spec.code.path: {code_dir} is not a directory"))
    for trigger in manifest.triggers.values():
        s3 = trigger.spec.s3
        if s3 is not None and s3.source is not None and s3.source.sqs.credentials_secret is not None:
            problems.append(manifests.Problem("", f"Trigger/{trigger.name}", "spec.s3.source.sqs.credentialsSecret: "
                                              "kfn dev reads AWS credentials from its environment (AWS_ACCESS_KEY_ID, "
                                              "AWS_SECRET_ACCESS_KEY or AWS_PROFILE); remove the field"))
        if s3 is not None and s3.source is not None and importlib.util.find_spec("boto3") is None:
            problems.append(manifests.Problem("", f"Trigger/{trigger.name}", "spec.s3.source.sqs: polling SQS "
                                              "needs boto3 (pip install boto3)"))
    return problems


def resolve_env(fn: api.Function, manifest: manifests.Manifest) -> dict[str, str]:
    """The function's environment with ``valueFrom`` read from the directory's v1 Secrets and
    ConfigMaps; LookupError names the missing reference."""
    env: dict[str, str] = {}
    for i, var in enumerate(fn.spec.env):
        if var.value_from is None:
            env[var.name] = var.value or ""
            continue
        ref = var.value_from.secret_key_ref or var.value_from.config_map_key_ref
        assert ref is not None
        kind, table, field = (("Secret", manifest.secrets, "secretKeyRef") if var.value_from.secret_key_ref
                              else ("ConfigMap", manifest.config_maps, "configMapKeyRef"))
        data = table.get(f"{fn.namespace}/{ref.name}")
        if data is None or ref.key not in data:
            raise LookupError(f"spec.env[{i}].valueFrom.{field}: no {kind} {ref.name} with key {ref.key} in "
                              f"namespace {fn.namespace} (kfn dev reads v1 {kind}s from the directory)")
        env[var.name] = data[ref.key]
    return env


def resolve_tokens(fn: api.Function, manifest: manifests.Manifest) -> frozenset[str]:
    """The bearer tokens of an ``auth: token`` function: every value of its Secret."""
    if fn.spec.auth.type != "token":
        return frozenset()
    name = fn.spec.auth.secret_name
    tokens = frozenset(v for v in manifest.secrets.get(f"{fn.namespace}/{name}", {}).values() if v)
    if not tokens:
        raise LookupError(f"spec.auth.secretName: no Secret {name} with a non-empty value in namespace "
                          f"{fn.namespace} (kfn dev reads v1 Secrets from the directory)")
    return tokens


BOOTSTRAP = "bootstrap"
"""The file a provided runtime's ``code.inline`` is written to: the runtime itself."""


def _module_file(handler: str) -> pathlib.PurePath:
    module = handler.rsplit(".", 1)[0]
    return pathlib.PurePath(*module.split(".")).with_suffix(".py")


def prepare_code(manifest: manifests.Manifest, workdir: pathlib.Path) -> dict[str, str]:
    """The code directory of every function: ``code.path`` resolved, ``code.inline`` written out."""
    dirs: dict[str, str] = {}
    for key, fn in manifest.functions.items():
        code = fn.spec.code
        if code.path is not None:
            dirs[key] = str((manifest.sources[key] / code.path).resolve())
        elif code.inline is not None and not fn.spec.is_python:
            target = workdir / fn.namespace / fn.name
            target.mkdir(parents=True, exist_ok=True)
            (target / BOOTSTRAP).write_text(code.inline, encoding="utf-8")
            (target / BOOTSTRAP).chmod(0o755)
            dirs[key] = str(target)
        elif code.inline is not None and fn.spec.handler is not None:
            target = workdir / fn.namespace / fn.name
            module = target / _module_file(fn.spec.handler)
            module.parent.mkdir(parents=True, exist_ok=True)
            module.write_text(code.inline, encoding="utf-8")
            dirs[key] = str(target)
    return dirs


async def serve(manifest: manifests.Manifest, settings: GatewaySettings, code_dirs: Mapping[str, str],
                stop: asyncio.Event) -> None:
    metrics = Metrics(prom.CollectorRegistry(auto_describe=True))
    states = {key: FunctionState(fn, code_dirs.get(key), env=resolve_env(fn, manifest),
                                 tokens=resolve_tokens(fn, manifest))
              for key, fn in manifest.functions.items()}
    for fn in manifest.functions.values():
        triggers = ["url", "invoke", "destination"] + [
            t.name for t in manifest.triggers.values() if t.spec.function == fn.name and t.namespace == fn.namespace]
        metrics.describe_function(fn.namespace, fn.name, triggers, fn.spec.timeout_seconds)
    backend = LocalBackend(settings, metrics)
    invoker = Invoker(settings, backend, metrics, states)
    autoscaler = Autoscaler(settings, backend, metrics, states)
    queue = queue_engines.make_queue(settings, exclusive=True)
    dispatcher = AsyncDispatcher(
        AsyncSettings(retry_base=settings.async_retry_base, retry_max=settings.async_retry_max),
        queue, invoker, metrics, states)
    event_router = EventRouter(event_routing.pushed(manifest.triggers.values()), states, dispatcher, invoker, metrics)
    application = gateway_app.build_app(
        settings=settings, invoker=invoker, metrics_=metrics, routes=RouteTable(manifest.triggers.values()),
        event_router=event_router, dispatcher=dispatcher)
    await queue.open()  # first: a queue held by another gateway stops us before anything starts
    runner = web.AppRunner(application, access_log=None, handle_signals=False)
    await runner.setup()
    await backend.start()
    dispatcher.start()
    scaler = asyncio.get_running_loop().create_task(autoscaler.run())
    pollers = sqs_source.PollerSet(lambda triggers: EventRouter(triggers, states, dispatcher, invoker, metrics))
    pollers.update(manifest.triggers.values())
    try:
        await backend.ready()  # listen once a first request is served fast, and say so only then
        print(f"kfn gateway on {await listening.listen(runner, settings)}", flush=True)
        for fn in manifest.functions.values():
            print(f"  {fn.key}  ANY /fn/{fn.namespace}/{fn.name}", flush=True)
        for trig in manifest.triggers.values():
            if trig.spec.http is not None:
                methods = ",".join(trig.spec.http.methods) or "ANY"
                print(f"  {trig.namespace}/{trig.spec.function}  {methods} {trig.spec.http.path}"
                      f"  (Trigger/{trig.name})", flush=True)
            elif trig.spec.s3 is not None:
                via = (f"SQS {trig.spec.s3.source.sqs.queue_url}" if trig.spec.s3.source is not None
                       else "POST /events/s3, /events/sns")
                print(f"  {trig.namespace}/{trig.spec.function}  s3://{trig.spec.s3.bucket} "
                      f"{','.join(trig.spec.s3.events)}  (Trigger/{trig.name}, {via})", flush=True)
        if any(t.spec.s3 is not None for t in manifest.triggers.values()) and not settings.s3_webhook_token:
            logger.warning("KFN_S3_WEBHOOK_TOKEN is not set: /events/s3 refuses every notification")
        await stop.wait()
    finally:
        await pollers.close()
        scaler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scaler
        await runner.cleanup()
        await dispatcher.stop()
        await backend.close()
        await queue.close()


def main(directory: str, settings: GatewaySettings) -> int:
    """Run ``kfn dev``; returns the process exit code (2 when the manifests cannot be served)."""
    logs.configure(settings.log_format)
    try:
        manifest = manifests.load_dir(pathlib.Path(directory))
    except manifests.ManifestError as exc:
        print(f"kfn dev: {directory} cannot be served:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    problems = check_supported(manifest)
    if problems:
        print(f"kfn dev: {directory} cannot be served:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="kfn-dev-"))
    try:
        code_dirs = prepare_code(manifest, workdir)
        return _run(manifest, settings, code_dirs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(manifest: manifests.Manifest, settings: GatewaySettings, code_dirs: Mapping[str, str]) -> int:
    async def run() -> int:
        try:
            await serve(manifest, settings, code_dirs, listening.stop_on_signals())
        except QueueInUse as exc:
            print(f"kfn dev: {exc}", file=sys.stderr)
            return 1
        except listening.CannotListen as exc:
            print(f"kfn dev: {exc} (pass --port 0 for any free port)", file=sys.stderr)
            return 1
        return 0

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(run())
    return uvloop.run(run())
