"""kmock's KubernetesEmulator with the API server semantics kfn's tests rely on.

kmock 0.8 stores objects and serves discovery, but several behaviours of a real API server are
missing (see TESTING.md). This subclass serves every request for a known resource itself, with:

- metadata the server owns: ``uid``, ``resourceVersion`` (one counter for everything),
  ``creationTimestamp``, ``generation`` (bumped on changes outside metadata and status, for
  resources with a status subresource), ``generateName``;
- optimistic concurrency: a write carrying a stale ``metadata.resourceVersion`` gets 409;
- PUT; JSON merge patch; JSON patch (with ``test``); strategic merge patch for built-in kinds
  (lists of named items merged by ``name``, as for containers, env, volumes and ports), refused
  with 415 for custom resources as the API server does; server-side apply is refused (415)
  rather than silently ignored;
- ``/status`` separated from the rest: writes to the object ignore ``status`` and writes to
  ``/status`` change only ``status``; status is dropped on create;
- ``/scale`` as an ``autoscaling/v1`` Scale, read and written through the resource's replica paths;
- lists and watches filtered by ``labelSelector`` and ``fieldSelector`` (``metadata.name``,
  ``metadata.namespace``); watches served as JSON lines, resumed from a ``resourceVersion``
  (410 Gone past the remembered history), ending after ``timeoutSeconds``; an object that stops
  or starts matching a selector is seen as DELETED or ADDED, as on a real server;
- deletion with finalizers (``deletionTimestamp`` first) and the garbage collector's cascade to
  dependents whose every ``ownerReference`` is gone;
- core discovery with ``groupVersion: v1``; a created CustomResourceDefinition is served at once;
  for ``kubectl get``, server-side tables with the CRDs' printer columns.

Everything else (discovery, the HTTP server, request records) is kmock's own.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import datetime
import json
import random
import re
import string
import uuid
from typing import Any, AsyncIterator, Iterable

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml
from kmock._internal import references, rendering

__all__ = ["Emulator", "ScalePaths", "PrinterColumn", "match_labels"]

Obj = dict[str, Any]
HISTORY = 20000
"""Watch events remembered for resuming watches; older resourceVersions get 410 Gone."""


class ApiStatus(Exception):
    """A refusal rendered as a ``metav1.Status``, the way clients expect errors."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> Obj:
        return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


@dataclasses.dataclass(frozen=True)
class ScalePaths:
    """Where a resource keeps what its ``/scale`` subresource shows (the CRD's ``scale`` stanza)."""

    spec_replicas: tuple[str, ...] = ("spec", "replicas")
    status_replicas: tuple[str, ...] = ("status", "replicas")
    selector: tuple[str, ...] | None = None
    """A path holding the selector as a string (CRDs); None means ``spec.selector`` (built-ins)."""


@dataclasses.dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str


