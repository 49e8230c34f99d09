"""Cold start: scale-from-zero cycles of examples/hello through ``kfn dev``, timed by the client.

A bench-only copy of the hello Function with ``scaleToZeroAfterSeconds: 1`` runs under ``kfn
dev`` with a fast autoscaler (``KFN_AUTOSCALE_INTERVAL=0.2``, ``KFN_STABLE_WINDOW=0``). Each
cycle waits until ``kfn_function_replicas_ready{function="hello"}`` is 0 and the gateway has
only its idle pool workers left, measures for 0.25 s how busy other processes keep the machine,
then times one request end to end on a fresh connection. After the cycles, once the pool has
refilled, the same request is timed warm. The gateway's own
``kfn_function_cold_start_duration_seconds`` is read around every cold request. The first
request after ``kfn dev`` starts finds the pool still booting: it has a line of its own.

For reference: the same cycles with no warm pool (``KFN_WARM_POOL=0``), and a cold start
without the pool step by step, on a ``python -m kfn_runtime`` this script starts: exec to
ready, ``POST /load``, first invocation. Targets: cold p50 ≤ 50 ms, p99 ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import yaml

import harness

P50_TARGET_MS = 50.0
P99_TARGET_MS = 150.0
WARM_REQUESTS = 30
QUIET_PCT = 25.0
"""A cycle counts as quiet when other processes used less than this (% of one core) just before it."""
REFILL_PAUSE = 0.6
"""Seconds between the last cold request and the warm ones: the pool's refill (a Python start) is over."""
HELLO = {"function": "hello"}
COLD_START = "kfn_function_cold_start_duration_seconds"


def bench_copy(target: pathlib.Path) -> pathlib.Path:
    """examples/hello's Function (not its Trigger), scaled to zero after one idle second."""
    docs = yaml.safe_load_all((harness.HELLO_DIR / "function.yaml").read_text())
    fn = next(doc for doc in docs if doc and doc.get("kind") == "Function")
    fn["spec"].setdefault("scaling", {})["scaleToZeroAfterSeconds"] = 1
    fn["spec"]["code"] = {"path": "."}
    shutil.copy(harness.HELLO_DIR / "app.py", target / "app.py")
    (target / "function.yaml").write_text(yaml.safe_dump(fn, sort_keys=False))
    return target


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g}s for {what}")
        time.sleep(0.02)


def timed_request(port: int) -> float:
    began = time.perf_counter()
    status, body = harness.request(port, "POST", harness.HELLO_PATH, harness.HELLO_BODY,
                                   {"Content-Type": "application/json"})
    elapsed = time.perf_counter() - began
    if status != 200 or b"Hello, kfn!" not in body:
        raise RuntimeError(f"unexpected answer {status}: {body[:200]!r}")
    return elapsed * 1000


def cycles(count: int, pool: int, log: str) -> dict[str, list[float]]:
    """``count`` scale-from-zero cycles: client cold, client warm and gateway cold-start ms, and the
    load other processes put on the machine just before each cold request (% of one core)."""
    first: list[float] = []
    cold: list[float] = []
    other: list[float] = []
    warm: list[float] = []
    server: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kfn-bench-") as tmp, harness.kfn_dev(
            bench_copy(pathlib.Path(tmp)), log,
            {"KFN_AUTOSCALE_INTERVAL": "0.2", "KFN_STABLE_WINDOW": "0", "KFN_WARM_POOL": str(pool)}) as (dev, port):
        first.append(timed_request(port))
        for _ in range(count):
            wait_until("scale to zero", lambda: not harness.metric(port, "kfn_function_replicas_ready", HELLO))
            wait_until("idle workers only", lambda: len(harness.children(dev.pid)) == pool)
            sum_before = harness.metric(port, f"{COLD_START}_sum", HELLO) or 0.0
            count_before = harness.metric(port, f"{COLD_START}_count", HELLO) or 0.0
            other.append(round(harness.background_load(0.25)))
            cold.append(timed_request(port))
            sum_after = harness.metric(port, f"{COLD_START}_sum", HELLO) or 0.0
            if (harness.metric(port, f"{COLD_START}_count", HELLO) or 0.0) == count_before + 1:
                server.append((sum_after - sum_before) * 1000)
        time.sleep(REFILL_PAUSE)
        warm.extend(timed_request(port) for _ in range(WARM_REQUESTS))
    return {"first_ms": first, "cold_ms": cold, "other_pct": other, "warm_ms": warm,
            "gateway_cold_start_ms": server}


LOAD_BODY = json.dumps({"name": "hello", "namespace": "default", "handler": "app.handler",
                        "codeDir": str(harness.HELLO_DIR), "timeoutSeconds": 10, "memoryMiB": 128,
                        "concurrency": 10, "env": {"GREETING": "Hello"}}).encode()
