"""The ``kfn`` command as a user runs it: ``kfn dev`` refusing invalid manifests before serving,
``kfn invoke`` against a running ``kfn dev``, and a clean stop that leaves no worker behind.

Real subprocesses throughout; asserted: exit codes, the file/object/field in error messages,
the banner never printed for an invalid set, and every worker process gone after SIGTERM.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

from tests.dev_e2e.conftest import DevServer

pytestmark = pytest.mark.e2e

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def kfn(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfn", *args], capture_output=True, text=True, timeout=timeout)


def test_invalid_manifest_exits_non_zero_before_serving(tmp_path):
    (tmp_path / "ok.yaml").write_text(textwrap.dedent("""\
        apiVersion: kfn.dev/v1alpha1
        kind: Function
        metadata: {name: good}
        spec: {runtime: python3.11, handler: app.handler, code: {inline: "def handler(e, c): return 1"}}
        """))
    (tmp_path / "bad.yaml").write_text(textwrap.dedent("""\
        apiVersion: kfn.dev/v1alpha1
        kind: Function
        metadata: {name: slow}
        spec: {runtime: python3.11, handler: app.handler, code: {inline: x}, timeoutSeconds: 901}
        """))
    result = kfn("dev", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}: Function/slow: spec.timeoutSeconds: must be ≤ 900" in result.stderr
    assert "kfn gateway on" not in result.stdout


def test_unparsable_yaml_names_the_file(tmp_path):
    (tmp_path / "broken.yml").write_text("apiVersion: [unclosed\n")
    result = kfn("dev", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert "broken.yml: cannot be read as YAML" in result.stderr


def test_unsupported_fields_are_refused_not_ignored(tmp_path):
    (tmp_path / "fn.yaml").write_text(textwrap.dedent("""\
        apiVersion: kfn.dev/v1alpha1
        kind: Function
        metadata: {name: img}
        spec: {runtime: python3.11, handler: app.handler, code: {image: "registry/x:1"}}
        """))
    result = kfn("dev", str(tmp_path), "--port", "0")
    assert result.returncode == 2 and "Function/img: spec.code" in result.stderr


def test_validate_command(tmp_path):
    result = kfn("validate", str(EXAMPLES))
    assert result.returncode == 0 and "Function default/hello: valid" in result.stdout


def test_invoke_against_examples_and_clean_stop(tmp_path):
    server = DevServer(EXAMPLES, tmp_path / "dev.log")
    try:
        result = kfn("invoke", "hello", "--data", '{"name": "kfn"}', "--url", server.url)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["message"] == "Hello, kfn!"
        result = kfn("invoke", "orders", "--data", '{"item": "book", "quantity": 2, "unitPrice": 12.5}',
                     "--url", server.url)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["total"] == 25.0
        missing = kfn("invoke", "nope", "--url", server.url)
        assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr
        children = _children(server.proc.pid)
        assert children, "kfn dev runs its replicas as child processes"
    finally:
        assert server.stop() == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.1)
    assert not any(_alive(p) for p in children), "worker processes outlived kfn dev"


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_exit_when_kfn_dev_is_killed(tmp_path):
    server = DevServer(EXAMPLES, tmp_path / "dev.log")
    result = kfn("invoke", "hello", "--data", "{}", "--url", server.url)
    assert result.returncode == 0, result.stderr
    children = _children(server.proc.pid)
    assert children
    server.proc.kill()
    server.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.1)
    assert not any(_alive(p) for p in children), "worker processes outlived a killed kfn dev"


def test_top_shows_a_running_gateway(tmp_path):
    server = DevServer(EXAMPLES, tmp_path / "dev.log")
    try:
        assert kfn("invoke", "hello", "--data", "{}", "--url", server.url).returncode == 0
        result = kfn("top", "--url", server.url, "--count", "1", "--interval", "0.3")
        assert result.returncode == 0, result.stderr
        line = next(x for x in result.stdout.splitlines() if x.startswith("default/hello"))
        assert line.split()[-2] in ("1/1", "0/1", "1/0")  # READY/DESIRED columns: the replica is up
    finally:
        server.stop()
    assert kfn("top", "--url", server.url, "--count", "1").returncode == 1  # gone: a clear error


def test_json_logs_follow_one_invocation_to_the_runtime(tmp_path):
    server = DevServer(EXAMPLES, tmp_path / "dev.log", env={"KFN_LOG_FORMAT": "json"})
    try:
        result = kfn("invoke", "hello", "--data", "{}", "--url", server.url)
        request_id = json.loads(result.stdout)["requestId"]
        deadline = time.monotonic() + 5
        while f"END RequestId: {request_id}" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    lines = server.log().splitlines()
    records = [json.loads(x) for x in lines if x.startswith("{")]
    [entry] = [r for r in records if r.get("requestId") == request_id]
    assert entry["function"] == "hello" and entry["outcome"] == "success" and entry["coldStart"] is True
    assert f"START RequestId: {request_id} Version: $LATEST" in lines
    assert all(r["level"] in ("info", "warning", "error") for r in records)


def test_missing_secret_reference_is_refused(tmp_path):
    (tmp_path / "fn.yaml").write_text(textwrap.dedent("""\
        apiVersion: kfn.dev/v1alpha1
        kind: Function
        metadata: {name: locked}
        spec:
          runtime: python3.11
          handler: app.handler
          code: {inline: "def handler(e, c): return 1"}
          auth: {type: token, secretName: nowhere}
        """))
    result = kfn("dev", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert "Function/locked: spec.auth.secretName: no Secret nowhere" in result.stderr


def test_two_gateways_cannot_share_a_state_dir(tmp_path):
    state = {"KFN_STATE_DIR": str(tmp_path / "state")}
    first = DevServer(EXAMPLES, tmp_path / "first.log", env=state)
    try:
        result = subprocess.run([sys.executable, "-m", "kfn", "dev", str(EXAMPLES), "--port", "0"],
                                capture_output=True, text=True, timeout=30, env={**os.environ, **state})
        assert result.returncode == 1
        assert "in use by another kfn gateway" in result.stderr
        assert "kfn gateway on" not in result.stdout
    finally:
        assert first.stop() == 0


def test_a_port_in_use_is_named(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "kfn", "dev", str(EXAMPLES / "hello"), "--port", str(port)],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "KFN_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 1, result.stderr
    assert f"kfn dev: cannot listen on 127.0.0.1:{port}: " in result.stderr
    assert "(pass --port 0 for any free port)" in result.stderr and "kfn gateway on" not in result.stdout
