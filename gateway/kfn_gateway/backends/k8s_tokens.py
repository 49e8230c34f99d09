"""The bearer tokens of ``auth: token`` Functions in a cluster: read from their Secrets, cached.

The gateway reads a Function's Secret by name (RBAC ``get`` on secrets, no ``list``/``watch``: it
cannot enumerate Secrets, only read the ones Functions name) when a request needs its tokens and
the cached copy is older than ``refresh`` seconds; so a rotated token is accepted, and a revoked
one refused, within that time. One read at a time per function, whatever the request rate, and
a missing or unreadable Secret is remembered for ``refresh`` too: unauthenticated floods cannot
turn into API traffic. A read that fails keeps the tokens last read (the API server being away
does not lock callers out); with none, every request is refused, never let through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Mapping

from kfn import manifests
from kfn_gateway.backends.k8s_api import Api, ApiError
from kfn_gateway.dispatching import FunctionState

__all__ = ["TokenSecrets", "tokens_of"]

logger = logging.getLogger(__name__)


def tokens_of(secret: Mapping[str, Any]) -> frozenset[str]:
    """Every non-empty value of a Secret, as text. Pure."""
    return frozenset(v.strip() for v in manifests.data_values(secret)[0].values() if v.strip())


class TokenSecrets:
    def __init__(self, client: Api, refresh: float) -> None:
        self.api = client
        self.refresh = refresh
        self.read_at: dict[str, tuple[str, float]] = {}
        """Function key → (the Secret's name, when it was last read)."""
        self.reading: dict[str, asyncio.Future[None]] = {}

    async def load(self, state: FunctionState) -> None:
        """Make ``state.tokens`` the tokens of its Secret as of at most ``refresh`` seconds ago."""
        name = state.fn.spec.auth.secret_name
        if name is None:
            return
        last = self.read_at.get(state.key)
        if last is not None and last[0] == name and time.monotonic() - last[1] < self.refresh:
            return
        pending = self.reading.get(state.key)
        if pending is None:
            pending = self.reading[state.key] = asyncio.ensure_future(self._read(state, name))
            pending.add_done_callback(lambda _: self.reading.pop(state.key, None))
        await asyncio.shield(pending)  # a caller that gives up does not cancel the others' read

    async def _read(self, state: FunctionState, name: str) -> None:
        path = f"/api/v1/namespaces/{state.fn.namespace}/secrets/{name}"
        try:
            secret = await self.api.get(path)
        except ApiError as exc:
            logger.warning("[%s] cannot read Secret %s for token auth (%s); keeping the tokens read before",
                           state.key, name, exc)
            if self.read_at.get(state.key, ("",))[0] != name:
                state.tokens = frozenset()
        else:
            state.tokens = frozenset() if secret is None else tokens_of(secret)
            if not state.tokens:
                logger.warning("[%s] Secret %s/%s %s: every request is refused", state.key, state.fn.namespace,
                               name, "does not exist" if secret is None else "holds no token")
        self.read_at[state.key] = (name, time.monotonic())

    def forget(self, key: str) -> None:
        self.read_at.pop(key, None)
