"""Runtime start without and with compiled bytecode: why the images compile it in their build stage.

The images' final stages run with a read-only root filesystem and ``PYTHONDONTWRITEBYTECODE``, so
whatever ``.pyc`` the build did not make is compiled again at every start. This copies the
runtime's import closure (the packages ``import kfn_runtime.__main__`` loads from site-packages,
and ``kfn_runtime`` itself) to a fresh directory without any ``.pyc``, times the import there
(``--runs`` times, the standard library keeps its own bytecode as in ``python:slim``), then compiles
the copy as the Dockerfiles do (``compileall --invalidation-mode unchecked-hash``), touches every
source (a copy into another stage may change mtimes) and times it again.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import harness

CLOSURE = ("import json, sys, kfn_runtime.__main__; "
           "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))")


def closure(site: pathlib.Path, runtime: pathlib.Path) -> list[pathlib.Path]:
    """Top-level packages and modules the runtime imports from site-packages, and kfn_runtime."""
    out = subprocess.run([harness.PYTHON, "-c", CLOSURE], capture_output=True, text=True, check=True).stdout
    tops: set[pathlib.Path] = {runtime}
    for name in json.loads(out):
        if not name:
            continue
        path = pathlib.Path(name).resolve()
        if site in path.parents:
            tops.add(site / path.relative_to(site).parts[0])
    return sorted(tops)


def timed_imports(path: pathlib.Path, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(path)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([harness.PYTHON, "-S", "-c", "import kfn_runtime.__main__"], env=env, check=True)
        times.append(time.perf_counter() - began)
    return sorted(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    harness.hold_machine()
    site = pathlib.Path(sysconfig.get_paths(vars={"base": sys.prefix})["purelib"]).resolve()
    runtime = (harness.ROOT / "runtime" / "kfn_runtime").resolve()
    with tempfile.TemporaryDirectory(prefix="kfn-bench-pyc-") as tmp:
        copy = pathlib.Path(tmp)
        files = closure(site, runtime)
        for top in files:
            if top.is_dir():
                shutil.copytree(top, copy / top.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(top, copy / top.name)
        plain = timed_imports(copy, args.runs)
        subprocess.run([harness.PYTHON, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(copy)],
                       check=True)
        for source in copy.rglob("*.py"):
            source.touch()
        compiled = timed_imports(copy, args.runs)
    p50 = {name: t[len(t) // 2] for name, t in (("plain", plain), ("compiled", compiled))}
    result = {"packages": [p.name for p in files], "runs": args.runs, "without_pyc_s": plain,
              "with_pyc_s": compiled, "p50_without_pyc_s": round(p50["plain"], 3),
              "p50_with_pyc_s": round(p50["compiled"], 3), "ratio": round(p50["plain"] / p50["compiled"], 2)}
    harness.save_json("pyc.json", {"machine": harness.machine(), **result})
    print(f"runtime import, {len(files)} top-level packages copied, {args.runs} runs each (p50):")
    print(f"  without .pyc: {p50['plain']:.3f} s   with hash-checked .pyc: {p50['compiled']:.3f} s   "
          f"ratio {result['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
