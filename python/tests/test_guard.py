"""The tool guard: a local check of the agent's token before each tool call."""

import asyncio

import pytest

import agentcap
from agentcap import Grant, Hop, ToolDenied, ToolGuard, tool_quantities


@pytest.fixture
def booking_token(root, agent):
    return (
        Grant("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("tools/search_flights", "call")
        .right("tools/book_flight", "call")
        .cap("tools/book_flight:call", "max_price", 500)
        .mint(root)
    )


def test_decorated_tools_run_only_when_allowed(root, booking_token):
    guard = ToolGuard(booking_token, root.public())
    calls = []

    @guard.tool
    def search_flights(origin: str, destination: str) -> str:
        calls.append(("search", origin, destination))
        return "TP123"

    @guard.tool
    def book_flight(flight: str, max_price: float = 1000) -> str:
        calls.append(("book", flight, max_price))
        return "booked"

    @guard.tool(name="cancel_trip")
    def cancel(trip: str) -> str:
        calls.append(("cancel", trip))
        return "cancelled"

    assert search_flights("AMS", "LIS") == "TP123"
    assert book_flight("TP123", max_price=499.5) == "booked"
    with pytest.raises(ToolDenied) as caught:
        book_flight("TP123", max_price=500.5)          # rounded up: 501 > 500
    assert caught.value.tool == "book_flight"
    assert caught.value.reason == "policy_denied"
    assert "max_price" in caught.value.explanation
    with pytest.raises(ToolDenied):
        book_flight("TP123")                            # the default 1000 counts too
    with pytest.raises(ToolDenied) as caught:
        cancel("trip-1")
    assert "tools/cancel_trip:call" in caught.value.explanation
    assert isinstance(caught.value, agentcap.Denied)
    assert calls == [("search", "AMS", "LIS"), ("book", "TP123", 499.5)]
    assert book_flight.__name__ == "book_flight"


def test_async_tools_and_a_refreshed_token(root, agent, booking_token):
    current = {"token": booking_token.to_base64()}
    guard = ToolGuard(lambda: current["token"], str(root.public()))

    @guard.tool
    async def search_flights(origin: str) -> str:
        return f"flights from {origin}"

    assert asyncio.run(search_flights("AMS")) == "flights from AMS"
    # The agent's token is swapped for a narrower one: book_flight only.
    current["token"] = booking_token.delegate(
        Hop.to("booker").right("tools/book_flight", "call"), signer=agent
    ).to_base64()
    with pytest.raises(ToolDenied):
        asyncio.run(search_flights("AMS"))
    assert guard.allows("book_flight", {"max_price": 10})
    assert not guard.allows("book_flight", {"max_price": 10_000})


def test_invalid_tokens_are_not_mistaken_for_denials(root, booking_token):
    forged_root = agentcap.KeyPair.generate().public()
    with pytest.raises(agentcap.InvalidToken):
        ToolGuard(booking_token, forged_root).check("search_flights")
    with pytest.raises(agentcap.InvalidToken):
        ToolGuard("not a token", root.public()).check("search_flights")


def test_tool_quantities():
    assert tool_quantities({"a": 1, "b": 2.1, "c": True, "d": "5", "e": None}) == {"a": 1, "b": 3}
    with pytest.raises(ValueError):
        tool_quantities({"a": 2**64})
    with pytest.raises(ValueError):
        tool_quantities({"a": float("inf")})
