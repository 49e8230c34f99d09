"""S3 webhook ingest: bucket notifications accepted per second into the durable queue (SQLite).

``kfn dev`` serves one Function with an S3 Trigger; ``wrk`` (one thread, ``--connections``
keep-alive connections, ``--seconds``) POSTs MinIO's webhook body, one ``s3:ObjectCreated:Put``
record per notification (``--records``), with the bearer token, to ``/events/s3``. Every 200 means
the events were committed to ``queue.sqlite3`` (``synchronous=FULL``) before the answer.

By default the function's only slot (``concurrency.max`` 1) is taken by its first event, which
sleeps through the run: ingest is measured alone, and the queue grows by what was accepted.
``--function-sleep 0`` lets the consumer run meanwhile (its CPU is reported as ``workers``).

After the run: the queue's depth (read from the SQLite file), the events the gateway counted as
received (``kfn_async_events_received_total``, which must match the 200s), and the CPU of each
process. ``--profile`` records the gateway with py-spy. Target: ≥ 2,000 events/s on the 2-core
machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sqlite3
import subprocess
import tempfile
import time

import harness

TARGET = 2000.0
TOKEN = "bench-webhook-token"
FUNCTIONS = """\
apiVersion: kfn.dev/v1alpha1
kind: Function
metadata: {name: ingest}
spec:
  runtime: python3.11
  handler: app.handler
  code: {path: ./code}
  concurrency: {perReplica: @CONCURRENCY@, max: @CONCURRENCY@}
  timeoutSeconds: 60
  env: [{name: INGEST_SLEEP, value: "@SLEEP@"}]
---
apiVersion: kfn.dev/v1alpha1
kind: Trigger
metadata: {name: uploads}
spec:
  function: ingest
  s3: {bucket: uploads, events: ["s3:ObjectCreated:*"], filter: {suffix: .jpg}}
"""
HANDLER = """\
import os, time

def handler(event, context):
    time.sleep(float(os.environ.get("INGEST_SLEEP", "0")))
    return len(event["Records"])
"""


def notification(records: int = 1) -> bytes:
    """MinIO's webhook body (``{"EventName", "Key", "Records"}``); MinIO itself sends one record each."""
    record = {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-12-04T20:00:00.000Z",
        "eventName": "s3:ObjectCreated:Put", "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "17E0B5E1B4C2A1F0", "x-minio-origin-endpoint": "http://127.0.0.1:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": "uploads", "ownerIdentity": {"principalId": "minioadmin"},
                          "arn": "arn:aws:s3:::uploads"},
               "object": {"key": "images/cat.jpg", "size": 48213, "eTag": "5d41402abc4b2a76b9719d911017c592",
                          "contentType": "image/jpeg", "userMetadata": {"content-type": "image/jpeg"},
                          "sequencer": "17E0B5E1B4D3C2B1"}},
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"},
    }
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": "uploads/images/cat.jpg",
                       "Records": [record] * records}).encode()


