"""The ``context`` object a Lambda handler receives, and the names Lambda derives for a function.

ARN: kfn has no AWS account, so the account is ``000000000000``, and a function outside the
``default`` namespace is named ``{namespace}_{name}`` in its ARN (both are DNS-1123 labels, which
hold no ``_``, so the ARN names one function unambiguously):
``arn:aws:lambda:us-east-1:000000000000:function:thumbnail`` for ``default/thumbnail``,
``arn:aws:lambda:us-east-1:000000000000:function:media_thumbnail`` for ``media/thumbnail``.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import time
import uuid

from kfn_runtime import config

__all__ = ["Identity", "LambdaContext", "identify"]

ACCOUNT_ID = "000000000000"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """What every invocation of one loaded function shares, computed once per process."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    log_group_name: str
    log_stream_name: str


def identify(cfg: config.FunctionConfig, *, now: datetime.datetime | None = None) -> Identity:
    """The function's names; the log stream is new for each process, as each Lambda sandbox's is."""
    now = now or datetime.datetime.now(datetime.UTC)
    qualified = cfg.name if cfg.namespace == config.DEFAULT_NAMESPACE else f"{cfg.namespace}_{cfg.name}"
    return Identity(
        function_name=cfg.name,
        function_version=cfg.version,
        invoked_function_arn=f"arn:aws:lambda:{cfg.region}:{ACCOUNT_ID}:function:{qualified}",
        memory_limit_in_mb=cfg.memory_mib,
        log_group_name=f"/aws/lambda/{cfg.name}",
        log_stream_name=f"{now:%Y/%m/%d}/[{cfg.version}]{uuid.uuid4().hex}",
    )


class LambdaContext:
    """Lambda's context for one invocation; the attributes awslambdaric's context has."""

    __slots__ = ("aws_request_id", "function_name", "function_version", "invoked_function_arn",
                 "memory_limit_in_mb", "log_group_name", "log_stream_name", "identity", "client_context",
                 "_deadline")

    def __init__(self, identity: Identity, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = identity.function_name
        self.function_version = identity.function_version
        self.invoked_function_arn = identity.invoked_function_arn
        self.memory_limit_in_mb = identity.memory_limit_in_mb
        self.log_group_name = identity.log_group_name
        self.log_stream_name = identity.log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation times out (``time.monotonic`` deadline), never negative."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
                f"invoked_function_arn={self.invoked_function_arn}])")
