"""What the benchmarks share: processes (``kfn dev``, a runtime worker), ``wrk``, metrics, CPU time.

Every process a benchmark starts writes its output to a file under ``bench/out/`` and is
stopped by the context manager that started it, also when the benchmark fails. Before a
benchmark starts anything it takes the machine (``hold_machine``): one benchmark process at a
time, and only once other processes have left the CPUs alone for a moment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import http.client
import json
import os
import pathlib
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PYTHON = sys.executable
KFN = str(pathlib.Path(PYTHON).parent / "kfn")
HELLO_DIR = ROOT / "examples" / "hello"
HELLO_PATH = "/fn/default/hello"
HELLO_BODY = b'{"name":"kfn"}'
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_LOCK = pathlib.Path(tempfile.gettempdir()) / "kfn-bench.lock"
_held: list[IO[str]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def out_file(name: str) -> pathlib.Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / name


def save_json(name: str, data: object) -> pathlib.Path:
    path = out_file(name)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


# --- HTTP ---------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """One request on a fresh connection (no keep-alive), as a first-time client makes it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if request(port, "GET", path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it answered")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout:g}s")
        time.sleep(0.02)


def metric(port: int, name: str, labels: Mapping[str, str]) -> float | None:
    """One sample of the gateway's /metrics whose labels include ``labels``; None when absent."""
    status, text = request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


# --- processes ----------------------------------------------------------------------------


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a live process."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine was busy (all processes, interrupts) and was stolen by the host."""
    fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / _CLK_TCK, steal / _CLK_TCK


def background_load(seconds: float = 1.0) -> float:
    """How busy the machine is with nothing of ours running, in % of one core."""
    before = machine_cpu()[0]
    time.sleep(seconds)
    return (machine_cpu()[0] - before) / seconds * 100


def wait_quiet(limit_pct: float, max_wait: float) -> float:
    """Wait up to ``max_wait`` seconds for the background load to drop below ``limit_pct``; the last reading."""
    deadline = time.monotonic() + max_wait
    load = background_load()
    while load > limit_pct and time.monotonic() < deadline:
        load = background_load(2.0)
    return load


def hold_machine() -> None:
    """Once per process: wait for any other benchmark on this machine to end (a lock held until
    this process exits), then up to BENCH_WAIT_QUIET seconds (default 60) for a quiet moment."""
    if _held:
        return
    lock = _LOCK.open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another benchmark to release {_LOCK}", file=sys.stderr, flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    _held.append(lock)
    load = wait_quiet(10, float(os.environ.get("BENCH_WAIT_QUIET", "60")))
    print(f"background load before the benchmark: {load:.0f}% of one core (above ~10% the numbers are noisy)",
          flush=True)


def children(pid: int) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (a gateway and its runtime workers)."""
    total = 0.0
    for p in (pid, *children(pid)):
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def kfn_dev(directory: pathlib.Path, log: str, env: Mapping[str, str] | None = None
            ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``kfn dev DIRECTORY --port <free>``, ready to serve; yields the process and its port.

    Its state (the async queue) goes to a fresh directory unless ``env`` names one in KFN_STATE_DIR.
    """
    hold_machine()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kfn-bench-state-") as state, out_file(log).open("wb") as logf:
        full_env = {**os.environ, "KFN_STATE_DIR": state, **(env or {})}
        proc = subprocess.Popen([KFN, "dev", str(directory), "--port", str(port)], env=full_env,
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(port, "/healthz", 30.0, proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"kfn dev {directory}: {exc}; its log, {logf.name}:\n"
                                   f"{pathlib.Path(logf.name).read_text()[-2000:]}") from None
            yield proc, port
        finally:
            stop(proc)


def worker_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a runtime worker gets: this one without KFN_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFN_")}
    env.update({"PYTHONUNBUFFERED": "1", **extra})
    return env


def hello_env(port: int) -> dict[str, str]:
    """Load-at-start settings for ``examples/hello``, as its Function declares it."""
    return {"_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": str(HELLO_DIR),
            "AWS_LAMBDA_FUNCTION_NAME": "hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "KFN_TIMEOUT_SECONDS": "10", "KFN_CONCURRENCY": "10", "GREETING": "Hello",
            "KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": str(port)}


def start_runtime(extra: Mapping[str, str], log: pathlib.Path | None, timeout: float = 15.0
                  ) -> tuple[subprocess.Popen[bytes], int, float]:
    """``python -m kfn_runtime`` up to its ready line; returns it, its port and seconds to ready."""
    hold_machine()
    read_fd, write_fd = os.pipe()
    env = worker_env({**extra, "KFN_READY_FD": str(write_fd)})
    sink = log.open("ab") if log is not None else open(os.devnull, "wb")
    began = time.perf_counter()
    try:
        proc = subprocess.Popen([PYTHON, "-m", "kfn_runtime"], env=env, pass_fds=(write_fd,),
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    finally:
        os.close(write_fd)
        sink.close()
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout)
        line = os.read(read_fd, 4096) if ready else b""
        elapsed = time.perf_counter() - began
        if not line:
            stop(proc, 1.0)
            raise RuntimeError(f"the runtime did not announce its port within {timeout:g}s "
                               f"(exit code {proc.poll()})")
    finally:
        os.close(read_fd)
    return proc, int(json.loads(line)["port"]), elapsed


# --- wrk ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WrkResult:
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float
    """CPU time wrk itself used (it shares the machine with what it measures)."""


_BENCH_LINE = re.compile(r"^BENCH (\w+)=([0-9.]+)$", re.M)


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (bench/run installs it: apt-get install -y wrk)")
    return wrk


def wrk(url: str, body: bytes, *, connections: int, seconds: float, log: str,
        headers: Sequence[str] = ()) -> WrkResult:
    """POST ``body`` to ``url`` over ``connections`` keep-alive connections for ``seconds``.

    One wrk thread: on a 2-core machine a second one only takes CPU from the servers.
    """
    hold_machine()
    body_file = out_file(f"{log}.body")
    body_file.write_bytes(body)
    cmd = [ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
           "-s", str(BENCH / "post.lua"), url, "--", str(body_file), *headers]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, check=True, timeout=seconds + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out_file(f"{log}.txt").write_bytes(done.stdout + done.stderr)
    values = {k: float(v) for k, v in _BENCH_LINE.findall(done.stdout.decode())}
    if "requests" not in values:
        raise RuntimeError(f"unexpected wrk output:\n{done.stdout.decode()}{done.stderr.decode()}")
    elapsed = values["duration_us"] / 1e6
    return WrkResult(
        connections=connections, seconds=round(elapsed, 3), requests=int(values["requests"]),
        errors=int(values["errors"]), rps=round(values["requests"] / elapsed, 1),
        p50_ms=values["p50"] / 1000, p90_ms=values["p90"] / 1000, p99_ms=values["p99"] / 1000,
        max_ms=values["max"] / 1000,
        client_cpu_s=round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3))


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def machine() -> dict[str, str]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    model = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines()
                  if line.startswith("Model name")), "?")
    mem_kib = next((int(line.split()[1]) for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    return {"nproc": run("nproc"), "cpu": model, "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
            "python": sys.version.split()[0], "kernel": run("uname", "-r"),
            "revision": run("git", "-C", str(ROOT), "describe", "--always", "--dirty"),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}
