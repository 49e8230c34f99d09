"""Does everything a Function refers to exist? One read per referenced object, no writes."""

from __future__ import annotations

from kfn import api
from kfn_operator import kube

__all__ = ["missing"]


async def missing(fn: api.Function, client: kube.Api) -> list[str]:
    """What the Function refers to that is not there, worded for its Ready condition."""
    wanted: dict[tuple[str, str], set[str]] = {}
    spec = fn.spec
    if spec.code.config_map is not None:
        wanted.setdefault(("configmaps", spec.code.config_map.name), set())
    for var in spec.env:
        source = var.value_from
        if source is not None and source.secret_key_ref is not None:
            wanted.setdefault(("secrets", source.secret_key_ref.name), set()).add(source.secret_key_ref.key)
        if source is not None and source.config_map_key_ref is not None:
            wanted.setdefault(("configmaps", source.config_map_key_ref.name), set()).add(source.config_map_key_ref.key)
    if spec.auth.secret_name is not None:
        wanted.setdefault(("secrets", spec.auth.secret_name), set())
    problems = []
    for (plural, name), keys in sorted(wanted.items()):
        kind = "Secret" if plural == "secrets" else "ConfigMap"
        obj = await client.get(kube.paths.core(fn.namespace, plural, name))
        if obj is None:
            problems.append(f"{kind} {fn.namespace}/{name} not found")
            continue
        present = set(obj.get("data") or {}) | set(obj.get("binaryData") or {}) | set(obj.get("stringData") or {})
        for key in sorted(keys - present):
            problems.append(f"{kind} {fn.namespace}/{name} has no key {key!r}")
    return problems
