"""Name rules shared by the API types, the gateway and the CRD schemas.

Names reach URLs, file paths and the Kubernetes API, so they are checked once, here, before any
of those see them.
"""

from __future__ import annotations

import re

__all__ = ["DNS1123_LABEL", "ENV_NAME", "is_dns1123_label", "dns1123_error", "RESERVED_ENV_PREFIXES"]

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

_DNS1123 = re.compile(DNS1123_LABEL)

# Lambda refuses these environment keys because its runtime sets them; kfn's runtime does too.
RESERVED_ENV_PREFIXES = ("AWS_LAMBDA_", "KFN_", "LAMBDA_")
RESERVED_ENV_NAMES = frozenset({"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION",
                                "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"})


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123.match(value) is not None


def dns1123_error(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label, or None when it is one."""
    if not value:
        return "must not be empty"
    if len(value) > 63:
        return f"must be at most 63 characters (got {len(value)})"
    if _DNS1123.match(value) is None:
        return ("must be a DNS-1123 label: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit")
    return None


def is_reserved_env(name: str) -> bool:
    return name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES)
