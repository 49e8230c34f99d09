"""Warm path: what the gateway hop costs next to invoking the same runtime worker directly.

Both paths serve ``examples/hello`` from one ``kfn_runtime`` worker process with the same
settings (concurrency 10, the Function's ``perReplica``) and are driven by the same client,
``wrk`` with one thread: one connection for latency, ``--connections`` (default 10, so the
gateway never needs a second replica) for throughput. *direct* POSTs the Function URL event the
gateway would build straight to the worker's invoke endpoint; *gateway* POSTs ``{"name":"kfn"}``
to ``/fn/default/hello`` of ``kfn dev examples/hello`` (only the function under test, so other
examples can neither add work nor keep the gateway from starting).

Every run records the CPU each process spent per request and the CPU the rest of the machine
used meanwhile ("other": unrelated processes, interrupts), because on a shared machine that
load changes every number. The runs alternate direct, gateway for ``--rounds`` rounds; for
each setting the table shows, of the rounds whose pair of runs saw the least other load (within
5 points), the one with the median ratio (or added p50 at one connection), and the ratios come
from that pair (all rounds are in ``bench/out/warm.json``). Targets:
gateway/direct throughput ≥ 0.60, added p50 latency ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

import harness
from kfn_gateway import events

RATIO_TARGET = 0.60
ADDED_P50_TARGET_MS = 1.0


def direct_event(gateway_port: int) -> bytes:
    """The event the gateway sends for wrk's request (same headers, host and body)."""
    host = f"127.0.0.1:{gateway_port}"
    req = events.HttpRequest(
        method="POST", path=harness.HELLO_PATH, query_string="",
        headers=[("Host", host), ("Content-Length", str(len(harness.HELLO_BODY))),
                 ("Content-Type", "application/json")],
        body=harness.HELLO_BODY, source_ip="127.0.0.1", host=host)
    return json.dumps(events.url_event(req, str(uuid.uuid4())), separators=(",", ":")).encode()


class Meters:
    """CPU counters of the processes under test, read before and after each run."""

    def __init__(self, gateway: int, worker: int) -> None:
        self.gateway = gateway
        self.worker = worker

    def read(self) -> dict[str, float]:
        user, system = harness.cpu_split(self.gateway)
        busy, steal = harness.machine_cpu()
        return {"gateway_user": user, "gateway_sys": system,
                "gateway_workers": harness.tree_cpu_seconds(self.gateway) - user - system,
                "direct_worker": harness.cpu_seconds(self.worker), "machine": busy, "steal": steal}

    def measure(self, run: Callable[[], harness.WrkResult]) -> dict[str, Any]:
        """A wrk run plus CPU µs per request of each process, and the machine's other CPU use (%)."""
        before = self.read()
        result = run()
        spent = {k: v - before[k] for k, v in self.read().items()}
        n = result.requests
        ours = result.client_cpu_s + sum(spent[k] for k in
                                         ("gateway_user", "gateway_sys", "gateway_workers", "direct_worker"))
        return {**result.__dict__,
                "wrk_us": round(result.client_cpu_s / n * 1e6),
                "gateway_us": round((spent["gateway_user"] + spent["gateway_sys"]) / n * 1e6),
                "gateway_sys_us": round(spent["gateway_sys"] / n * 1e6),
                "worker_us": round(max(spent["gateway_workers"], spent["direct_worker"]) / n * 1e6),
                "other_cpu_pct": round(max(0.0, spent["machine"] - ours) / result.seconds * 100),
                "steal_pct": round(spent["steal"] / result.seconds * 100)}


