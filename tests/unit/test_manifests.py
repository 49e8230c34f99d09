"""kfn.manifests.load_dir: reading a directory of YAML, all or nothing.

Real: files written to pytest's tmp_path, PyYAML, kfn.api; nothing faked. Asserted: what a good
directory yields (objects, defaults, the folder each Function came from); that any problem makes
the whole load fail with ManifestError, nothing returned, and that every problem is listed as
``file: Kind/name: field: message``; cross-object rules (a Trigger's function, onFailure, unique
HTTP paths); objects that are not kfn's are left alone.
"""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from kfn import api, manifests

HELLO = """\
apiVersion: kfn.dev/v1alpha1
kind: Function
metadata:
  name: hello
spec:
  runtime: python3.12
  handler: app.handler
  code:
    path: .
"""

HELLO_HTTP = """\
apiVersion: kfn.dev/v1alpha1
kind: Trigger
metadata:
  name: hello-http
spec:
  function: hello
  http:
    path: /hello
"""


def fn_yaml(name: str, *, namespace: str | None = None, extra: str = "") -> str:
    meta = f"\n  namespace: {namespace}" if namespace else ""
    return (f"apiVersion: kfn.dev/v1alpha1\nkind: Function\nmetadata:\n  name: {name}{meta}\n"
            f"spec:\n  runtime: python3.12\n  handler: app.handler\n  code:\n    inline: 'x'\n"
            + textwrap.indent(textwrap.dedent(extra), "  "))


def trigger_yaml(name: str, function: str, *, path: str | None = None, bucket: str | None = None,
                 namespace: str | None = None) -> str:
    meta = f"\n  namespace: {namespace}" if namespace else ""
    kind = f"  http:\n    path: {path}\n" if path else f"  s3:\n    bucket: {bucket}\n"
    return (f"apiVersion: kfn.dev/v1alpha1\nkind: Trigger\nmetadata:\n  name: {name}{meta}\n"
            f"spec:\n  function: {function}\n" + kind)


def write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems(root: pathlib.Path) -> list[str]:
    """Every problem load_dir reports, as printed; fails when the load succeeds."""
    with pytest.raises(manifests.ManifestError) as info:
        manifests.load_dir(root)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


# --- good directories -------------------------------------------------------------------------


def test_multi_document_file(tmp_path):
    write(tmp_path, {"function.yaml": HELLO + "---\n" + HELLO_HTTP + "---\n" + fn_yaml("echo")})
    loaded = manifests.load_dir(tmp_path)
    assert sorted(loaded.functions) == ["default/echo", "default/hello"]
    assert list(loaded.triggers) == ["default/hello-http"]
    assert isinstance(loaded.functions["default/hello"], api.Function)
    assert loaded.triggers["default/hello-http"].spec.http.path == "/hello"


def test_namespace_defaults_to_default(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("a"), "b.yml": fn_yaml("b", namespace="team")})
    loaded = manifests.load_dir(tmp_path)
    assert loaded.functions["default/a"].namespace == "default"
    assert loaded.functions["team/b"].namespace == "team"


def test_defaults_are_applied(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("a")})
    spec = manifests.load_dir(tmp_path).functions["default/a"].spec
    assert (spec.timeout_seconds, spec.memory_mib, spec.scaling.max_replicas) == (3, 128, 10)


def test_sources_are_the_declaring_folders(tmp_path):
    write(tmp_path, {"hello/function.yaml": HELLO, "deep/er/echo.yaml": fn_yaml("echo")})
    loaded = manifests.load_dir(tmp_path)
    assert loaded.sources == {"default/hello": tmp_path / "hello", "default/echo": tmp_path / "deep" / "er"}


def test_a_single_file(tmp_path):
    path = write(tmp_path, {"function.yaml": HELLO + "---\n" + HELLO_HTTP}) / "function.yaml"
    loaded = manifests.load_dir(path)
    assert list(loaded.functions) == ["default/hello"] and loaded.sources["default/hello"] == tmp_path


def test_other_files_and_objects_are_ignored(tmp_path):
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tokens\nstringData:\n  a: b\n"
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    write(tmp_path, {
        "function.yaml": HELLO + "---\n" + secret + "---\n" + deployment,
        "app.py": "def handler(event, context): ...\n",
        "README.md": "# hello\n",
        "settings.json": "{not yaml: [",
        "empty.yaml": "",
        "comments.yaml": "# nothing here\n---\n",
    })
    loaded = manifests.load_dir(tmp_path)
    assert list(loaded.functions) == ["default/hello"] and loaded.triggers == {}


