"""Where the gateway spends its CPU on the warm path: py-spy samples of ``kfn dev examples/hello`` under wrk.

For each ``--connections`` setting, wrk drives ``/fn/default/hello`` while py-spy samples the
gateway process as folded stacks (``bench/out/gateway-c<N>.folded``, summed up here); the
busiest setting is also recorded as a flame graph (``bench/out/gateway.svg``). Each sample is
put in the category of the innermost frame that belongs to one (metrics, JSON, the aiohttp
client, ...).

py-spy skips idle samples, but a thread that is runnable and waiting for a core still counts.
With more busy processes than cores (wrk, gateway, worker on 2 cores), the gateway often loses
its core inside the ``send()`` that wakes its peer, so the samples whose innermost frame is
aiohttp's socket write are mostly time off-CPU: the gateway's system CPU (all syscalls, from
/proc) is printed next to them to show it. The other categories are turned into CPU µs per
request: their share of the remaining samples times the gateway's CPU per request (/proc, same
seconds).
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import harness

RATE = 250
"""py-spy samples per second."""
SEND = "send() to wrk / the worker (aiohttp http_writer)"

# (category, substring of a frame's "function (file:line)"), innermost match wins.
_RULES: tuple[tuple[str, str], ...] = (
    ("metrics (prometheus_client)", "prometheus_client/"),
    ("logging", "logging/"),
    ("uuid4 (request id)", "uuid.py"),
    ("JSON encode/decode", "json/"),
    (SEND, "aiohttp/http_writer.py"),
    ("aiohttp client: build request, parse response", "aiohttp/client"),
    ("aiohttp client: connection pool", "aiohttp/connector.py"),
    ("event building (events.url_event)", "kfn_gateway/events.py"),
    ("response mapping (responses.url_response)", "kfn_gateway/responses.py"),
    ("forward (backends/local.py)", "kfn_gateway/backends/"),
    ("invoke, dispatch (invoking, dispatching)", "kfn_gateway/invoking.py"),
    ("invoke, dispatch (invoking, dispatching)", "kfn_gateway/dispatching.py"),
    ("gateway handler (app, middlewares)", "kfn_gateway/"),
    ("aiohttp server: parse, route, build response", "aiohttp/"),
    ("multidict/yarl", "multidict/"),
    ("multidict/yarl", "yarl/"),
    ("event loop, socket reads (uvloop, C)", "asyncio/runners.py"),
    ("asyncio (timeouts, tasks)", "asyncio/"),
)

# Frames whose inclusive share is worth a line of its own.
_INCLUSIVE = ("_invoke_http (kfn_gateway/app.py", "url_event (kfn_gateway/events.py",
              "Invoker.invoke (kfn_gateway/invoking.py", "LocalBackend.forward (kfn_gateway/backends/local.py",
              "ClientSession._request (aiohttp/client.py", "url_response (kfn_gateway/responses.py",
              "Metrics.observe (kfn_gateway/metrics.py", "RequestHandler.finish_response (aiohttp/web_protocol.py",
              "RequestHandler.data_received (aiohttp/web_protocol.py",
              "ResponseHandler.data_received (aiohttp/client_proto.py")


def read_folded(path: pathlib.Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames.strip():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def categorise(frames: list[str]) -> str:
    for frame in reversed(frames):
        for category, needle in _RULES:
            if needle in frame:
                return category
    leaf = frames[-1]
    return f"other: {leaf[leaf.find('(') + 1:leaf.rfind(':')]}"


def summarise(stacks: list[tuple[list[str], int]], cpu_us: float) -> dict[str, Any]:
    """Sample counts by category and by inclusive frame, and CPU µs per request for each."""
    categories: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        category = categorise(frames)
        categories[category] += n
        if category == SEND:
            continue
        for needle in _INCLUSIVE:
            if any(needle in f for f in frames):
                inclusive[needle.split(" (")[0]] += n
    total = sum(categories.values())
    on_cpu = total - categories[SEND]

    def row(n: int) -> dict[str, float]:
        return {"share": round(n / total, 4), "cpu_us": round(n / on_cpu * cpu_us)}

    return {"samples": total, "send_share": round(categories[SEND] / total, 4),
            "categories": {k: row(n) for k, n in categories.most_common() if k != SEND},
            "inclusive": {k: row(n) for k, n in inclusive.most_common()}}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(pathlib.Path(harness.PYTHON).parent / "py-spy")
    if not pathlib.Path(found).exists():
        raise SystemExit("py-spy is not installed (bench/run installs it into .venv)")
    return found


def record(pid: int, seconds: float, fmt: str, output: pathlib.Path) -> None:
    subprocess.run([py_spy(), "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", str(RATE),
                    "--nonblocking", "--format", fmt, "-o", str(output)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def served(port: int) -> float:
    return harness.metric(port, "kfn_function_invocations_total", {"function": "hello"}) or 0.0


def profile(port: int, pid: int, connections: int, seconds: float, svg: bool) -> dict[str, Any]:
    """Record the gateway under wrk at ``connections``; the summary and the CPU per request."""
    url = f"http://127.0.0.1:{port}{harness.HELLO_PATH}"
    folded = harness.out_file(f"gateway-c{connections}.folded")
    results: list[harness.WrkResult] = []
    length = seconds + (seconds / 2 + 1 if svg else 0) + 2
    load = threading.Thread(target=lambda: results.append(harness.wrk(
        url, harness.HELLO_BODY, connections=connections, seconds=length, log=f"profile-c{connections}")))
    load.start()
    try:
        time.sleep(0.5)
        (user, system), before = harness.cpu_split(pid), served(port)
        record(pid, seconds, "raw", folded)
        (user_after, system_after), requests = harness.cpu_split(pid), served(port) - before
        if svg:
            record(pid, seconds / 2, "flamegraph", harness.out_file("gateway.svg"))
    finally:
        load.join()
    cpu_us = (user_after - user + system_after - system) / requests * 1e6
    summary = summarise(read_folded(folded), cpu_us)
    return {"connections": connections, "rps": round(requests / seconds), "cpu_us_per_req": round(cpu_us),
            "sys_us_per_req": round((system_after - system) / requests * 1e6),
            "non_idle_us_per_req": round(summary["samples"] / RATE / requests * 1e6),
            "wrk_errors": results[0].errors, **summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each py-spy recording")
    parser.add_argument("--connections", default="1,10", help="wrk connections of each profile, comma-separated")
    args = parser.parse_args()
    settings = [int(c) for c in args.connections.split(",")]

    with harness.kfn_dev(harness.HELLO_DIR, "profile-dev.log") as (dev, port):
        harness.wrk(f"http://127.0.0.1:{port}{harness.HELLO_PATH}", harness.HELLO_BODY,
                    connections=max(settings), seconds=2, log="profile-warmup")
        profiles = [profile(port, dev.pid, c, args.seconds, c == max(settings)) for c in settings]
    harness.save_json("profile_gateway.json", {"machine": harness.machine(), "profiles": profiles})

    width = 58

    def line(label: str, cells: list[str]) -> None:
        print(f"{label:<{width}}" + "".join(f"{c:>18}" for c in cells))

    print(f"gateway profile: py-spy, {args.seconds:g}s per setting, {RATE} samples/s")
    line("", [f"c{p['connections']}: {p['rps']} rps" for p in profiles])
    line("gateway CPU per request (/proc, user+sys)", [f"{p['cpu_us_per_req']} µs" for p in profiles])
    line("  of which system (every syscall)", [f"{p['sys_us_per_req']} µs" for p in profiles])
    line("gateway non-idle time per request (py-spy)", [f"{p['non_idle_us_per_req']} µs" for p in profiles])
    line(f"{SEND}, off-CPU", [f"{p['send_share']:.1%}" for p in profiles])
    for title, key in (("CPU by category (innermost matching frame)", "categories"),
                       ("CPU by frame anywhere on the stack", "inclusive")):
        print(f"\n{title}: share of all samples, CPU µs per request")
        for name in dict.fromkeys(k for p in profiles for k in p[key]):
            cells = [p[key].get(name, {"share": 0.0, "cpu_us": 0}) for p in profiles]
            line(f"  {name}", [f"{c['share']:.1%} {c['cpu_us']:>4} µs" for c in cells])
    print(f"\nflame graph (c{max(settings)}): bench/out/gateway.svg; folded stacks: bench/out/gateway-c*.folded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
