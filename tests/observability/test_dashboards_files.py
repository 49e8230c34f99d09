"""The dashboards and alert rules as files: generated from tools/dashboards.py, well formed.

Asserted without servers: the committed files equal the generator's output; every panel has a
unit and uses the datasource variable; the per-function dashboard has a single-valued
``function`` variable; promtool (Prometheus's own checker) accepts the rules.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def generator():
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "tools" / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_match_the_generator():
    for path, text in generator().render().items():
        assert path.read_text() == text, f"{path} is stale: run python tools/dashboards.py"


def test_panels_have_units_and_the_datasource_variable():
    for path in (ROOT / "charts" / "kfn" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        names = [v["name"] for v in dashboard["templating"]["list"]]
        # The operator's families carry no function: its dashboard has the datasource variable only.
        assert names == (["datasource"] if path.name == "kfn-operator.json" else ["datasource", "namespace", "function"])
        for panel in dashboard["panels"]:
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_function_dashboard_selects_one_function():
    dashboard = json.loads((ROOT / "charts/kfn/dashboards/kfn-function.json").read_text())
    function = next(v for v in dashboard["templating"]["list"] if v["name"] == "function")
    assert function["multi"] is False and function["includeAll"] is False


def test_promtool_accepts_the_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/test-deps)"
    result = subprocess.run([promtool, "check", "rules", str(ROOT / "charts/kfn/rules/kfn-alerts.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
