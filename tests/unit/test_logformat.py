"""The shared JSON log format: one object per line, extra fields merged, exceptions kept."""

from __future__ import annotations

import json
import logging

from kfn import logformat


def test_json_lines_carry_extra_fields_and_exceptions():
    formatter = logformat.JsonFormatter()
    record = logging.LogRecord("kfn_gateway.invocations", logging.INFO, __file__, 1, "invocation %s", ("x",), None)
    record.kfn = {"requestId": "r-1", "function": "hello"}
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "invocation x" and entry["level"] == "info" and entry["requestId"] == "r-1"
    assert entry["time"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        failed = logging.LogRecord("kfn_operator", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(failed))["exception"]