def queue_depth(path: pathlib.Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--function-concurrency", type=int, default=1,
                        help="the function's concurrency.max: 1 keeps the consumer's share of the CPUs small")
    parser.add_argument("--function-sleep", type=float, default=30.0,
                        help="seconds each invocation sleeps: the default parks the consumer during the run, "
                             "0 lets it run the queued events meanwhile")
    parser.add_argument("--records", type=int, default=1,
                        help="records per notification (MinIO sends 1; more shows what the queue takes)")
    parser.add_argument("--profile", action="store_true", help="record the gateway with py-spy during the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfn-bench-webhook-") as tmp:
        root = pathlib.Path(tmp)
        (root / "code").mkdir()
        (root / "code" / "app.py").write_text(HANDLER)
        (root / "functions.yaml").write_text(FUNCTIONS.replace("@CONCURRENCY@", str(args.function_concurrency))
                                             .replace("@SLEEP@", str(args.function_sleep)))
        state = root / "state"
        env = {"KFN_STATE_DIR": str(state), "KFN_S3_WEBHOOK_TOKEN": TOKEN}
        with harness.kfn_dev(root, "webhook-dev.log", env) as (proc, port):
            url = f"http://127.0.0.1:{port}/events/s3"
            body = notification(args.records)
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            status, answer = harness.request(port, "POST", "/events/s3", body, headers)
            if status != 200 or json.loads(answer).get("queued") != args.records:
                raise SystemExit(f"/events/s3 did not queue the notification: {status} {answer!r}")
            time.sleep(1.0)  # the first event's cold start is over
            harness.wrk(url, body, connections=args.connections, seconds=2, log="webhook-warmup",
                        headers=[f"Authorization: Bearer {TOKEN}"])
            time.sleep(1.0)
            received_before = harness.metric(port, "kfn_async_events_received_total",
                                             {"function": "ingest", "source": "s3"}) or 0.0
            gateway_before = harness.cpu_seconds(proc.pid)
            tree_before = harness.tree_cpu_seconds(proc.pid)
            machine_before = harness.machine_cpu()[0]
            spy = subprocess.Popen([str(pathlib.Path(harness.PYTHON).parent / "py-spy"), "record", "--nonblocking",
                                    "--threads", "-f", "raw", "-o", str(harness.out_file("webhook-gateway.folded")),
                                    "-d", str(int(args.seconds)), "-p", str(proc.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if args.profile else None
            result = harness.wrk(url, body, connections=args.connections, seconds=args.seconds, log="webhook",
                                 headers=[f"Authorization: Bearer {TOKEN}"])
            if spy is not None:
                spy.wait(30)
            depth = queue_depth(state / "queue.sqlite3")
            gateway_cpu = harness.cpu_seconds(proc.pid) - gateway_before
            workers_cpu = harness.tree_cpu_seconds(proc.pid) - tree_before - gateway_cpu
            machine_cpu = harness.machine_cpu()[0] - machine_before
            received = (harness.metric(port, "kfn_async_events_received_total",
                                       {"function": "ingest", "source": "s3"}) or 0.0) - received_before
    accepted = (result.requests - result.errors) * args.records
    other = max(0.0, machine_cpu - gateway_cpu - workers_cpu - result.client_cpu_s)
    summary = {
        "events_per_s": round(accepted / result.seconds, 1), "requests_per_s": result.rps, "target": TARGET,
        "target_met": accepted / result.seconds >= TARGET, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
        "max_ms": result.max_ms, "requests": result.requests, "errors": result.errors,
        "received_metric": int(received), "queue_depth_at_end": depth,
        "cpu_s": {"gateway": round(gateway_cpu, 2), "workers": round(workers_cpu, 2),
                  "wrk": result.client_cpu_s, "other": round(other, 2)},
    }
    harness.save_json(f"webhook{'' if args.records == 1 else f'-r{args.records}'}.json", {"machine": harness.machine(), "args": vars(args),
                                       "wrk": result.__dict__, "summary": summary})
    print(f"S3 webhook → durable queue (SQLite), wrk -t1 -c{args.connections} -d{args.seconds:g}s, "
          f"{args.records} MinIO record(s) per POST")
    print(f"  {summary['events_per_s']:.0f} events/s (target ≥ {TARGET:.0f}: "
          f"{'met' if summary['target_met'] else 'MISSED'}), p50 {result.p50_ms:.2f} ms, "
          f"p99 {result.p99_ms:.2f} ms, {result.errors} errors")
    print(f"  {accepted} accepted, {int(received)} counted received by the gateway, "
          f"queue depth at the end {depth}")
    print(f"  CPU seconds: gateway {gateway_cpu:.2f}, workers {workers_cpu:.2f}, wrk {result.client_cpu_s:.2f}, "
          f"other {other:.2f} (of {2 * result.seconds:.0f} on 2 cores)")


if __name__ == "__main__":
    main()
