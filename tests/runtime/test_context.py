"""The Lambda context object and the names derived for a function.

Pure: nothing is faked but the date. Asserted: the ARN rule (namespace folded into the name
outside ``default``), the log group and stream names, and a deadline that counts down.
"""

from __future__ import annotations

import datetime
import re
import time

from kfn_runtime import config, context

NOW = datetime.datetime(2024, 5, 17, 10, 0, tzinfo=datetime.UTC)


def cfg(**overrides: object) -> config.FunctionConfig:
    return config.FunctionConfig(**{"name": "thumbnail", "handler": "app.handler", "code_dir": "/code",
                                    **overrides})  # type: ignore[arg-type]


def test_identity_in_the_default_namespace() -> None:
    identity = context.identify(cfg(memory_mib=512), now=NOW)
    assert identity.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:thumbnail"
    assert identity.log_group_name == "/aws/lambda/thumbnail"
    assert re.fullmatch(r"2024/05/17/\[\$LATEST\][0-9a-f]{32}", identity.log_stream_name)
    assert (identity.function_name, identity.function_version, identity.memory_limit_in_mb) == (
        "thumbnail", "$LATEST", 512)


def test_identity_in_another_namespace_and_region() -> None:
    identity = context.identify(cfg(namespace="media", region="eu-west-1", version="3"), now=NOW)
    assert identity.invoked_function_arn == "arn:aws:lambda:eu-west-1:000000000000:function:media_thumbnail"
    assert identity.log_stream_name.startswith("2024/05/17/[3]")


def test_each_process_gets_its_own_log_stream() -> None:
    assert context.identify(cfg()).log_stream_name != context.identify(cfg()).log_stream_name


def test_the_context_carries_lambdas_attributes_and_a_deadline() -> None:
    identity = context.identify(cfg(), now=NOW)
    ctx = context.LambdaContext(identity, "rid-1", time.monotonic() + 3)
    assert (ctx.aws_request_id, ctx.function_name, ctx.function_version, ctx.invoked_function_arn,
            ctx.memory_limit_in_mb, ctx.log_group_name, ctx.log_stream_name, ctx.identity, ctx.client_context) == (
        "rid-1", "thumbnail", "$LATEST", identity.invoked_function_arn, 128, "/aws/lambda/thumbnail",
        identity.log_stream_name, None, None)
    first = ctx.get_remaining_time_in_millis()
    assert 2900 < first <= 3000
    time.sleep(0.02)
    assert ctx.get_remaining_time_in_millis() <= first - 20
    assert context.LambdaContext(identity, "r", time.monotonic() - 1).get_remaining_time_in_millis() == 0
