"""Drives `kingly mcp` with the official Python MCP SDK, as an AI client would.

Usage: python mcp_client_check.py KINGLY_BINARY BOARD
Exits 0 when every check holds; prints what failed otherwise.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def legacy_session(binary: str, board: str) -> None:
    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
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
            print(f"legacy session on {board}: ok ({len(names)} tools, cpus={data['cpus']})")


async def modern_discover(binary: str, board: str) -> None:
    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            discovered = await session.discover()
            assert "2026-07-28" in discovered.supported_versions, discovered
            print(f"server/discover on {board}: ok {discovered.supported_versions}")


def main() -> int:
    binary, board = sys.argv[1], sys.argv[2]
    asyncio.run(legacy_session(binary, board))
    asyncio.run(modern_discover(binary, board))
    return 0


if __name__ == "__main__":
    sys.exit(main())
