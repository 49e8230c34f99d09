"""Reading Function and Trigger objects from YAML files, all or nothing.

``kfn dev DIR`` serves a set of functions only when every file parses and every object
validates, so a user never runs half of what they declared. Errors name the file, the object
and the field path.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import pathlib
from typing import Any, Iterable, Mapping

import yaml

from kfn import api, names

__all__ = ["Manifest", "ManifestError", "Problem", "load_dir", "load_documents", "check_references", "data_values"]

MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Problem:
    """One reason a set of manifests cannot be served."""

    file: str
    obj: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.obj, self.message) if part)


class ManifestError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a directory declares: validated objects and the folder each one came from."""

    functions: dict[str, api.Function]
    triggers: dict[str, api.Trigger]
    sources: dict[str, pathlib.Path]
    """``Function.key`` → the directory of the YAML file that declared it (``code.path`` base)."""
    secrets: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """``namespace/name`` → the data of each ``v1`` Secret in the directory (what ``kfn dev`` uses
    for ``env[].valueFrom.secretKeyRef`` and ``auth.secretName``), decoded."""
    config_maps: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """``namespace/name`` → the data of each ``v1`` ConfigMap in the directory."""


def _yaml_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every YAML file under ``root``, except in dependency and hidden folders (``node_modules``,
    ``.git``, ``.venv``): those hold other tools' YAML, never the user's objects."""
    if root.is_file():
        return [root]
    found: list[pathlib.Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "node_modules" and not d.startswith(".")]
        found.extend(path for name in files if (path := pathlib.Path(folder, name)).suffix in (".yaml", ".yml"))
    return sorted(p for p in found if p.is_file())


def load_documents(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _describe(doc: Any, index: int) -> str:
    if isinstance(doc, dict):
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        return f"{doc.get('kind', '?')}/{meta.get('name', '?')}"
    return f"document {index + 1}"


def load_dir(root: pathlib.Path) -> Manifest:
    """Load every ``*.yaml``/``*.yml`` under ``root``; raise ManifestError listing every problem."""
    problems: list[Problem] = []
    functions: dict[str, api.Function] = {}
    triggers: dict[str, api.Trigger] = {}
    sources: dict[str, pathlib.Path] = {}
    declared_in: dict[str, str] = {}
    secrets: dict[str, dict[str, str]] = {}
    config_maps: dict[str, dict[str, str]] = {}
    if not root.exists():
        raise ManifestError([Problem(str(root), "", "no such file or directory")])
    files = _yaml_files(root)
    for path in files:
        shown = str(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(Problem(shown, "", f"larger than {MAX_FILE_BYTES} bytes"))
                continue
            docs = load_documents(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            problems.append(Problem(shown, "", f"cannot be read as YAML: {exc}".replace("\n", " ")))
            continue
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                problems.append(Problem(shown, f"document {index + 1}", "must be a mapping (a YAML object)"))
                continue
            version = doc.get("apiVersion")
            if isinstance(version, str) and version.startswith(f"{api.GROUP}/") and version != api.API_VERSION:
                problems.append(Problem(shown, _describe(doc, index),
                                        f"apiVersion: {version} is not served; use {api.API_VERSION}"))
                continue
            if version == "v1" and doc.get("kind") in ("Secret", "ConfigMap"):
                try:
                    key, data = _data_object(doc)
                except ValueError as exc:
                    problems.append(Problem(shown, _describe(doc, index), str(exc)))
                    continue
                (secrets if doc["kind"] == "Secret" else config_maps)[key] = data
                continue
            if version != api.API_VERSION:
                continue  # other objects (a Deployment, a Service) are not ours to serve
            if doc.get("kind") not in ("Function", "Trigger"):
                problems.append(Problem(shown, _describe(doc, index),
                                        f"kind: {doc.get('kind')} is not a {api.API_VERSION} kind (Function, Trigger)"))
                continue
            try:
                obj = api.parse_object(doc)
            except api.InvalidObject as exc:
                for err in exc.errors:
                    problems.append(Problem(shown, _describe(doc, index), str(err)))
                continue
            table: dict[str, Any] = functions if isinstance(obj, api.Function) else triggers
            if obj.key in table:
                problems.append(Problem(shown, _describe(doc, index), f"{obj.key} is declared twice"))
                continue
            table[obj.key] = obj
            declared_in[f"{type(obj).__name__}/{obj.key}"] = shown
            if isinstance(obj, api.Function):
                sources[obj.key] = path.parent
    if not files:
        problems.append(Problem(str(root), "", "no *.yaml or *.yml files found"))
    elif not functions and not problems:
        problems.append(Problem(str(root), "", f"no {api.API_VERSION} Function found"))
    problems.extend(check_references(functions.values(), triggers.values(), files=declared_in))
    if problems:
        raise ManifestError(problems)
    return Manifest(functions=functions, triggers=triggers, sources=sources, secrets=secrets,
                    config_maps=config_maps)


def _data_object(doc: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(namespace/name, decoded data) of a v1 Secret or ConfigMap; ValueError names the field."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise ValueError("metadata.name: required")
    namespace = meta.get("namespace", "default")
    for label, value in (("metadata.name", meta["name"]), ("metadata.namespace", namespace)):
        problem = names.dns1123_error(value) if isinstance(value, str) else "must be a string"
        if problem:
            raise ValueError(f"{label}: {problem}")
    data, problems = data_values(doc)
    if problems:
        raise ValueError(problems[0])
    return f"{namespace}/{meta['name']}", data


def data_values(obj: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The values of a v1 Secret (``data`` base64-decoded, then ``stringData`` as is) or ConfigMap
    (``data``) as text, and what is wrong with those left out, each naming the field. Pure; the
    loader refuses an object with problems, the cluster gateway uses what is readable."""
    data: dict[str, str] = {}
    problems: list[str] = []
    secret = obj.get("kind", "Secret") == "Secret"
    for field in ("data", "stringData") if secret else ("data",):
        values = obj.get(field) or {}
        if not isinstance(values, dict):
            problems.append(f"{field}: must be a mapping")
            continue
        for key, value in values.items():
            if not isinstance(key, str) or not isinstance(value, str):
                problems.append(f"{field}.{key}: must be a string")
                continue
            if field == "data" and secret:
                try:
                    value = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    problems.append(f"data.{key}: must be base64 of UTF-8 text (or use stringData)")
                    continue
            data[key] = value
    return data, problems


