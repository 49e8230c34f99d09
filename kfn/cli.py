"""The ``kfn`` command: ``kfn dev`` serves a directory of functions, ``kfn invoke`` calls one."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import urllib.error
import urllib.request
from typing import Sequence

from kfn import manifests, names

__all__ = ["main"]


def _gateway_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment with the command line's --host, --port and --log-format laid over it."""
    env = dict(os.environ)
    for option, variable in (("host", "KFN_HOST"), ("port", "KFN_PORT"), ("log_format", "KFN_LOG_FORMAT")):
        value = getattr(args, option, None)
        if value is not None:
            env[variable] = str(value)
    return env


def _dev(args: argparse.Namespace) -> int:
    from kfn_gateway import dev, settings

    env = _gateway_env(args)
    try:
        gateway_settings = settings.load_settings(env)
    except settings.SettingsError as exc:
        print(f"kfn dev: {exc}", file=sys.stderr)
        return 2
    return dev.main(args.directory, gateway_settings)


def _validate(args: argparse.Namespace) -> int:
    try:
        manifest = manifests.load_dir(pathlib.Path(args.directory))
    except manifests.ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    for key in manifest.functions:
        print(f"Function {key}: valid")
    for key in manifest.triggers:
        print(f"Trigger {key}: valid")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    for label, value in (("function", args.function), ("namespace", args.namespace)):
        problem = names.dns1123_error(value)
        if problem:
            print(f"kfn invoke: {label} {value!r} {problem}", file=sys.stderr)
            return 2
    data = args.data
    if data is not None and data.startswith("@"):
        data = pathlib.Path(data[1:]).read_text(encoding="utf-8")
    url = f"{args.url.rstrip('/')}/fn/{args.namespace}/{args.function}"
    body = data.encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            sys.stdout.write(resp.read().decode("utf-8", "replace") + "\n")
            return 0
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        print(f"kfn invoke: HTTP {exc.code}: {text}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"kfn invoke: cannot reach {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1


def _top(args: argparse.Namespace) -> int:
    from kfn import top

    try:
        return top.run(args.url, args.interval, args.count)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"kfn top: cannot read {args.url}/metrics: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1


def _cluster_args(args: argparse.Namespace) -> dict[str, object]:
    """Where the API is: a kubeconfig if one is named, else the pod's service account when in a pod."""
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG") or None
    in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    return {"kubeconfig": kubeconfig, "in_cluster": in_cluster}


def _operator(args: argparse.Namespace) -> int:
    from kfn_operator import running, settings

    try:
        operator_settings = settings.load_settings(os.environ)
    except settings.SettingsError as exc:
        print(f"kfn operator: {exc}", file=sys.stderr)
        return 2
    return running.main(operator_settings, context_name=args.context, **_cluster_args(args))  # type: ignore[arg-type]


def _gateway(args: argparse.Namespace) -> int:
    from kfn_gateway import cluster, settings

    env = _gateway_env(args)
    try:
        gateway_settings = settings.load_settings(env)
        cluster_settings = cluster.load_cluster_settings(env)
    except settings.SettingsError as exc:
        print(f"kfn gateway: {exc}", file=sys.stderr)
        return 2
    return cluster.main(gateway_settings, cluster_settings, context=args.context,  # type: ignore[arg-type]
                        **_cluster_args(args))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kfn", description="Lambda-style functions on Kubernetes and on one machine.")
    sub = top.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="serve every Function and Trigger under a directory on one port")
    dev.add_argument("directory")
    dev.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=int, help="port to listen on (default 8080; 0 picks a free one)")
    dev.add_argument("--log-format", choices=("text", "json"),
                     help="gateway log format (default text; json adds a line per invocation)")
    dev.set_defaults(run=_dev)
    validate = sub.add_parser("validate", help="check every Function and Trigger under a directory")
    validate.add_argument("directory")
    validate.set_defaults(run=_validate)
    invoke = sub.add_parser("invoke", help="invoke a function through a running gateway")
    invoke.add_argument("function")
    invoke.add_argument("--namespace", "-n", default="default")
    invoke.add_argument("--data", "-d", help="request body (JSON), or @file")
    invoke.add_argument("--url", default=os.environ.get("KFN_URL", "http://127.0.0.1:8080"),
                        help="gateway URL (default $KFN_URL or http://127.0.0.1:8080)")
    invoke.add_argument("--timeout", type=float, default=960.0, help="seconds to wait for the answer")
    invoke.set_defaults(run=_invoke)
    watch = sub.add_parser("top", help="per-function invocations, errors, p99 and replicas of a running gateway")
    watch.add_argument("--url", default=os.environ.get("KFN_URL", "http://127.0.0.1:8080"),
                       help="gateway URL (default $KFN_URL or http://127.0.0.1:8080)")
    watch.add_argument("--interval", "-i", type=float, default=2.0, help="seconds between two screens")
    watch.add_argument("--count", "-c", type=int, help="screens to print before exiting (default: until Ctrl-C)")
    watch.set_defaults(run=_top)
    operator = sub.add_parser("operator", help="run the Kubernetes operator (Functions and Triggers → Deployments)")
    operator.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG, ~/.kube/config, "
                                               "or the pod's service account in a cluster)")
    operator.add_argument("--context", help="kubeconfig context (default: the current one)")
    operator.set_defaults(run=_operator)
    gateway = sub.add_parser("gateway", help="serve the gateway against a cluster (--backend kubernetes)")
    gateway.add_argument("--backend", choices=["kubernetes"], default="kubernetes",
                         help="where replicas come from (kfn dev runs the local backend)")
    gateway.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG, ~/.kube/config, "
                                              "or the pod's service account in a cluster)")
    gateway.add_argument("--context", help="kubeconfig context (default: the current one)")
    gateway.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a pod)")
    gateway.add_argument("--port", type=int, help="port to listen on (default 8080; 0 picks a free one)")
    gateway.set_defaults(run=_gateway)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