def test_the_examples_load():
    examples = pathlib.Path(__file__).resolve().parents[2] / "examples"
    loaded = manifests.load_dir(examples)
    assert {"default/hello", "default/orders"} <= set(loaded.functions)
    assert all(t.spec.function in {f.name for f in loaded.functions.values()} for t in loaded.triggers.values())


# --- problems ---------------------------------------------------------------------------------


def test_invalid_object_names_file_object_and_field(tmp_path):
    write(tmp_path, {"fn.yaml": fn_yaml("hello", extra="timeoutSeconds: 901\n")})
    assert problems(tmp_path) == [f"{tmp_path / 'fn.yaml'}: Function/hello: spec.timeoutSeconds: must be ≤ 900"]


def test_every_error_of_every_object_is_listed(tmp_path):
    write(tmp_path, {
        "a.yaml": fn_yaml("a", extra="timeoutSeconds: 0\nmemoryMiB: 64\n"),
        "b.yaml": trigger_yaml("Bad", "a", path="/fn/x"),
    })
    assert problems(tmp_path) == [
        f"{tmp_path / 'a.yaml'}: Function/a: spec.timeoutSeconds: must be ≥ 1",
        f"{tmp_path / 'a.yaml'}: Function/a: spec.memoryMiB: must be ≥ 128",
        f"{tmp_path / 'b.yaml'}: Trigger/Bad: metadata.name: must be a DNS-1123 label: lower-case letters, "
        "digits and '-', starting and ending with a letter or digit",
        f"{tmp_path / 'b.yaml'}: Trigger/Bad: spec.http.path: is served by the gateway itself (/, /fn/, "
        "/events/, /2015-03-31/, /healthz, /readyz, /metrics, /stats)",
    ]


def test_one_bad_object_fails_the_whole_load(tmp_path):
    write(tmp_path, {"good.yaml": HELLO + "---\n" + HELLO_HTTP, "bad.yaml": fn_yaml("bad", extra="memoryMiB: 1\n")})
    found = problems(tmp_path)
    assert found == [f"{tmp_path / 'bad.yaml'}: Function/bad: spec.memoryMiB: must be ≥ 128"]


def test_bad_yaml_names_the_file(tmp_path):
    write(tmp_path, {"good.yaml": HELLO, "broken.yaml": "apiVersion: kfn.dev/v1alpha1\nkind: [Function\n"})
    [found] = problems(tmp_path)
    assert found.startswith(f"{tmp_path / 'broken.yaml'}: cannot be read as YAML: ")
    assert "\n" not in found


def test_undecodable_file(tmp_path):
    write(tmp_path, {"good.yaml": HELLO})
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    [found] = problems(tmp_path)
    assert found.startswith(f"{tmp_path / 'latin1.yaml'}: cannot be read as YAML: ")


def test_a_document_that_is_not_a_mapping(tmp_path):
    write(tmp_path, {"good.yaml": HELLO, "list.yaml": fn_yaml("echo") + "---\n- a\n- b\n"})
    assert problems(tmp_path) == [f"{tmp_path / 'list.yaml'}: document 2: must be a mapping (a YAML object)"]


def test_object_declared_twice(tmp_path):
    write(tmp_path, {"a.yaml": HELLO, "b.yaml": HELLO})
    assert problems(tmp_path) == [f"{tmp_path / 'b.yaml'}: Function/hello: default/hello is declared twice"]


def test_same_name_in_two_namespaces_is_fine(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("hello"), "b.yaml": fn_yaml("hello", namespace="other")})
    assert sorted(manifests.load_dir(tmp_path).functions) == ["default/hello", "other/hello"]


def test_a_function_and_a_trigger_may_share_a_name(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("hello") + "---\n" + trigger_yaml("hello", "hello", path="/hello")})
    assert list(manifests.load_dir(tmp_path).triggers) == ["default/hello"]


def test_trigger_naming_a_missing_function(tmp_path):
    write(tmp_path, {"a.yaml": HELLO, "t.yaml": trigger_yaml("orphan", "nowhere", bucket="uploads")})
    assert problems(tmp_path) == [
        f"{tmp_path / 't.yaml'}: Trigger/orphan: spec.function: no Function nowhere in namespace default"]


