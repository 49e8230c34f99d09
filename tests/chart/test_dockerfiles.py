"""The images' Dockerfiles, read as text (no Docker engine here): pinned bases, multi-stage with
nothing built in the final stage, a numeric non-root USER, no HEALTHCHECK, and an entrypoint
that is the component's console script as pyproject.toml declares it."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

import pytest

from kfn_operator import settings as operator_settings
from kfn_runtime import settings as runtime_settings
from tests.chart.rendering import REPO

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
# Dockerfile → (console script, its arguments) the image runs.
IMAGES = {
    "operator/Dockerfile": ("kfn", ["operator"]),
    "gateway/Dockerfile": ("kfn", ["gateway", "--backend", "kubernetes"]),
    "runtime/Dockerfile": ("kfn-runtime", []),
    "runtime/provided.Dockerfile": ("kfn-runtime", []),
}
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|apt-get|apk|pip)\b")


def parse(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.strip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                instruction, _, args = current.strip().partition(" ")
                lines.append((instruction.upper(), args.strip()))
            current = ""
    return lines


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, args in instructions:
        if instruction == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction, args))
    return result


@pytest.mark.parametrize("path", sorted(IMAGES))
def test_dockerfile_invariants(path: str) -> None:
    instructions = parse((REPO / path).read_text())
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a in instructions if i == "ARG" and "=" in a}
    all_stages = stages(instructions)
    assert len(all_stages) >= 2, "multi-stage: build, then a clean final stage"
    for stage in all_stages:
        base = stage[0][1].split()[0]
        base = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], base)
        image, _, tag = base.rpartition(":")
        assert image and re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), f"{path}: base {base} is not an exact slim tag"
    final = all_stages[-1]
    assert not [i for i, _ in instructions if i == "HEALTHCHECK"], "Kubernetes probes check health"
    assert not [a for i, a in final if i == "RUN"], "nothing is built or installed in the final stage"
    assert not [a for i, a in final if i in ("COPY", "ADD") and "--from=" not in a], "the final stage copies built output only"
    [user] = [a for i, a in final if i == "USER"][-1:]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root USER, which runAsNonRoot can verify"
    [entrypoint] = [json.loads(a) for i, a in final if i == "ENTRYPOINT"][-1:]
    assert not [a for i, a in final if i == "CMD"]
    script, arguments = IMAGES[path]
    assert script in SCRIPTS
    module = SCRIPTS[script].split(":")[0]
    if entrypoint[0] == "python":
        assert entrypoint[1:3] == ["-m", module.removesuffix(".__main__")] and entrypoint[3:] == arguments
    else:
        assert entrypoint == [script, *arguments]
    for stage in all_stages[:-1]:
        for instruction, text in stage:
            if instruction == "RUN" and "pip install" in text:
                assert "requirements.lock" in text or "PIP_CONSTRAINT" in text, "installs are pinned by the lock"
                assert "--only-binary=:all:" in text, "wheels only: no compiler is needed"
    assert not BUILD_TOOLS.search(" ".join(shlex.quote(a) for i, a in final if i in ("ENV", "ENTRYPOINT")))


@pytest.mark.parametrize("path", sorted(IMAGES))
def test_bytecode_is_compiled_in_the_build_after_the_last_python_is_added(path: str) -> None:
    """The final stage cannot write .pyc (read-only root filesystem, PYTHONDONTWRITEBYTECODE), so an
    image without them compiles every module at every start: ~0.4 s more per runtime cold start."""
    all_stages = stages(parse((REPO / path).read_text()))
    build = all_stages[-2]
    compiles = [k for k, (i, a) in enumerate(build) if i == "RUN" and "-m compileall" in a
                and "--invalidation-mode unchecked-hash" in a and "/opt/kfn" in a]
    adds = [k for k, (i, a) in enumerate(build) if i in ("COPY", "ADD") or (i == "RUN" and "pip install" in a)]
    assert compiles and compiles[-1] >= max(adds), "compile after the last module is installed or copied"
    final = " ".join(a for i, a in all_stages[-1] if i == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in final
    copies = [a for i, a in all_stages[-1] if i == "COPY"]
    assert any("/opt/kfn /opt/kfn" in a for a in copies), "the compiled tree is what the final stage copies"


def test_runtime_images_run_as_the_uid_the_operator_gives_function_pods() -> None:
    for path in ("runtime/Dockerfile", "runtime/provided.Dockerfile"):
        final = stages(parse((REPO / path).read_text()))[-1]
        [user] = [a for i, a in final if i == "USER"]
        assert int(user.split(":")[0]) == operator_settings.OperatorSettings.run_as_user
        env = " ".join(a for i, a in final if i == "ENV")
        assert f"KFN_RUNTIME_PORT={runtime_settings.Settings.port}" in env and "LAMBDA_TASK_ROOT=/var/task" in env
    provided = " ".join(a for i, a in stages(parse((REPO / "runtime/provided.Dockerfile").read_text()))[-1] if i == "ENV")
    assert "KFN_RUNTIME_KIND=provided" in provided


def test_server_images_listen_on_every_address_at_their_default_port() -> None:
    """What the image alone exposes agrees with the settings (the chart sets both again)."""
    from kfn_gateway import settings as gateway_settings
    for path, port in (("operator/Dockerfile", operator_settings.OperatorSettings.port),
                       ("gateway/Dockerfile", gateway_settings.GatewaySettings.port)):
        final = stages(parse((REPO / path).read_text()))[-1]
        assert "KFN_HOST=0.0.0.0" in " ".join(a for i, a in final if i == "ENV"), path
        assert [a for i, a in final if i == "EXPOSE"] == [str(port)], path


def test_one_command_builds_every_image() -> None:
    makefile = (REPO / "Makefile").read_text()
    for path in IMAGES:
        assert path in makefile
    assert re.search(r"^images:", makefile, re.M) and re.search(r"^push: images", makefile, re.M)
