"""desired_replicas, the one scaling decision: pure, no I/O, table-driven.

Asserted: ceil(load / target) within [minReplicas, maxReplicas]; a recently used function keeps
one replica; zero only after scaleToZeroAfterSeconds without requests.
"""

import pytest

from kfn import api, scaling


def spec(**over):
    obj = {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "f"},
           "spec": {"runtime": "python3.11", "handler": "app.handler", "code": {"inline": "x"}, **over}}
    return api.parse_function(obj).spec


def stats(in_flight=0, peak=0, last=None, replicas=0):
    return scaling.ScalingStats(in_flight=in_flight, peak_in_flight=peak, last_request_at=last, replicas=replicas)


@pytest.mark.parametrize("s, kw, now, expected", [
    (stats(), {}, 100.0, 0),                                         # never used: zero
    (stats(in_flight=1, last=100.0), {}, 100.0, 1),                  # first request: 0 -> 1
    (stats(in_flight=10, last=100.0, replicas=1), {}, 100.0, 1),     # target defaults to perReplica (10)
    (stats(in_flight=11, last=100.0, replicas=1), {}, 100.0, 2),
    (stats(in_flight=5, last=100.0), {"scaling": {"targetConcurrency": 2}}, 100.0, 3),
    (stats(in_flight=0, peak=25, last=99.0, replicas=3), {}, 100.0, 3),  # a burst in the window counts
    (stats(in_flight=500, last=100.0), {"scaling": {"maxReplicas": 4}}, 100.0, 4),
    (stats(), {"scaling": {"minReplicas": 2}}, 100.0, 2),
    (stats(last=50.0, replicas=2), {"scaling": {"scaleToZeroAfterSeconds": 60}}, 100.0, 1),  # idle 50 s < 60
    (stats(last=40.0, replicas=2), {"scaling": {"scaleToZeroAfterSeconds": 60}}, 100.0, 0),  # idle 60 s
    (stats(last=40.0, replicas=2), {"scaling": {"scaleToZeroAfterSeconds": 60, "minReplicas": 1}}, 100.0, 1),
    (stats(in_flight=1, last=0.0, replicas=1), {"scaling": {"scaleToZeroAfterSeconds": 1}}, 100.0, 1),  # long request
    (stats(last=99.5, replicas=0), {"scaling": {"scaleToZeroAfterSeconds": 1}}, 100.0, 0),  # nothing to keep warm
])
def test_desired_replicas(s, kw, now, expected):
    assert scaling.desired_replicas(s, spec(**kw), now) == expected


def test_never_exceeds_bounds_for_any_load():
    sp = spec(scaling={"minReplicas": 1, "maxReplicas": 7, "targetConcurrency": 3})
    for load in range(0, 200, 7):
        got = scaling.desired_replicas(stats(in_flight=load, last=1.0, replicas=2), sp, 2.0)
        assert 1 <= got <= 7
        assert got == max(1, min(7, -(-load // 3)))


def test_provided_runtimes_take_one_invocation_per_replica():
    obj = {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "f"},
           "spec": {"runtime": "provided.al2023", "code": {"inline": "#!/bin/sh"},
                    "concurrency": {"perReplica": 10}, "scaling": {"maxReplicas": 5}}}
    sp = api.parse_function(obj).spec
    assert sp.per_replica == 1 and sp.target_concurrency == 1
    assert scaling.desired_replicas(stats(in_flight=3, last=1.0), sp, 1.0) == 3