def test_trigger_and_function_in_different_namespaces(tmp_path):
    write(tmp_path, {"a.yaml": HELLO, "t.yaml": trigger_yaml("t", "hello", path="/t", namespace="other")})
    assert problems(tmp_path) == [
        f"{tmp_path / 't.yaml'}: Trigger/t: spec.function: no Function hello in namespace other"]


def test_on_failure_to_a_missing_function(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("a", extra="async:\n  onFailure:\n    function: dead-letters\n")})
    assert problems(tmp_path) == [
        f"{tmp_path / 'a.yaml'}: Function/a: spec.async.onFailure.function: no Function dead-letters "
        "in namespace default"]


def test_on_failure_to_an_existing_function(tmp_path):
    write(tmp_path, {"a.yaml": fn_yaml("a", extra="async:\n  onFailure:\n    function: dead-letters\n"),
                     "dl.yaml": fn_yaml("dead-letters")})
    assert manifests.load_dir(tmp_path).functions["default/a"].spec.async_.on_failure.function == "dead-letters"


@pytest.mark.parametrize("first, second", [("/hello", "/hello"), ("/hello", "/hello/")])
def test_duplicate_http_paths(tmp_path, first, second):
    write(tmp_path, {"a.yaml": HELLO, "t.yaml": trigger_yaml("one", "hello", path=first) + "---\n"
                     + trigger_yaml("two", "hello", path=second)})
    assert problems(tmp_path) == [
        f"{tmp_path / 't.yaml'}: Trigger/two: spec.http.path: /hello is already routed by Trigger/one"]


def test_distinct_http_paths_and_s3_triggers(tmp_path):
    write(tmp_path, {"a.yaml": HELLO, "t.yaml": trigger_yaml("one", "hello", path="/hello") + "---\n"
                     + trigger_yaml("two", "hello", path="/hello/two") + "---\n"
                     + trigger_yaml("three", "hello", bucket="uploads") + "---\n"
                     + trigger_yaml("four", "hello", bucket="uploads")})
    assert len(manifests.load_dir(tmp_path).triggers) == 4


def test_empty_directory(tmp_path):
    assert problems(tmp_path) == [f"{tmp_path}: no *.yaml or *.yml files found"]


def test_directory_without_functions(tmp_path):
    write(tmp_path, {"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"})
    assert problems(tmp_path) == [f"{tmp_path}: no kfn.dev/v1alpha1 Function found"]


def test_directory_that_does_not_exist(tmp_path):
    assert problems(tmp_path / "missing") == [f"{tmp_path / 'missing'}: no such file or directory"]


def test_oversized_file(tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 64)
    write(tmp_path, {"a.yaml": HELLO})
    assert problems(tmp_path) == [f"{tmp_path / 'a.yaml'}: larger than 64 bytes"]


def test_check_references_without_files():
    fn = api.parse_function({"apiVersion": api.API_VERSION, "kind": "Function", "metadata": {"name": "f"},
                             "spec": {"runtime": "provided", "code": {"image": "r/f:1"}}})
    trig = api.parse_trigger({"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": "t"},
                              "spec": {"function": "g", "s3": {"bucket": "uploads"}}})
    assert [str(p) for p in manifests.check_references([fn], [trig])] == [
        "Trigger/t: spec.function: no Function g in namespace default"]
    assert manifests.check_references([fn], []) == []


def test_unknown_kfn_versions_and_kinds_are_errors_not_ignored(tmp_path):
    """A typo in apiVersion or kind must not make an object silently disappear."""
    (tmp_path / "f.yaml").write_text(
        "apiVersion: kfn.dev/v1beta1\nkind: Function\nmetadata: {name: f}\n"
        "spec: {runtime: python3.11, handler: a.h, code: {inline: x}}\n---\n"
        "apiVersion: kfn.dev/v1alpha1\nkind: Fucntion\nmetadata: {name: g}\n")
    with pytest.raises(manifests.ManifestError) as info:
        manifests.load_dir(tmp_path)
    assert "apiVersion: kfn.dev/v1beta1 is not served; use kfn.dev/v1alpha1" in str(info.value)
    assert "kind: Fucntion is not a kfn.dev/v1alpha1 kind (Function, Trigger)" in str(info.value)
