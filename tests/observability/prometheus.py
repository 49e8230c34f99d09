"""Debian's ``prometheus`` for the tests: started on a free port, scraping the given targets every second,
with kfn's alert rules loaded. Blocking calls (async tests run them in a thread)."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "kfn" / "rules" / "kfn-alerts.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query; asserts it parsed and evaluated."""
    status, body = request(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", f"{expr}: {answer}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


ALL_DASHBOARDS = sorted((ROOT / "charts" / "kfn" / "dashboards").glob("*.json"))


def panel_queries(dashboards: list[pathlib.Path]) -> list[tuple[str, str]]:
    """(dashboard/panel/refId, expression) of every target of every panel."""
    out = []
    for path in dashboards:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                out.append((f"{path.stem}/{panel['title']}/{target['refId']}", target["expr"]))
    return out


def grafana_to_promql(expr: str) -> str:
    """What Grafana sends: template variables expanded (all namespaces and functions)."""
    return (expr.replace("$__rate_interval", "1m").replace('=~"$namespace"', '=~".*"')
            .replace('=~"$function"', '=~".*"'))


def data(url: str, expr: str, what: str, timeout: float = 20) -> list[dict[str, Any]]:
    """The result of ``expr`` once it has any (new scrapes and rule evaluations arrive each second)."""
    deadline = time.monotonic() + timeout
    while not (result := query(url, expr)):
        assert time.monotonic() < deadline, f"{what}: no data for {expr}"
        time.sleep(0.5)
    return result


def alert_exprs(group: str | None = None) -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] if group in (None, g["name"]) for r in g["rules"]]


class Prometheus:
    """One server; ``jobs`` maps a job name to a ``host:port`` target scraped at ``/metrics``."""

    def __init__(self, base: pathlib.Path, jobs: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is installed by scripts/test-deps (Debian package prometheus)"
        self.base = base
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                                     for job, target in jobs.items()]}
        (base / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = (base / "prometheus.log").open("wb")
        self.proc = subprocess.Popen([binary, f"--config.file={base / 'prometheus.yml'}",
                                      f"--storage.tsdb.path={base / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return (self.base / "prometheus.log").read_text(errors="replace")[-3000:]

    def wait_scrapes(self, job: str, count: int = 3, timeout: float = 60) -> None:
        """Until ready and ``count`` scrapes of ``job`` are stored (rates need two points)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = query(self.url, f'count_over_time(up{{job="{job}"}}[1m])')
                if result and float(result[0]["value"][1]) >= count:
                    return
            except (urllib.error.URLError, ConnectionError, AssertionError):
                pass
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return query(self.url, expr)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._log.close()
