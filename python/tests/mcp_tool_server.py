"""A small MCP server (the MCP SDK's MCPServer, streamable HTTP) for the
MCP client test: `python mcp_tool_server.py PORT`."""

import sys

import uvicorn
from mcp.server import MCPServer

server = MCPServer("travel-tools")


@server.tool()
def search_flights(destination: str) -> str:
    """Search flights to a destination."""
    return f"TP123 to {destination}"


@server.tool()
def book_flight(flight: str, max_price: int) -> str:
    """Book a flight."""
    return f"booked {flight} for at most {max_price}"


@server.tool()
def cancel_trip(trip: str) -> str:
    """Cancel a trip."""
    return f"cancelled {trip}"


if __name__ == "__main__":
    app = server.streamable_http_app(stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
