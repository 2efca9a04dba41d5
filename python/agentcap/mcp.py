"""The token on the MCP SDK's streamable-HTTP client.

The MCP Python SDK (``mcp`` 2.x) talks HTTP through ``httpx2``; give its
client an :class:`McpAuth` and every request of the session (the
JSON-RPC POSTs, the event stream, the closing DELETE) carries the token
and, with ``holder``, a holder proof::

    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from agentcap.mcp import McpAuth

    http = httpx2.AsyncClient(auth=McpAuth(token, holder=agent_key))
    async with streamable_http_client(url, http_client=http) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("search_flights", {"destination": "LIS"})

Needs the ``mcp`` package, which this package does not install.
"""

from __future__ import annotations

from typing import Optional, Union

import httpx2

from ._agentcap import KeyPair, Token
from .http import _HolderAuthFlow

__all__ = ["McpAuth"]


class McpAuth(_HolderAuthFlow, httpx2.Auth):  # type: ignore[misc]
    """An ``httpx2.Auth`` (the MCP SDK's HTTP client) that sends ``token``
    as a bearer token and, when ``holder`` is given, signs every request."""

    def __init__(self, token: Union[Token, str], holder: Optional[KeyPair] = None) -> None:
        super().__init__(token, holder)
