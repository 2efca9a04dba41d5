"""LangChain 1.x agent middleware: every tool call is checked against the
agent's token before the tool runs (``wrap_tool_call``).

::

    from langchain.agents import create_agent
    from agentcap import ToolGuard
    from agentcap.langchain import AgentcapMiddleware

    agent = create_agent(
        model, tools=[search_flights, book_flight],
        middleware=[AgentcapMiddleware(ToolGuard(token, root_public_key))],
    )

A refused call does not reach the tool: by default the model receives an
error ``ToolMessage`` with the explanation (so the agent can change course);
with ``raise_on_denial=True`` the :class:`agentcap.ToolDenied` propagates
and stops the run. Needs ``langchain>=1``, which this package does not
install.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Union

from langchain.agents.middleware import AgentMiddleware, ToolCallRequest
from langchain_core.messages import ToolMessage

from .guard import ToolDenied, ToolGuard

__all__ = ["AgentcapMiddleware"]

_Result = Any  # ToolMessage | langgraph Command


class AgentcapMiddleware(AgentMiddleware):  # type: ignore[misc]
    """Checks each tool call with a :class:`agentcap.ToolGuard` (the tool
    ``NAME`` is ``tools/NAME:call``; numeric arguments are quantities)."""

    def __init__(self, guard: ToolGuard, *, raise_on_denial: bool = False) -> None:
        super().__init__()
        self.guard = guard
        self.raise_on_denial = raise_on_denial

    @property
    def name(self) -> str:  # type: ignore[override]
        """The middleware's name in the agent graph."""
        return "AgentcapMiddleware"

    def _refusal(self, request: ToolCallRequest) -> Union[ToolMessage, None]:
        call = request.tool_call
        try:
            self.guard.check(call["name"], call.get("args") or {})
        except ToolDenied as denied:
            if self.raise_on_denial:
                raise
            return ToolMessage(
                content=f"agentcap refused this tool call: {denied.explanation}",
                tool_call_id=call.get("id") or "",
                name=call["name"],
                status="error",
            )
        return None

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], _Result],
    ) -> _Result:
        """Runs the tool only if the token allows the call."""
        refusal = self._refusal(request)
        return refusal if refusal is not None else handler(request)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[_Result]],
    ) -> _Result:
        """The async form of :meth:`wrap_tool_call`."""
        refusal = self._refusal(request)
        return refusal if refusal is not None else await handler(request)