def check_references(functions: Iterable[api.Function], triggers: Iterable[api.Trigger], *,
                     files: Mapping[str, str] | None = None) -> list[Problem]:
    """Cross-object rules: triggers name existing functions, HTTP paths are unique.

    ``files`` maps ``Kind/namespace/name`` to the file that declared the object, for the messages.
    """
    files = files or {}
    functions = list(functions)
    known = {f.key for f in functions}
    problems: list[Problem] = []
    paths: dict[str, str] = {}
    for fn in functions:
        dest = fn.spec.async_.on_failure
        if dest is not None and f"{fn.namespace}/{dest.function}" not in known:
            problems.append(Problem(files.get(f"Function/{fn.key}", ""), f"Function/{fn.name}",
                                    f"spec.async.onFailure.function: no Function {dest.function} "
                                    f"in namespace {fn.namespace}"))
    for trig in triggers:
        if f"{trig.namespace}/{trig.spec.function}" not in known:
            problems.append(Problem(files.get(f"Trigger/{trig.key}", ""), f"Trigger/{trig.name}",
                                    f"spec.function: no Function {trig.spec.function} in namespace {trig.namespace}"))
        if trig.spec.http is not None:
            path = trig.spec.http.path.rstrip("/")
            if path in paths:
                problems.append(Problem(files.get(f"Trigger/{trig.key}", ""), f"Trigger/{trig.name}",
                                        f"spec.http.path: {path} is already routed by Trigger/{paths[path]}"))
            paths[path] = trig.name
    return problems
