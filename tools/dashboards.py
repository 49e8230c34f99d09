"""Builds kfn's Grafana dashboards and Prometheus alert rules from one table of queries.

Run ``python tools/dashboards.py`` to rewrite ``charts/kfn/dashboards/*.json`` and
``charts/kfn/rules/kfn-alerts.yaml``; a test fails when the committed files differ from what this
produces, so the files stay reviewable JSON/YAML and never drift from their source.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "charts" / "kfn" / "dashboards"
RULES = ROOT / "charts" / "kfn" / "rules" / "kfn-alerts.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'namespace=~"$namespace", function=~"$function"'
RI = "$__rate_interval"


def _q(expr: str, legend: str) -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend, "datasource": DS, "refId": "A"}


def _panel(pid: int, title: str, unit: str, targets: list[dict[str, Any]], x: int, y: int, w: int = 12,
           h: int = 8, kind: str = "timeseries", description: str = "") -> dict[str, Any]:
    for i, target in enumerate(targets):
        target["refId"] = chr(ord("A") + i)
    return {"id": pid, "type": kind, "title": title, "description": description, "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": targets}


def _quantiles(metric: str, by: str) -> list[dict[str, Any]]:
    return [_q(f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{SEL}}}[{RI}])))",
               f"p{int(q * 100)} {{{{{by}}}}}") for q in (0.5, 0.9, 0.99)]


def _variables(function_multi: bool) -> dict[str, Any]:
    def query_var(name: str, query: str, multi: bool) -> dict[str, Any]:
        return {"name": name, "type": "query", "datasource": DS, "query": {"query": query, "refId": name},
                "definition": query, "refresh": 2, "includeAll": multi, "multi": multi,
                "allValue": ".*", "current": {}, "sort": 1}
    return {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}},
        query_var("namespace", "label_values(kfn_function_invocations_total, namespace)", True),
        query_var("function", 'label_values(kfn_function_invocations_total{namespace=~"$namespace"}, function)',
                  function_multi),
    ]}


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], function_multi: bool | None) -> dict[str, Any]:
    """``function_multi`` None: no namespace/function variables (the operator's families have none)."""
    templating = _variables(function_multi) if function_multi is not None else {"list": _variables(False)["list"][:1]}
    return {"uid": uid, "title": title, "tags": ["kfn"], "timezone": "browser", "schemaVersion": 39,
            "version": 1, "editable": True, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
            "templating": templating, "annotations": {"list": []}, "panels": panels}


def overview() -> dict[str, Any]:
    by = "function"
    panels = [
        _panel(1, "Invocations", "reqps", [_q(f"sum by (function) (rate(kfn_function_invocations_total{{{SEL}}}[{RI}]))", "{{function}}")], 0, 0,
               description="CloudWatch Invocations: invocations that reached a runtime, per second."),
        _panel(2, "Errors", "reqps", [_q(f"sum by (function, error_type) (rate(kfn_function_errors_total{{{SEL}}}[{RI}]))", "{{function}} {{error_type}}")], 12, 0,
               description="CloudWatch Errors: handler errors, timeouts, init errors and runtime exits."),
        _panel(3, "Error rate", "percentunit", [_q(
            f"sum by (function) (rate(kfn_function_errors_total{{{SEL}}}[{RI}])) / "
            f"sum by (function) (rate(kfn_function_invocations_total{{{SEL}}}[{RI}]))", "{{function}}")], 0, 8),
        _panel(4, "Throttles", "reqps", [_q(f"sum by (function) (rate(kfn_function_throttles_total{{{SEL}}}[{RI}]))", "{{function}}")], 12, 8,
               description="CloudWatch Throttles: 429s beyond concurrency.max."),
        _panel(5, "Duration", "s", _quantiles("kfn_function_duration_seconds", by), 0, 16,
               description="CloudWatch Duration, p50/p90/p99 as the gateway sees it."),
        _panel(6, "Concurrent executions", "short", [_q(f"sum by (function) (kfn_function_concurrent_executions{{{SEL}}})", "{{function}}")], 12, 16),
        _panel(7, "Cold starts", "short", [_q(f"sum by (function) (increase(kfn_function_cold_starts_total{{{SEL}}}[{RI}]))", "{{function}}")], 0, 24,
               description="Replicas started to serve a waiting request (scale from zero and up)."),
        _panel(8, "Cold start duration p99", "s", [_q(
            f"histogram_quantile(0.99, sum by (le, function) (rate(kfn_function_cold_start_duration_seconds_bucket{{{SEL}}}[{RI}])))", "{{function}}")], 12, 24),
        _panel(9, "Async backlog", "short", [_q(f"sum by (function) (kfn_async_queue_depth{{{SEL}}})", "{{function}}")], 0, 32,
               description="Async invocations waiting or running."),
        _panel(10, "Async event age p99", "s", [_q(
            f"histogram_quantile(0.99, sum by (le, function) (rate(kfn_async_event_age_seconds_bucket{{{SEL}}}[{RI}])))", "{{function}}")], 12, 32,
               description="CloudWatch AsyncEventAge: time from queueing to an invocation attempt."),
        _panel(11, "Replicas", "short", [
            _q(f"sum by (function) (kfn_function_replicas_ready{{{SEL}}})", "ready {{function}}"),
            _q(f"sum by (function) (kfn_function_replicas_desired{{{SEL}}})", "desired {{function}}")], 0, 40, w=24),
    ]
    return _dashboard("kfn-overview", "kfn / Overview", panels, function_multi=True)


def function() -> dict[str, Any]:
    panels = [
        _panel(1, "Invocations by outcome", "reqps", [_q(
            f"sum by (outcome) (rate(kfn_function_invocations_total{{{SEL}}}[{RI}]))", "{{outcome}}")], 0, 0),
        _panel(2, "Invocations by trigger", "reqps", [_q(
            f"sum by (trigger) (rate(kfn_function_invocations_total{{{SEL}}}[{RI}]))", "{{trigger}}")], 12, 0),
        _panel(3, "Errors by type", "reqps", [_q(
            f"sum by (error_type) (rate(kfn_function_errors_total{{{SEL}}}[{RI}]))", "{{error_type}}")], 0, 8),
        _panel(4, "Throttles", "reqps", [_q(f"sum (rate(kfn_function_throttles_total{{{SEL}}}[{RI}]))", "throttles")], 12, 8),
        _panel(5, "Duration", "s", _quantiles("kfn_function_duration_seconds", "function"), 0, 16),
        _panel(6, "Concurrent executions", "short", [_q(f"sum (kfn_function_concurrent_executions{{{SEL}}})", "in flight")], 12, 16),
        _panel(7, "Activator wait p99", "s", [_q(
            f"histogram_quantile(0.99, sum by (le) (rate(kfn_activator_wait_seconds_bucket{{{SEL}}}[{RI}])))", "p99")], 0, 24,
               description="Time requests waited for a replica slot (cold starts included)."),
        _panel(8, "Cold starts", "short", [_q(f"sum (increase(kfn_function_cold_starts_total{{{SEL}}}[{RI}]))", "cold starts")], 12, 24),
        _panel(9, "Async received, retried, dropped", "reqps", [
            _q(f"sum by (source) (rate(kfn_async_events_received_total{{{SEL}}}[{RI}]))", "received {{source}}"),
            _q(f"sum by (reason) (rate(kfn_async_retries_total{{{SEL}}}[{RI}]))", "retried {{reason}}"),
            _q(f"sum by (reason) (rate(kfn_async_events_dropped_total{{{SEL}}}[{RI}]))", "dropped {{reason}}")], 0, 32),
        _panel(10, "Async backlog and destinations", "short", [
            _q(f"sum (kfn_async_queue_depth{{{SEL}}})", "backlog"),
            _q(f"sum (increase(kfn_async_destination_deliveries_total{{{SEL}}}[{RI}]))", "sent to onFailure"),
            _q(f"sum (increase(kfn_async_destination_delivery_failures_total{{{SEL}}}[{RI}]))", "destination failures")], 12, 32),
        _panel(11, "Replicas", "short", [
            _q(f"sum (kfn_function_replicas_ready{{{SEL}}})", "ready"),
            _q(f"sum (kfn_function_replicas_desired{{{SEL}}})", "desired")], 0, 40, w=24),
    ]
    return _dashboard("kfn-function", "kfn / Function", panels, function_multi=False)


def operator() -> dict[str, Any]:
    """The control loop's health: is it converging, what does the autoscaler do, can it see the load."""
    panels = [
        _panel(1, "Reconciliations by outcome", "ops", [_q(
            f"sum by (kind, reason) (rate(kfn_operator_reconciliations_total[{RI}]))", "{{kind}} {{reason}}")], 0, 0,
               description="Functions and Triggers reconciled, by the Ready reason they got (Deployed and "
                           "FunctionFound are the good ones)."),
        _panel(2, "Objects by Ready state", "short", [_q(
            "sum by (kind, ready) (kfn_operator_objects)", "{{kind}} ready={{ready}}")], 12, 0,
               description="kubectl get functions,triggers -A tells which ones are not Ready, and why."),
        _panel(3, "Reconcile duration p99", "s", [_q(
            f"histogram_quantile(0.99, sum by (le, kind) (rate(kfn_operator_reconcile_duration_seconds_bucket[{RI}])))",
            "{{kind}}")], 0, 8),
        _panel(4, "Autoscaler decisions", "ops", [_q(
            f"sum by (action) (rate(kfn_operator_autoscale_decisions_total[{RI}]))", "{{action}}")], 12, 8,
               description="conflict: an activator scaled first; skipped: no stats, no decision."),
        _panel(5, "Gateway stats reads", "ops", [_q(
            f"sum by (outcome) (rate(kfn_operator_gateway_stats_reads_total[{RI}]))", "{{outcome}}")], 0, 16),
        _panel(6, "Gateways read, and read time p99", "short", [
            _q("max (kfn_operator_gateways)", "gateways"),
            _q(f"histogram_quantile(0.99, sum by (le) (rate(kfn_operator_gateway_stats_read_duration_seconds_bucket[{RI}])))",
               "read p99 (s)")], 12, 16),
    ]
    return _dashboard("kfn-operator", "kfn / Operator", panels, function_multi=None)


def alert_rules() -> dict[str, Any]:
    def rule(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
                "annotations": {"summary": summary}}
    return {"groups": [{"name": "kfn", "rules": [
        rule("KfnFunctionErrorRateHigh",
             "sum by (namespace, function) (rate(kfn_function_errors_total[5m])) / "
             "sum by (namespace, function) (rate(kfn_function_invocations_total[5m])) > 0.05",
             "10m", "warning", "{{ $labels.namespace }}/{{ $labels.function }}: more than 5% of invocations fail"),
        rule("KfnFunctionThrottled",
             "sum by (namespace, function) (rate(kfn_function_throttles_total[5m])) > 0",
             "10m", "warning", "{{ $labels.namespace }}/{{ $labels.function }} is throttled: raise concurrency.max"),
        rule("KfnFunctionNearTimeout",
             "histogram_quantile(0.99, sum by (le, namespace, function) (rate(kfn_function_duration_seconds_bucket[5m]))) "
             "> on (namespace, function) (0.8 * max by (namespace, function) (kfn_function_timeout_seconds))",
             "15m", "warning", "{{ $labels.namespace }}/{{ $labels.function }}: p99 duration above 80% of its timeout"),
        rule("KfnAsyncBacklogOld",
             "histogram_quantile(0.99, sum by (le, namespace, function) (rate(kfn_async_event_age_seconds_bucket[5m]))) > 300",
             "10m", "warning", "{{ $labels.namespace }}/{{ $labels.function }}: async events wait more than 5 minutes"),
        rule("KfnAsyncEventsDropped",
             "sum by (namespace, function) (increase(kfn_async_events_dropped_total[15m])) > 0",
             "0m", "critical", "{{ $labels.namespace }}/{{ $labels.function }} dropped async events"),
        rule("KfnDestinationDeliveryFailures",
             "sum by (namespace, function) (increase(kfn_async_destination_delivery_failures_total[15m])) > 0",
             "0m", "critical", "{{ $labels.namespace }}/{{ $labels.function }}: failure records could not reach onFailure"),
    ]}, {"name": "kfn-operator", "rules": [
        rule("KfnObjectsNotReady",
             'sum by (kind) (kfn_operator_objects{ready="false"}) > 0',
             "15m", "warning", "{{ $value }} {{ $labels.kind }}(s) not Ready: kubectl get functions,triggers -A "
                               "shows which and why"),
        rule("KfnAutoscalerCannotReadGateways",
             'sum (rate(kfn_operator_gateway_stats_reads_total{outcome="failed"}[5m])) > 0',
             "10m", "warning", "the operator cannot read every gateway's /stats: functions are not scaled by load "
                               "(nor down to zero)"),
    ]}]}


def render() -> dict[pathlib.Path, str]:
    return {
        DASHBOARDS / "kfn-overview.json": json.dumps(overview(), indent=2) + "\n",
        DASHBOARDS / "kfn-function.json": json.dumps(function(), indent=2) + "\n",
        DASHBOARDS / "kfn-operator.json": json.dumps(operator(), indent=2) + "\n",
        RULES: "# Generated by tools/dashboards.py: edit that file, then run it.\n"
               + yaml.safe_dump(alert_rules(), sort_keys=False, width=200),
    }


def main() -> int:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
