"""Parsing S3 notifications and matching their records to Triggers: pure, no I/O.

Asserted: the shapes stores send (AWS, MinIO's wrapper, Ceph, moto's URL-encoded keys, the test
event) parse, malformed ones fail naming the field; ``match`` honours bucket, event names with
and without ``s3:`` and wildcards, prefix/suffix on the decoded key; and (hypothesis) on any
JSON-like input the parser raises nothing but S3EventError and ``match`` returns a bool.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfn import api
from kfn_gateway import s3events


def record(key: str = "images/cat.jpg", bucket: str = "uploads", name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10}}}


def s3_trigger(bucket: str = "uploads", events: tuple[str, ...] = ("s3:ObjectCreated:*",), prefix: str = "",
               suffix: str = "") -> api.S3Trigger:
    return api.S3Trigger(bucket=bucket, events=events, filter=api.S3Filter(prefix=prefix, suffix=suffix))


# --- parsing ----------------------------------------------------------------------------------


def test_aws_records():
    notification = s3events.parse_notification({"Records": [record(), record("b.png")]})
    assert [r["s3"]["object"]["key"] for r in notification.records] == ["images/cat.jpg", "b.png"]
    assert not notification.test_event


def test_minio_wrapper():
    body = {"EventName": "s3:ObjectCreated:Put", "Key": "uploads/images/cat.jpg",
            "Records": [{**record(name="s3:ObjectCreated:Put"), "eventSource": "minio:s3",
                         "source": {"host": "127.0.0.1"}}]}
    [parsed] = s3events.parse_notification(body).records
    assert parsed is body["Records"][0]  # passed on untouched


@pytest.mark.parametrize("body", [
    {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00Z", "Bucket": "uploads"},
    {"EventName": "s3:TestEvent"},
])
def test_test_event(body):
    notification = s3events.parse_notification(body)
    assert notification.test_event and notification.records == ()


def test_empty_records_is_valid():
    assert s3events.parse_notification({"Records": []}).records == ()


@pytest.mark.parametrize("body, field", [
    (None, "body"),
    ([record()], "body"),
    ({}, "Records"),
    ({"Records": {}}, "Records"),
    ({"Records": ["x"]}, "Records[0]"),
    ({"Records": [{"s3": {}}]}, "Records[0].eventName"),
    ({"Records": [{"eventName": 1, "s3": {}}]}, "Records[0].eventName"),
    ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "Records[0].s3"),
    ({"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]}, "Records[0].s3"),
    ({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "k"}}}]}, "Records[0].s3.bucket"),
    ({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": 3}, "object": {"key": "k"}}}]},
     "Records[0].s3.bucket.name"),
    ({"Records": [record(), {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]},
     "Records[1].s3.object.key"),
    ({"Records": [{**record(), "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "size": "10"}}}]},
     "Records[0].s3.object.size"),
    ({"Records": [{**record(), "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "size": True}}}]},
     "Records[0].s3.object.size"),
    ({"Records": [record()] * (s3events.MAX_RECORDS + 1)}, "Records"),
])
def test_malformed_notifications_name_the_field(body, field):
    with pytest.raises(s3events.S3EventError) as info:
        s3events.parse_notification(body)
    assert str(info.value).split(":")[0] == field


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger, rec, expected", [
    (s3_trigger(), record(), True),
    (s3_trigger(bucket="other"), record(), False),
    (s3_trigger(events=("ObjectCreated:*",)), record(name="s3:ObjectCreated:Put"), True),
    (s3_trigger(events=("s3:ObjectCreated:Put",)), record(name="ObjectCreated:Put"), True),
    (s3_trigger(events=("s3:ObjectCreated:Put",)), record(name="ObjectCreated:Copy"), False),
    (s3_trigger(events=("s3:ObjectRemoved:*",)), record(name="ObjectCreated:Put"), False),
    (s3_trigger(events=("s3:ObjectRemoved:*",)), record(name="ObjectRemoved:DeleteMarkerCreated"), True),
    (s3_trigger(events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*")), record(name="ObjectRemoved:Delete"), True),
    (s3_trigger(events=("s3:ObjectRestore:*",)), record(name="ObjectRestore:Completed"), True),
    (s3_trigger(events=("s3:ObjectCreated:*",)), record(name="ObjectCreatedX:Put"), False),
    (s3_trigger(suffix=".jpg"), record("a.jpg"), True),
    (s3_trigger(suffix=".jpg"), record("a.JPG"), False),
    (s3_trigger(suffix=".jpg"), record("a.jpg.png"), False),
    (s3_trigger(prefix="images/"), record("images%2Fcat.jpg"), True),        # decoded before filtering
    (s3_trigger(prefix="my images/"), record("my+images/cat.jpg"), True),     # '+' is a space
    (s3_trigger(suffix="+1.jpg"), record("cat%2B1.jpg"), True),               # an encoded '+' is a '+'
    (s3_trigger(prefix="images/", suffix=".jpg"), record("images/a.png"), False),
    (s3_trigger(prefix="images/", suffix=".jpg"), record("docs/a.jpg"), False),
    (s3_trigger(prefix="ab", suffix="bc"), record("abc"), True),             # overlapping filters, as S3 does
])
def test_match(trigger, rec, expected):
    assert s3events.match(trigger, rec) is expected


def test_fanout_one_invocation_per_matching_pair_in_record_order():
    def trig(name: str, **s3: Any) -> api.Trigger:
        return api.parse_trigger({"apiVersion": api.API_VERSION, "kind": "Trigger", "metadata": {"name": name},
                                  "spec": {"function": "fn", "s3": {"bucket": "uploads", **s3}}})

    jpg, removed = trig("jpg", filter={"suffix": ".jpg"}), trig("removed", events=["s3:ObjectRemoved:*"])
    everything = trig("all", events=["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
    records = (record("a.jpg"), record("a.png"), record("a.jpg", name="ObjectRemoved:Delete"))
    pairs = s3events.fanout([jpg, removed, everything], records)
    assert [(t.name, r["s3"]["object"]["key"], r["eventName"]) for t, r in pairs] == [
        ("jpg", "a.jpg", "ObjectCreated:Put"), ("all", "a.jpg", "ObjectCreated:Put"),
        ("all", "a.png", "ObjectCreated:Put"),
        ("removed", "a.jpg", "ObjectRemoved:Delete"), ("all", "a.jpg", "ObjectRemoved:Delete")]


# --- properties -------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=12)
KEYS = st.text(max_size=30) | st.text(max_size=30).map(quote_plus)
EVENT_NAMES = st.sampled_from(["ObjectCreated:Put", "s3:ObjectCreated:Copy", "ObjectRemoved:Delete", "s3:TestEvent",
                               "", "s3:", "[x]", "ObjectCreated:*"]) | st.text(max_size=20)


@st.composite
def near_records(draw: st.DrawFn) -> Any:
    """Records that are often valid and often wrong in one place."""
    rec: dict[str, Any] = {"eventName": draw(EVENT_NAMES | JSON),
                           "s3": {"bucket": {"name": draw(st.sampled_from(["uploads", "other"]) | JSON)},
                                  "object": {"key": draw(KEYS | JSON)}}}
    if draw(st.booleans()):
        rec["s3"]["object"]["size"] = draw(st.integers() | JSON)
    if draw(st.booleans()):
        rec = draw(st.sampled_from([rec, rec["s3"], {"s3": rec["s3"]}, [rec]]))
    return rec


BODIES = (JSON | st.fixed_dictionaries({"Records": st.lists(near_records(), max_size=4) | JSON})
          | st.fixed_dictionaries({"EventName": EVENT_NAMES | JSON, "Key": KEYS, "Records": st.lists(near_records(), max_size=3)})
          | st.fixed_dictionaries({"Event": st.sampled_from(["s3:TestEvent"]) | JSON}))
TRIGGERS = st.builds(
    s3_trigger, bucket=st.sampled_from(["uploads", "other"]),
    events=st.lists(st.sampled_from(["s3:ObjectCreated:*", "ObjectRemoved:*", "s3:ObjectCreated:Put",
                                     "ObjectCreated"]), min_size=1, max_size=3).map(tuple),
    prefix=st.text(max_size=5), suffix=st.text(max_size=5))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(body=BODIES, trigger=TRIGGERS)
def test_parser_and_matcher_never_raise_anything_else(body, trigger):
    try:
        notification = s3events.parse_notification(body)
    except s3events.S3EventError:
        return
    for rec in notification.records:
        assert isinstance(s3events.match(trigger, rec), bool)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(key=st.text(max_size=40), prefix=st.text(max_size=4), suffix=st.text(max_size=4))
def test_filters_apply_to_the_decoded_key(key, prefix, suffix):
    rec = record(quote_plus(key))
    expected = key.startswith(prefix) and key.endswith(suffix)
    assert s3events.match(s3_trigger(prefix=prefix, suffix=suffix), rec) is expected
    assert unquote_plus(rec["s3"]["object"]["key"]) == key
