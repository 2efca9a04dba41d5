"""The Pydantic AI toolset wrapper, in a real agent run driven by a scripted
FunctionModel (no language model)."""

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import FunctionModel  # noqa: E402
from pydantic_ai.toolsets import FunctionToolset  # noqa: E402

from agentcap import Grant, ToolDenied, ToolGuard  # noqa: E402
from agentcap.pydantic_ai import AgentcapToolset  # noqa: E402

ran = []


def search_flights(destination: str) -> str:
    """Search flights to a destination."""
    ran.append(("search_flights", destination))
    return f"TP123 to {destination}"


def book_flight(flight: str, max_price: int) -> str:
    """Book a flight."""
    ran.append(("book_flight", flight, max_price))
    return f"booked {flight}"


def scripted(*calls):
    """A model that asks for `calls` in its first response, then answers."""

    def respond(messages, info):
        if len(messages) == 1:
            return ModelResponse(parts=[
                ToolCallPart(tool_name=name, args=args, tool_call_id=f"call-{i}")
                for i, (name, args) in enumerate(calls)
            ])
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


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


def tool_returns(result):
    return {
        part.tool_call_id: part
        for message in result.all_messages()
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    }


def test_allowed_calls_run_and_refused_calls_fail(guard):
    ran.clear()
    tools = AgentcapToolset(FunctionToolset([search_flights, book_flight]), guard=guard)
    agent = Agent(
        scripted(
            ("search_flights", {"destination": "LIS"}),
            ("book_flight", {"flight": "TP123", "max_price": 900}),
            ("book_flight", {"flight": "TP124", "max_price": 450}),
        ),
        toolsets=[tools],
    )
    result = agent.run_sync("book me a flight")
    assert result.output == "done"
    returns = tool_returns(result)
    assert returns["call-0"].content == "TP123 to LIS"
    refused = returns["call-1"]
    assert "agentcap refused" in str(refused.content) and "max_price" in str(refused.content)
    assert returns["call-2"].content == "booked TP124"
    assert sorted(ran) == [("book_flight", "TP124", 450), ("search_flights", "LIS")]


def test_raise_on_denial_ends_the_run(guard):
    ran.clear()
    tools = AgentcapToolset(FunctionToolset([search_flights, book_flight]), guard=guard,
                            raise_on_denial=True)
    agent = Agent(scripted(("book_flight", {"flight": "TP1", "max_price": 501})), toolsets=[tools])
    with pytest.raises(ToolDenied) as caught:
        agent.run_sync("book")
    assert caught.value.tool == "book_flight"
    assert ran == []


def test_a_guard_is_required():
    with pytest.raises(TypeError):
        AgentcapToolset(FunctionToolset([search_flights]))
