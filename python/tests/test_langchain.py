"""The LangChain 1.x middleware, in a real agent graph driven by a scripted
chat model (no language model)."""

import asyncio
import itertools

import pytest

langchain = pytest.importorskip("langchain", minversion="1.0")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from agentcap import Grant, ToolDenied, ToolGuard  # noqa: E402
from agentcap.langchain import AgentcapMiddleware  # noqa: E402


class ScriptedModel(GenericFakeChatModel):
    """Answers with the scripted messages in turn; tools are bound as-is."""

    def bind_tools(self, tools, **kwargs):
        return self


ran = []


@tool
def search_flights(destination: str) -> str:
    """Search flights to a destination."""
    ran.append(("search_flights", destination))
    return f"TP123 to {destination}"


@tool
def book_flight(flight: str, max_price: int) -> str:
    """Book a flight."""
    ran.append(("book_flight", flight, max_price))
    return f"booked {flight}"


def script(*calls):
    """One AI message per tool call, then a final answer."""
    messages = [
        AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{i}"}])
        for i, (name, args) in enumerate(calls)
    ]
    return ScriptedModel(messages=itertools.chain(messages, [AIMessage(content="done")]))


@pytest.fixture
def guard(root):
    token = (
        Grant("alice", "travel-assistant")
        .right("tools/search_flights", "call")
        .right("tools/book_flight", "call")
        .cap("tools/book_flight:call", "max_price", 500)
        .mint(root)
    )
    return ToolGuard(token, root.public())


def tool_messages(result):
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def test_allowed_calls_run_and_refused_calls_do_not(guard):
    ran.clear()
    agent = create_agent(
        script(
            ("search_flights", {"destination": "LIS"}),
            ("book_flight", {"flight": "TP123", "max_price": 900}),
            ("book_flight", {"flight": "TP123", "max_price": 450}),
        ),
        tools=[search_flights, book_flight],
        middleware=[AgentcapMiddleware(guard)],
    )
    result = agent.invoke({"messages": [{"role": "user", "content": "book me a flight"}]})
    messages = tool_messages(result)
    assert [m.status for m in messages] == ["success", "error", "success"]
    assert "agentcap refused" in messages[1].content and "max_price" in messages[1].content
    assert ran == [("search_flights", "LIS"), ("book_flight", "TP123", 450)]


def test_raise_on_denial_stops_the_run(guard):
    ran.clear()
    agent = create_agent(
        script(("cancel_trip", {"trip": "t-1"})),
        tools=[search_flights, book_flight],
        middleware=[AgentcapMiddleware(guard, raise_on_denial=True)],
    )
    with pytest.raises(ToolDenied) as caught:
        agent.invoke({"messages": [{"role": "user", "content": "cancel"}]})
    assert caught.value.tool == "cancel_trip"
    assert ran == []


def test_async_agent(guard):
    ran.clear()
    agent = create_agent(
        script(("book_flight", {"flight": "TP9", "max_price": 501})),
        tools=[search_flights, book_flight],
        middleware=[AgentcapMiddleware(guard)],
    )
    result = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": "book"}]}))
    assert [m.status for m in tool_messages(result)] == ["error"]
    assert ran == []