def representative(direct: list[dict[str, Any]], gateway: list[dict[str, Any]],
                   measure: Callable[[dict[str, Any], dict[str, Any]], float]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round (a direct and a gateway run) to report: among the rounds the rest of the machine
    disturbed least (within 5 points of the quietest), the one whose ``measure`` is the median, so
    that neither a lucky nor an unlucky round of equally quiet ones stands for the run."""
    other = [d["other_cpu_pct"] + g["other_cpu_pct"] for d, g in zip(direct, gateway)]
    quiet = sorted((k for k in range(len(direct)) if other[k] <= min(other) + 5),
                   key=lambda k: measure(direct[k], gateway[k]))
    i = quiet[(len(quiet) - 1) // 2]
    return ({**direct[i], "round": i, "quiet_rounds": len(quiet), "rps_rounds": [r["rps"] for r in direct]},
            {**gateway[i], "round": i, "quiet_rounds": len(quiet), "rps_rounds": [r["rps"] for r in gateway]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measured wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="direct/gateway alternations per setting")
    parser.add_argument("--connections", type=int, default=10, help="connections of the throughput runs")
    args = parser.parse_args()
    settings = (1, args.connections)

    with harness.kfn_dev(harness.HELLO_DIR, "warm-dev.log") as (dev, gport):
        gateway_url = f"http://127.0.0.1:{gport}{harness.HELLO_PATH}"
        harness.wrk(gateway_url, harness.HELLO_BODY, connections=args.connections, seconds=2, log="warm-gateway-warmup")
        dport = harness.free_port()
        worker, _, _ = harness.start_runtime(harness.hello_env(dport), harness.out_file("warm-direct-worker.log"))
        try:
            direct_url = f"http://127.0.0.1:{dport}{harness.INVOKE_PATH}"
            event = direct_event(gport)
            rid = [f"X-Kfn-Request-Id: {uuid.uuid4()}"]
            harness.wrk(direct_url, event, connections=args.connections, seconds=2, log="warm-direct-warmup",
                        headers=rid)
            meters = Meters(dev.pid, worker.pid)
            runs: dict[str, list[dict[str, Any]]] = {}
            for r in range(args.rounds):
                for c in settings:
                    runs.setdefault(f"direct_c{c}", []).append(meters.measure(lambda: harness.wrk(
                        direct_url, event, connections=c, seconds=args.seconds, log=f"warm-direct-c{c}-{r}",
                        headers=rid)))
                    runs.setdefault(f"gateway_c{c}", []).append(meters.measure(lambda: harness.wrk(
                        gateway_url, harness.HELLO_BODY, connections=c, seconds=args.seconds,
                        log=f"warm-gateway-c{c}-{r}")))
            replicas = harness.metric(gport, "kfn_function_replicas_ready", {"function": "hello"})
        finally:
            harness.stop(worker)

    d1, g1 = representative(runs["direct_c1"], runs["gateway_c1"], lambda d, g: g["p50_ms"] - d["p50_ms"])
    dn, gn = representative(runs[f"direct_c{args.connections}"], runs[f"gateway_c{args.connections}"],
                            lambda d, g: g["rps"] / d["rps"])
    rows = {"direct_c1": d1, "gateway_c1": g1, f"direct_c{args.connections}": dn, f"gateway_c{args.connections}": gn}
    summary: dict[str, Any] = {
        "ratio_rps": round(gn["rps"] / dn["rps"], 3),
        "ratio_rps_c1": round(g1["rps"] / d1["rps"], 3),
        "ratio_rps_rounds": [round(g["rps"] / d["rps"], 3) for g, d in
                             zip(runs[f"gateway_c{args.connections}"], runs[f"direct_c{args.connections}"])],
        "added_p50_ms": round(g1["p50_ms"] - d1["p50_ms"], 3),
        "added_p99_ms": round(g1["p99_ms"] - d1["p99_ms"], 3),
        "gateway_replicas_ready": replicas,
    }
    summary["ratio_target_met"] = summary["ratio_rps"] >= RATIO_TARGET
    summary["added_p50_target_met"] = summary["added_p50_ms"] <= ADDED_P50_TARGET_MS
    harness.save_json("warm.json", {"machine": harness.machine(), "args": vars(args), "rows": rows,
                                    "rounds": runs, "summary": summary})

    print(f"warm path: examples/hello, wrk -t1, {args.rounds} rounds of {args.seconds:g}s; shown: of the "
          "least disturbed rounds, the one with the median ratio (c10) or added p50 (c1)")
    print(f"{'run':<12}{'rps':>7}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}   CPU µs/request: "
          f"{'gateway (sys)':>13}{'worker':>8}{'wrk':>6}{'other %':>9}  round; rps of each round")
    for name, row in rows.items():
        gw = f"{row['gateway_us']} ({row['gateway_sys_us']})" if name.startswith("gateway") else "-"
        print(f"{name:<12}{row['rps']:>7.0f}{row['p50_ms']:>8.3f}{row['p99_ms']:>8.3f}{row['errors']:>5}"
              f"{'':>18}{gw:>13}{row['worker_us']:>8}{row['wrk_us']:>6}{row['other_cpu_pct']:>9}  "
              f"{row['round'] + 1}; {' '.join(f'{v:.0f}' for v in row['rps_rounds'])}")
    ok = {True: "met", False: "MISSED"}
    print(f"throughput gateway/direct at c{args.connections}: {summary['ratio_rps']:.2f} "
          f"(target ≥ {RATIO_TARGET}: {ok[summary['ratio_target_met']]}; rounds "
          f"{' '.join(map(str, summary['ratio_rps_rounds']))}); at c1: {summary['ratio_rps_c1']:.2f}")
    print(f"added latency at c1: p50 {summary['added_p50_ms']:.3f} ms (target ≤ {ADDED_P50_TARGET_MS:g} ms: "
          f"{ok[summary['added_p50_target_met']]}), p99 {summary['added_p99_ms']:.3f} ms")
    print(f"gateway replicas ready after the runs: {replicas}; 'other %' is CPU used by unrelated processes "
          "and interrupts during the run, in % of one core")
    return 0 if all(r["errors"] == 0 for rounds in runs.values() for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
