"""Reading request bodies with a limit smaller than the app-wide one (event sources, async invokes)."""

from __future__ import annotations

from aiohttp import web

from kfn_gateway.outcomes import GatewayError

__all__ = ["read_bounded"]


async def read_bounded(request: web.Request, limit: int, error_type: str = "RequestTooLargeException") -> bytes:
    """The body, or 413 as soon as it is known to exceed ``limit`` bytes (nothing more is read)."""
    too_large = GatewayError(413, error_type, f"Request must be smaller than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