POOL_IDLE = 0.5
"""Seconds a fresh pool worker idles before ``/load``, as a pooled one has idled in the pool."""


def fresh_runtimes(count: int) -> dict[str, list[float]]:
    """A cold start without the pool, step by step, on ``python -m kfn_runtime`` started here:
    exec to ready (pool mode), ``POST /load`` of hello, then its first invocation (ms each)."""
    steps: dict[str, list[float]] = {"ready_ms": [], "load_ms": [], "first_invoke_ms": []}
    for _ in range(count):
        proc, port, seconds = harness.start_runtime({"KFN_POOL": "1", "KFN_RUNTIME_HOST": "127.0.0.1",
                                                     "KFN_RUNTIME_PORT": "0"}, None)
        try:
            steps["ready_ms"].append(seconds * 1000)
            time.sleep(POOL_IDLE)
            for step, path, body in (("load_ms", "/load", LOAD_BODY),
                                     ("first_invoke_ms", harness.INVOKE_PATH, harness.HELLO_BODY)):
                began = time.perf_counter()
                status, answer = harness.request(port, "POST", path, body, {"Content-Type": "application/json"})
                steps[step].append((time.perf_counter() - began) * 1000)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
        finally:
            harness.stop(proc)
    return steps


def stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(harness.percentile(values, 50), 2),
            "p99": round(harness.percentile(values, 99), 2), "max": round(max(values), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=30, help="scale-from-zero cycles with the warm pool")
    parser.add_argument("--no-pool-cycles", type=int, default=5, help="the same with KFN_WARM_POOL=0")
    parser.add_argument("--fresh", type=int, default=10, help="fresh runtime starts timed to ready")
    args = parser.parse_args()

    fresh = fresh_runtimes(args.fresh)
    pooled = cycles(args.cycles, 2, "coldstart-dev.log")
    unpooled = cycles(args.no_pool_cycles, 0, "coldstart-nopool-dev.log") if args.no_pool_cycles else {}
    quiet = [ms for ms, load in zip(pooled["cold_ms"], pooled["other_pct"]) if load < QUIET_PCT]
    rows = {
        "cold request, warm pool (client)": stats(pooled["cold_ms"]),
        f"  the same, quiet cycles only (other load < {QUIET_PCT:g}%)": stats(quiet),
        "cold start, warm pool (gateway histogram)": stats(pooled["gateway_cold_start_ms"]),
        "warm request, same run (client)": stats(pooled["warm_ms"]),
        "cold request, no pool (client)": stats(unpooled.get("cold_ms", [])),
        "first request after kfn dev starts (client)": stats(pooled["first_ms"]),
        "fresh python -m kfn_runtime to ready (pool mode)": stats(fresh["ready_ms"]),
        "  then POST /load of hello (client)": stats(fresh["load_ms"]),
        "  then its first invocation (client)": stats(fresh["first_invoke_ms"]),
    }
    cold = rows["cold request, warm pool (client)"]
    summary: dict[str, Any] = {
        "p50_target_met": cold["p50"] <= P50_TARGET_MS, "p99_target_met": cold["p99"] <= P99_TARGET_MS,
        "quiet_cycles": len(quiet), "other_load_median_pct": harness.percentile(pooled["other_pct"], 50),
        "cold_over_warm_p50": round(cold["p50"] / rows["warm request, same run (client)"]["p50"], 1),
        "fresh_runtime_over_cold_p50": round(
            rows["fresh python -m kfn_runtime to ready (pool mode)"]["p50"] / cold["p50"], 1),
    }
    if unpooled:
        summary["no_pool_over_pool_p50"] = round(rows["cold request, no pool (client)"]["p50"] / cold["p50"], 1)
    harness.save_json("coldstart.json", {"machine": harness.machine(), "rows": rows, "summary": summary,
                                         "samples": {"pooled": pooled, "unpooled": unpooled, "fresh": fresh}})

    print("cold start: examples/hello copy, scaleToZeroAfterSeconds 1, requests on fresh connections")
    print(f"{'':<52}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, row in rows.items():
        if row["n"]:
            print(f"{name:<52}{row['n']:>4}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['max']:>9.1f}")
    ok = {True: "met", False: "MISSED"}
    print(f"cold p50 target ≤ {P50_TARGET_MS:g} ms: {ok[summary['p50_target_met']]}; "
          f"p99 target ≤ {P99_TARGET_MS:g} ms: {ok[summary['p99_target_met']]} (all {args.cycles} cycles; "
          f"{len(quiet)} were quiet, median other load {summary['other_load_median_pct']:g}% of one core)")
    print(f"cold/warm p50: {summary['cold_over_warm_p50']}x; fresh runtime/pooled cold p50: "
          f"{summary['fresh_runtime_over_cold_p50']}x"
          + (f"; no pool/pool cold p50: {summary['no_pool_over_pool_p50']}x" if unpooled else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
