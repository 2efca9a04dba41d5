"""The token on the MCP SDK's streamable-HTTP client, through
`agentcap gateway --mcp --require-holder-proof` in front of an MCP server
written with the SDK, all on loopback."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")
httpx2 = pytest.importorskip("httpx2")

from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from agentcap import Grant, KeyPair  # noqa: E402
from agentcap.mcp import McpAuth  # noqa: E402

from conftest import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent


def wait_for_port(port, process, what):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited: {process.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not start within 30 s")


@pytest.fixture
def gateway(cli, root, tmp_path):
    upstream_port, gateway_port = free_port(), free_port()
    processes = []

    def start(args, port, what):
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, AGENTCAP_STATE_DIR=str(tmp_path / "state")),
        )
        processes.append(process)
        wait_for_port(port, process, what)

    try:
        start([sys.executable, str(HERE / "mcp_tool_server.py"), str(upstream_port)],
              upstream_port, "the MCP server")
        start([
            str(cli), "gateway", "--mcp",
            "--upstream", f"http://127.0.0.1:{upstream_port}",
            "--root-public-key", str(root.public()),
            "--listen", f"127.0.0.1:{gateway_port}",
            "--require-holder-proof",
        ], gateway_port, "agentcap gateway")
        yield f"http://127.0.0.1:{gateway_port}/mcp"
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()


async def session_run(url, auth, action):
    async with httpx2.AsyncClient(auth=auth, timeout=20) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                return await action(session)


def test_mcp_client_with_token_and_holder_proofs(gateway, root, agent):
    token = (
        Grant("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("tools/search_flights", "call")
        .right("tools/book_flight", "call")
        .cap("tools/book_flight:call", "max_price", 500)
        .mint(root)
    )

    async def use(session):
        tools = sorted(t.name for t in (await session.list_tools()).tools)
        found = await session.call_tool("search_flights", {"destination": "LIS"})
        booked = await session.call_tool("book_flight", {"flight": "TP123", "max_price": 450})
        try:
            over = await session.call_tool("book_flight", {"flight": "TP123", "max_price": 900})
        except Exception as refused:  # the gateway answers a JSON-RPC error
            over = refused
        return tools, found, booked, over

    tools, found, booked, over = asyncio.run(session_run(gateway, McpAuth(token, holder=agent), use))
    assert tools == ["book_flight", "search_flights"]        # cancel_trip is filtered out
    assert "TP123 to LIS" in found.content[0].text and not found.is_error
    assert "booked TP123" in booked.content[0].text
    refused_text = str(over) if isinstance(over, Exception) else over.content[0].text
    assert isinstance(over, Exception) or over.is_error
    assert "agentcap" in refused_text and "refused" in refused_text


def test_mcp_client_without_the_holder_key_is_refused(gateway, root, agent):
    token = Grant("alice", "a").agent_key(agent.public()).right("tools/*", "call").mint(root)

    async def use(session):
        return await session.list_tools()

    with pytest.raises(BaseException) as caught:
        asyncio.run(session_run(gateway, McpAuth(token, holder=KeyPair.generate()), use))
    assert "holder_proof_invalid" in repr(caught.value)
