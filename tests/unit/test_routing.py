"""Trigger http.path routing: whole-segment prefix matching, longest first. Pure."""

from kfn import api
from kfn_gateway.routing import RouteTable


def trigger(name, path, methods=()):
    return api.parse_trigger({"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger", "metadata": {"name": name},
                              "spec": {"function": "f-" + name, "http": {"path": path, "methods": list(methods)}}})


def test_longest_prefix_on_segments():
    table = RouteTable([trigger("a", "/api"), trigger("b", "/api/v2/"), trigger("c", "/apix")])
    assert table.match("/api").trigger == "a"
    assert table.match("/api/v1/x").trigger == "a"
    assert table.match("/api/v2").trigger == "b"
    assert table.match("/api/v2/items").trigger == "b"
    assert table.match("/apix").trigger == "c"
    assert table.match("/apiz") is None
    assert table.match("/") is None


def test_methods_and_function_key():
    route = RouteTable([trigger("a", "/x", ["post", "GET"])]).match("/x")
    assert route.methods == frozenset({"POST", "GET"}) and route.function_key == "default/f-a"
