"""Drives `kingly mcp` with the official Python MCP SDK, as an AI client would.

Usage: python mcp_client_check.py KINGLY_BINARY BOARD
Exits 0 when every check holds; prints what failed otherwise.
"""

import asyncio
import json
import sys

import mcp.types as types

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def legacy_session(binary: str, board: str) -> None:
    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            init = await session.initialize()
            assert init.server_info.name == "kingly", init

            tools = await session.list_tools()
            names = {t.name for t in tools.tools}
            for wanted in ("kernel_info", "ping", "uart_stats", "cache_stats", "rag_query"):
                assert wanted in names, f"{wanted} missing from {sorted(names)}"
            for tool in tools.tools:
                assert tool.input_schema.get("type") == "object", tool

            info = await session.call_tool("kernel_info", {})
            assert not info.is_error, info
            data = json.loads(info.content[0].text)
            assert data["cpus"] == 4, data
            assert data["board"] == board, data
            assert data["el"] == 1 and data["mmu"] == "on", data

            ping = await session.call_tool("ping", {"data": "from-python"})
            assert json.loads(ping.content[0].text)["data"] == "from-python", ping

            # An unknown tool is a protocol error (JSON-RPC error), not a result.
            try:
                result = await session.call_tool("no_such_tool", {})
            except Exception as error:  # the SDK raises MCPError
                assert "unknown tool" in str(error), error
            else:
                raise AssertionError(f"unknown tool returned a result: {result}")

            # Bad arguments of a real tool: also refused.
            try:
                await session.call_tool("kernel_info", {"bogus": 1})
            except Exception as error:
                assert "unexpected argument" in str(error), error
            else:
                raise AssertionError("bad arguments accepted")

            resources = await session.list_resources()
            uris = {str(r.uri) for r in resources.resources}
            assert "kingly://uart/stats" in uris and "kingly://cache/stats" in uris, uris
            stats = await session.read_resource("kingly://uart/stats")
            counters = json.loads(stats.contents[0].text)
            assert counters["frames"] > 0, counters
            if board == "virt":
                # On virt the session runs over the virtio console: its link carried the
                # frames while the PL011 received nothing.
                assert counters["link_bytes"] > 0 and counters["bytes"] == 0, counters
            # The coder as a tool: this client declared no elicitation, so an ambiguous task
            # comes back ambiguous with its questions.
            assert "code" in names, names
            coded = await session.call_tool("code", CHECKSUM_TASK)
            assert not coded.is_error, coded
            assert coded.structured_content["status"] == "ambiguous", coded.structured_content
            assert coded.structured_content["questions"], coded.structured_content
            print(f"legacy session on {board}: ok ({len(names)} tools, cpus={data['cpus']})")


# "checksum" names a sum and an xor alike; these examples fit both.
CHECKSUM_TASK = {
    "description": "Compute the checksum of the bytes.",
    "examples": [
        {"input": "01 02", "output": 3},
        {"input": "04", "output": 4},
        {"input": "", "output": 0},
        {"input": "10 01 20", "output": 0x31},
    ],
}


async def elicitation_session(binary: str, board: str) -> None:
    """The code tool asks what a separating input should return (elicitation/create); the
    answer (the xor reading) settles the task."""
    asked = []

    async def answer(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        props = params.requested_schema["properties"]
        assert props["output"]["type"] == "integer", params
        hex_input = props["output"]["description"].split(" on ")[-1]
        data = bytes.fromhex("" if hex_input == "the empty input" else hex_input)
        xor = 0
        for b in data:
            xor ^= b
        return types.ElicitResult(action="accept", content={"output": xor})

    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120, elicitation_callback=answer) as session:
            await session.initialize()
            coded = await session.call_tool("code", CHECKSUM_TASK)
            assert not coded.is_error, coded
            result = coded.structured_content
            assert asked and "disagree" in asked[0], asked
            assert result["status"] == "solved", result
            assert "xor(bytes)" in result["source"], result["source"]
            assert result["answered"], result
            bad = await session.call_tool("code", {"description": "x", "examples": [{"input": "zz", "output": 1}]})
            assert bad.is_error and "hex" in bad.content[0].text, bad
            print(f"elicitation on {board}: ok ({len(asked)} question(s): {asked[0][:80]}...)")


async def modern_discover(binary: str, board: str) -> None:
    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            discovered = await session.discover()
            assert "2026-07-28" in discovered.supported_versions, discovered
            print(f"server/discover on {board}: ok {discovered.supported_versions}")


def main() -> int:
    binary, board = sys.argv[1], sys.argv[2]
    asyncio.run(legacy_session(binary, board))
    asyncio.run(modern_discover(binary, board))
    if board == "virt":
        asyncio.run(elicitation_session(binary, board))
    return 0


if __name__ == "__main__":
    sys.exit(main())
