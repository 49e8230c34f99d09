"""Render the last run's results (bench/out/*.json) as the Markdown tables of bench/RESULTS.md."""

from __future__ import annotations

import json
import sys
from typing import Any

import harness


def load(name: str) -> dict[str, Any] | None:
    path = harness.OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def warm(data: dict[str, Any]) -> list[str]:
    s, rows = data["summary"], data["rows"]
    conns = data["args"]["connections"]
    out = [f"Warm path: wrk -t1, {data['args']['rounds']} alternating rounds of {data['args']['seconds']:g} s, "
           "shown: of the rounds least disturbed by other processes, the one with the median ratio (c10) or "
           "added p50 (c1); CPU in µs per request; other load in % of one core.", "",
           "| run | rps | p50 ms | p99 ms | errors | gateway CPU (sys) | worker CPU | wrk CPU | other load "
           "| round | rps per round |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in rows.items():
        gw = f"{r['gateway_us']} ({r['gateway_sys_us']})" if name.startswith("gateway") else "–"
        out.append(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors']} | {gw} | "
                   f"{r['worker_us']} | {r['wrk_us']} | {r['other_cpu_pct']}% | {r['round'] + 1} | "
                   f"{' / '.join(f'{v:.0f}' for v in r['rps_rounds'])} |")
    out += ["", "| measure | value | target | |", "|---|---:|---:|---|",
            f"| throughput gateway / direct, c{conns} | {s['ratio_rps']:.2f} (rounds "
            f"{' / '.join(f'{v:.2f}' for v in s['ratio_rps_rounds'])}) | ≥ 0.60 | {met(s['ratio_target_met'])} |",
            f"| throughput gateway / direct, c1 | {s['ratio_rps_c1']:.2f} | | |",
            f"| added latency p50, c1 | {s['added_p50_ms']:.3f} ms | ≤ 1 ms | {met(s['added_p50_target_met'])} |",
            f"| added latency p99, c1 | {s['added_p99_ms']:.3f} ms | | |"]
    return out


def coldstart(data: dict[str, Any]) -> list[str]:
    s = data["summary"]
    out = ["| measure | n | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for name, r in data["rows"].items():
        if r["n"]:
            out.append(f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} |")
    cold = data["rows"]["cold request, warm pool (client)"]
    no_pool = s.get("no_pool_over_pool_p50")
    out += ["", f"Cold p50 {cold['p50']:.1f} ms (target ≤ 50 ms: {met(s['p50_target_met'])}), "
                f"p99 {cold['p99']:.1f} ms (target ≤ 150 ms: {met(s['p99_target_met'])}) over all cycles, "
                f"{s['quiet_cycles']} of them quiet (median other load {s['other_load_median_pct']:g}% of one core); "
                f"cold / warm p50 {s['cold_over_warm_p50']}×; fresh runtime to ready / pooled cold p50 "
                f"{s['fresh_runtime_over_cold_p50']}×"
                + (f"; no pool / pool cold p50 {no_pool}×." if no_pool is not None else ".")]
    return out


def profile(data: dict[str, Any]) -> list[str]:
    profiles = data["profiles"]
    head = " | ".join(f"c{p['connections']} ({p['rps']} rps)" for p in profiles)
    out = [f"| | {head} |", "|---|" + "---:|" * len(profiles)]
    for label, key in (("gateway CPU per request (user+sys)", "cpu_us_per_req"),
                       ("of which system (all syscalls)", "sys_us_per_req"),
                       ("non-idle time per request (py-spy)", "non_idle_us_per_req")):
        out.append(f"| {label} | " + " | ".join(f"{p[key]} µs" for p in profiles) + " |")
    out.append("| samples in send(), off-CPU | " + " | ".join(f"{p['send_share']:.0%}" for p in profiles) + " |")
    for key in ("categories", "inclusive"):
        for name in dict.fromkeys(k for p in profiles for k in p[key]):
            cells = [p[key].get(name, {"share": 0.0, "cpu_us": 0}) for p in profiles]
            label = name if key == "categories" else f"incl. `{name}`"
            out.append(f"| {label} | " + " | ".join(f"{c['cpu_us']} µs ({c['share']:.0%})" for c in cells) + " |")
    return out


def main() -> int:
    sections = []
    any_data = next((d for d in (load("warm"), load("coldstart"), load("profile_gateway")) if d), None)
    if any_data:
        m = any_data["machine"]
        sections.append([f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Python {m['python']}, "
                         f"kernel {m['kernel']}; revision {m.get('revision', '?')}; {m['date']}."])
    for name, render in (("warm", warm), ("coldstart", coldstart), ("profile_gateway", profile)):
        data = load(name)
        if data is not None:
            sections.append(render(data))
    print("\n\n".join("\n".join(s) for s in sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
