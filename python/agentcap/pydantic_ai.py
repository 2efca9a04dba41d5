"""Pydantic AI: a toolset wrapper that checks every tool call against the
agent's token before the tool runs.

::

    from pydantic_ai import Agent
    from pydantic_ai.toolsets import FunctionToolset
    from agentcap import ToolGuard
    from agentcap.pydantic_ai import AgentcapToolset

    tools = FunctionToolset([search_flights, book_flight])
    agent = Agent(model, toolsets=[AgentcapToolset(tools, guard=ToolGuard(token, root_key))])

A refused call does not reach the tool: by default the model receives a
failed tool result with the explanation (Pydantic AI's ``ToolFailed``, which
does not invite the same call again); with ``raise_on_denial=True`` the
:class:`agentcap.ToolDenied` propagates and ends the run. Needs
``pydantic-ai-slim>=2`` (or ``pydantic-ai``), which this package does not
install.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.toolsets import WrapperToolset

from .guard import ToolDenied, ToolGuard

__all__ = ["AgentcapToolset"]


@dataclass
class AgentcapToolset(WrapperToolset):  # type: ignore[misc, type-arg]
    """Wraps a toolset; each call of tool ``NAME`` is checked as
    ``tools/NAME:call`` with its numeric arguments as quantities."""

    guard: ToolGuard = None  # type: ignore[assignment]
    raise_on_denial: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.guard, ToolGuard):
            raise TypeError("AgentcapToolset needs guard=ToolGuard(...)")

    async def call_tool(self, name: str, tool_args: Dict[str, Any], ctx: Any, tool: Any) -> Any:
        """Runs the tool only if the token allows the call."""
        try:
            self.guard.check(name, tool_args)
        except ToolDenied as denied:
            if self.raise_on_denial:
                raise
            raise ToolFailed(f"agentcap refused this tool call: {denied.explanation}") from denied
        return await super().call_tool(name, tool_args, ctx, tool)