@dataclasses.dataclass
class _Event:
    rv: int
    type: str
    old: Obj | None
    new: Obj


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _get(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _set(obj: Obj, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj.setdefault(part, {})
    obj[path[-1]] = value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """A strategic merge patch as far as kfn's objects need it: lists of named items merge by name."""
    if isinstance(patch, dict):
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value)
        return result
    if (isinstance(patch, list) and isinstance(target, list) and patch and target
            and all(isinstance(i, dict) and "name" in i for i in patch + target)):
        merged = {item["name"]: item for item in target}
        order = [item["name"] for item in target]
        for item in patch:
            if item.get("$patch") == "delete":
                merged.pop(item["name"], None)
                continue
            if item["name"] not in merged:
                order.append(item["name"])
            merged[item["name"]] = strategic_merge(merged.get(item["name"]), item)
        return [merged[n] for n in order if n in merged]
    return copy.deepcopy(patch)


# --- selectors --------------------------------------------------------------------------------

_SET_REQ = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def match_labels(selector: str | None, labels: dict[str, str] | None) -> bool:
    """Whether ``labels`` satisfy a label selector string (equality- and set-based)."""
    labels = labels or {}
    for req in _split_selector(selector or ""):
        if m := _SET_REQ.match(req):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and labels.get(key) in values:
                return False
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def _match_fields(selector: str | None, obj: Obj) -> bool:
    for req in _split_selector(selector or ""):
        negate = "!=" in req
        key, value = (s.strip() for s in req.replace("!=", "=").replace("==", "=").split("=", 1))
        actual = _get(obj, key.split("."))
        if (actual == value) == negate:
            return False
    return True


# --- the emulator -----------------------------------------------------------------------------


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    _rv: int = attrs.field(default=1, init=False)  # a real store never lists at version "0"
    history_size: int = HISTORY
    _history: collections.deque[tuple[references.resource, _Event]] = attrs.field(
        factory=collections.deque, init=False)
    _watchers: set[asyncio.Queue[tuple[references.resource, _Event] | None]] = attrs.field(factory=set, init=False)
    _store_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)
    scale_paths: dict[references.resource, ScalePaths] = attrs.field(factory=dict, init=False)
    printer_columns: dict[references.resource, list[PrinterColumn]] = attrs.field(factory=dict, init=False)
    kinds: dict[references.resource, str] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._history = collections.deque(maxlen=self.history_size)
        for plural in ("deployments", "statefulsets", "replicasets"):
            self.scale_paths[references.resource("apps", "v1", plural)] = ScalePaths()

    async def __aexit__(self, *exc: Any) -> None:
        for queue in list(self._watchers):
            queue.put_nowait(None)  # end every watch stream, so the server stops at once
        await super().__aexit__(*exc)

    # --- registration --------------------------------------------------------------------------

    def register_crd(self, crd: Obj) -> references.resource:
        """Serve a CustomResourceDefinition's resource: discovery, subresources, printer columns."""
        spec = crd["spec"]
        [version] = [v for v in spec["versions"] if v.get("storage")]
        resource = references.resource(spec["group"], version["name"], spec["names"]["plural"])
        subresources = version.get("subresources", {})
        self.resources[resource] = kmock.ResourceInfo(
            kind=spec["names"]["kind"], singular=spec["names"]["singular"],
            namespaced=spec["scope"] == "Namespaced", shortnames=spec["names"].get("shortNames", []),
            categories=spec["names"].get("categories", []),
            verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            subresources=set(subresources))
        if "scale" in subresources:
            scale = subresources["scale"]
            self.scale_paths[resource] = ScalePaths(
                spec_replicas=tuple(scale["specReplicasPath"].strip(".").split(".")),
                status_replicas=tuple(scale["statusReplicasPath"].strip(".").split(".")),
                selector=(tuple(scale["labelSelectorPath"].strip(".").split("."))
                          if "labelSelectorPath" in scale else None))
        self.printer_columns[resource] = [
            PrinterColumn(c["name"], c["type"], c["jsonPath"]) for c in version.get("additionalPrinterColumns", [])]
        return resource

    # --- discovery fixes -------------------------------------------------------------------------

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_server_version(request)
        if isinstance(payload, dict):  # a version kubectl 1.32 is within the supported skew of
            payload.update(major="1", minor="31", gitVersion="v1.31.0+kfn-emulator")
        return payload

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and str(payload.get("groupVersion", "")).startswith("/"):
            payload["groupVersion"] = payload["groupVersion"][1:]
        return payload

    # --- request dispatch ------------------------------------------------------------------------

    def _info(self, resource: references.resource) -> kmock.ResourceInfo | None:
        return self.resources[resource] if resource in self.resources else None

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is None or res.plural is None or self._info(res) is None:
            return await super()._handle(request)
        try:
            return await self._serve(request, res)
        except ApiStatus as status:
            return aiohttp.web.json_response(status.body(), status=status.code)

    async def _serve(self, request: rendering.Request, res: references.resource) -> aiohttp.web.StreamResponse:
        info = self._info(res)
        assert info is not None
        method, name, sub = str(request.method.value), request.name, request.subresource
        if sub is not None and sub not in info.subresources:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({sub})")
        if request.params.get("watch") in ("true", "1"):
            return await self._watch(request, res)
        if name is None:
            if method == "GET":
                return self._respond(request, res, self._list(request, res))
            if method == "POST":
                async with self._store_lock:
                    return aiohttp.web.json_response(self._create(request, res, self._body(request)), status=201)
            raise ApiStatus(405, "MethodNotAllowed", f"{method} is not supported on a collection here")
        key = (res, request.namespace, name)
        async with self._store_lock:
            if method == "GET":
                obj = self._current(key)
                return aiohttp.web.json_response(self._scale(res, obj) if sub == "scale" else obj)
            if method == "DELETE":
                return aiohttp.web.json_response(self._delete(key))
            if method == "PUT":
                return aiohttp.web.json_response(self._write(key, sub, lambda old: self._body(request)))
            if method == "PATCH":
                return aiohttp.web.json_response(self._write(key, sub, lambda old: self._patched(request, res, old)))
        raise ApiStatus(405, "MethodNotAllowed", f"{method} is not supported")

    def _body(self, request: rendering.Request) -> Obj:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise ApiStatus(400, "BadRequest", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiStatus(400, "BadRequest", "the body must be an object")
        return body

    def _patched(self, request: rendering.Request, res: references.resource, old: Obj) -> Obj:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        custom = "." in (res.group or "") and not (res.group or "").endswith(".k8s.io")
        if content_type == "application/merge-patch+json":
            return merge_patch(old, self._body(request))
        if content_type == "application/strategic-merge-patch+json":
            if custom:
                raise ApiStatus(415, "UnsupportedMediaType",
                                "strategic merge patch is not supported for custom resources")
            return strategic_merge(old, self._body(request))
        if content_type == "application/json-patch+json":
            try:
                ops = json.loads(request.body)
                return jsonpatch.apply_patch(old, ops)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiStatus(422, "Invalid", f"the test operation failed: {exc}") from None
            except (ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiStatus(422, "Invalid", f"invalid JSON patch: {exc}") from None
        if content_type == "application/apply-patch+yaml":
            yaml.safe_load(request.body)  # a malformed body is still a 400 below
            raise ApiStatus(415, "UnsupportedMediaType", "server-side apply is not emulated")
        raise ApiStatus(415, "UnsupportedMediaType", f"the patch content type {content_type!r} is not supported")

    # --- the store -------------------------------------------------------------------------------

    def _objects_of(self, res: references.resource) -> list[tuple[tuple[Any, ...], Obj]]:
        return [(key, obj.raw) for key, obj in self.objects.items() if key[0] == res and not obj.deleted]

    def _current(self, key: tuple[Any, ...]) -> Obj:
        if key not in self.objects or self.objects[key].deleted:
            raise ApiStatus(404, "NotFound", f'{key[0].plural} "{key[2]}" not found')
        return copy.deepcopy(self.objects[key].raw)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _has_generation(self, res: references.resource) -> bool:
        info = self._info(res)
        return info is not None and "status" in info.subresources

    def _emit(self, res: references.resource, event: _Event) -> None:
        self._history.append((res, event))
        for queue in self._watchers:
            queue.put_nowait((res, event))

    def _kind(self, res: references.resource) -> str:
        info = self._info(res)
        return info.kind if info is not None and info.kind else (res.plural or "").capitalize()

    def _api_version(self, res: references.resource) -> str:
        return f"{res.group}/{res.version}" if res.group else str(res.version)

    def _create(self, request: rendering.Request, res: references.resource, body: Obj) -> Obj:
        info = self._info(res)
        meta = body.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiStatus(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        namespace = request.namespace if info is not None and info.namespaced else None
        if namespace is not None and meta.get("namespace", namespace) != namespace:
            raise ApiStatus(400, "BadRequest", "the namespace of the object does not match the namespace of the URL")
        key = (res, namespace, meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            raise ApiStatus(409, "AlreadyExists", f'{res.plural} "{meta["name"]}" already exists')
        if namespace is not None:
            meta["namespace"] = namespace
        rv = self._next_rv()
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(rv), creationTimestamp=_now())
        meta.pop("deletionTimestamp", None)
        body.setdefault("apiVersion", self._api_version(res))
        body.setdefault("kind", self._kind(res))
        if self._has_generation(res):
            meta["generation"] = 1
            body.pop("status", None)
        if res == references.resource("apps", "v1", "deployments"):
            body.setdefault("spec", {}).setdefault("replicas", 1)
        if key in self.objects:
            self.objects[key].history.append(body)
        else:
            self.objects[key] = body
        self._emit(res, _Event(rv, "ADDED", None, copy.deepcopy(body)))
        if res == references.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions"):
            self.register_crd(body)  # served at once, as the API server does once it is Established
        return copy.deepcopy(body)

    def _write(self, key: tuple[Any, ...], sub: str | None, change: Any) -> Obj:
        res = key[0]
        old = self._current(key)
        if sub == "scale":
            scale = change(self._scale(res, old))
            wanted_rv = _get(scale, ("metadata", "resourceVersion"))
            replicas = _get(scale, ("spec", "replicas"))
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiStatus(422, "Invalid", "spec.replicas must be a non-negative integer")
            new = copy.deepcopy(old)
            _set(new, self.scale_paths[res].spec_replicas, replicas)
            new["metadata"]["resourceVersion"] = wanted_rv or old["metadata"]["resourceVersion"]
            return self._scale(res, self._commit(key, old, new))
        new = change(copy.deepcopy(old))
        if not isinstance(new, dict):
            raise ApiStatus(422, "Invalid", "the result is not an object")
        info = self._info(res)
        if info is not None and "status" in info.subresources:
            if sub == "status":
                proposed, new = new, copy.deepcopy(old)
                new.pop("status", None)
                if proposed.get("status") is not None:
                    new["status"] = proposed["status"]
                # The precondition (a resourceVersion in the body) still applies.
                new["metadata"]["resourceVersion"] = (_get(proposed, ("metadata", "resourceVersion"))
                                                      or old["metadata"]["resourceVersion"])
            else:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        return self._commit(key, old, new)

    def _commit(self, key: tuple[Any, ...], old: Obj, new: Obj, deleting: bool = False) -> Obj:
        res = key[0]
        old_meta, meta = old["metadata"], new.setdefault("metadata", {})
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
            raise ApiStatus(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{key[2]}": '
                            "the object has been modified; please apply your changes to the latest version "
                            "and try again")
        for field in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"):
            if field == "deletionTimestamp" and deleting and field not in old_meta:
                continue
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if self._has_generation(res):
            strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}  # noqa: E731
            meta["generation"] = old_meta.get("generation", 1) + (strip(old) != strip(new))
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            return new  # a no-op write changes nothing, not even the resourceVersion
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key, new, rv)
            return new
        self.objects[key].history.append(new)
        self._emit(res, _Event(rv, "MODIFIED", old, copy.deepcopy(new)))
        return copy.deepcopy(new)

    def _delete(self, key: tuple[Any, ...]) -> Obj:
        obj = self._current(key)
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = _now()
                return self._commit(key, obj, new, deleting=True)
            return obj
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._remove(key, obj, rv)
        return obj

    def _remove(self, key: tuple[Any, ...], obj: Obj, rv: int) -> None:
        self.objects[key].history.append(obj)
        self.objects[key].delete()
        self._emit(key[0], _Event(rv, "DELETED", obj, copy.deepcopy(obj)))
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """The garbage collector, in the foreground: dependents whose every owner is gone go too."""
        alive = {obj.raw["metadata"].get("uid") for _, obj in self.objects.items() if not obj.deleted}
        for key, obj in list(self.objects.items()):
            if obj.deleted:
                continue
            owners = obj.raw["metadata"].get("ownerReferences") or []
            if owners and not any(o.get("uid") in alive for o in owners):
                self._delete(key)

    def _scale(self, res: references.resource, obj: Obj) -> Obj:
        paths = self.scale_paths.get(res)
        if paths is None:
            raise ApiStatus(404, "NotFound", f"{res.plural} have no scale subresource")
        if paths.selector is not None:
            selector = _get(obj, paths.selector) or ""
        else:
            labels = _get(obj, ("spec", "selector", "matchLabels")) or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        meta = obj["metadata"]
        return {
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": _get(obj, paths.spec_replicas) or 0},
            "status": {"replicas": _get(obj, paths.status_replicas) or 0, "selector": selector},
        }

    # --- reading ---------------------------------------------------------------------------------

    def _matches(self, request: rendering.Request, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        if request.name is not None and meta.get("name") != request.name:
            return False
        return (match_labels(request.params.get("labelSelector"), meta.get("labels"))
                and _match_fields(request.params.get("fieldSelector"), obj))

    def _list(self, request: rendering.Request, res: references.resource) -> Obj:
        items = [obj for _, obj in self._objects_of(res) if self._matches(request, obj)]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return {"apiVersion": self._api_version(res), "kind": f"{self._kind(res)}List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _respond(self, request: rendering.Request, res: references.resource, listing: Obj) -> aiohttp.web.Response:
        if "as=Table" in request.headers.get("Accept", "") and res in self.printer_columns:
            return aiohttp.web.json_response(self._table(res, listing["items"], listing["metadata"]))
        return aiohttp.web.json_response(listing)

    def _table(self, res: references.resource, items: list[Obj], meta: Obj) -> Obj:
        columns = [PrinterColumn("Name", "string", ".metadata.name"), *self.printer_columns[res]]
        return {
            "apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": meta,
            "columnDefinitions": [{"name": c.name, "type": c.type, "format": "name" if c.name == "Name" else "",
                                   "description": "", "priority": 0} for c in columns],
            "rows": [{"cells": [_cell(c, item) for c in columns],
                      "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": item["metadata"]}} for item in items],
        }

    # --- watching --------------------------------------------------------------------------------

    async def _watch(self, request: rendering.Request, res: references.resource) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        since = request.params.get("resourceVersion", "")
        timeout = float(request.params.get("timeoutSeconds") or 1800)
        queue: asyncio.Queue[tuple[references.resource, _Event] | None] = asyncio.Queue()
        # Snapshot and subscription in one step (no await in between), so no event falls between.
        if since in ("", "0"):
            backlog = [{"type": "ADDED", "object": obj} for _, obj in self._objects_of(res)
                       if self._matches(request, obj)]
        else:
            oldest = self._history[0][1].rv if self._history else self._rv + 1
            if int(since) < oldest - 1 and int(since) < self._rv:
                backlog = [{"type": "ERROR", "object": ApiStatus(
                    410, "Expired", f"too old resource version: {since} ({oldest - 1})").body()}]
            else:
                backlog = [e for r, ev in self._history if r == res and ev.rv > int(since)
                           for e in [self._translate(request, ev)] if e is not None]
        self._watchers.add(queue)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(raw)
            for event in backlog:
                await response.write(json.dumps(event).encode() + b"\n")
            if backlog and backlog[0]["type"] == "ERROR":
                return response
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    break
                item_res, ev = item
                if item_res != res:
                    continue
                event = self._translate(request, ev)
                if event is not None:
                    await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.discard(queue)
        return response

    def _translate(self, request: rendering.Request, ev: _Event) -> Obj | None:
        was, now = self._matches(request, ev.old), self._matches(request, ev.new)
        if ev.type == "DELETED":
            return {"type": "DELETED", "object": ev.new} if now or was else None
        if was and now:
            return {"type": ev.type, "object": ev.new}
        if now:
            return {"type": "ADDED", "object": ev.new}
        if was:
            return {"type": "DELETED", "object": ev.new}
        return None


def _cell(column: PrinterColumn, item: Obj) -> Any:
    value = _json_path(item, column.json_path)
    if column.type == "date" and isinstance(value, str):
        try:
            then = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return value
        seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
        return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"
    return "<none>" if value is None else value


_FILTER = re.compile(r'^(\w+)\[\?\(@\.(\w+)==["\']([^"\']*)["\']\)\]$')


def _json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: dotted fields and one ``[?(@.k=="v")]`` filter."""
    for part in re.findall(r"[^.\[]+(?:\[[^\]]*\])?", path):
        if m := _FILTER.match(part):
            items = obj.get(m.group(1)) if isinstance(obj, dict) else None
            obj = next((i for i in items or [] if isinstance(i, dict) and i.get(m.group(2)) == m.group(3)), None)
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


async def stream_lines(response: aiohttp.ClientResponse) -> AsyncIterator[Obj]:
    """Helper for tests that read a watch stream directly."""
    async for line in response.content:
        if line.strip():
            yield json.loads(line)
