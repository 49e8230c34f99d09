"""Who may invoke a function: ``auth: token`` functions demand one of their Secret's bearer tokens.

The token comes as ``Authorization: Bearer <token>``, or as ``X-Kfn-Authorization: Bearer
<token>`` for clients whose Authorization header carries something else (the AWS SDKs sign
every request with SigV4 there). Compared in constant time; never logged.
"""

from __future__ import annotations

import hmac
from typing import Mapping

from kfn_gateway.dispatching import FunctionState
from kfn_gateway.outcomes import GatewayError

__all__ = ["check", "presented_token"]


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token a request carries, if any. Pure."""
    for name in ("X-Kfn-Authorization", "Authorization"):
        value = headers.get(name)
        if value and value[:7].lower() == "bearer ":
            return value[7:].strip()
    return None


def check(state: FunctionState, headers: Mapping[str, str]) -> None:
    """Raise 401 unless the function is open or the request carries one of its tokens."""
    if state.fn.spec.auth.type != "token":
        return
    token = presented_token(headers)
    ok = False
    if token:
        for accepted in state.tokens:  # no early exit: the time does not tell which token is close
            ok |= hmac.compare_digest(token.encode(), accepted.encode())
    if not ok:
        raise GatewayError(401, "UnauthorizedException", f"Function {state.key} requires a bearer token",
                           {"WWW-Authenticate": 'Bearer realm="kfn"'})
