"""Request ids: canonical random version-4 UUIDs, unique across many batches of kernel randomness."""

from __future__ import annotations

import collections
import uuid

from kfn_gateway import requestids


def test_ids_are_canonical_version_4_uuids_and_unique() -> None:
    ids = [requestids.new() for _ in range(10_000)]  # ~40 reads of the batch
    assert len(set(ids)) == len(ids)
    for rid in ids[:600]:
        parsed = uuid.UUID(rid)
        assert str(parsed) == rid and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_are_random_not_sequential() -> None:
    ids = [requestids.new().replace("-", "") for _ in range(4000)]
    # Apart from the fixed version nibble (12) and the variant nibble (16: 8-b), every hex digit is
    # uniform: each of the 16 values at each position about 250 times out of 4000.
    for position in (0, 7, 13, 20, 31):
        counts = collections.Counter(i[position] for i in ids)
        assert len(counts) == 16 and min(counts.values()) > 150, (position, counts)
    assert {i[12] for i in ids} == {"4"} and {i[16] for i in ids} == set("89ab")


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    import os
    requestids.new()  # a batch is buffered
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, requestids.new().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != requestids.new()
