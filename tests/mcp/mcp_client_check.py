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

            assert init.capabilities.tools.list_changed is True, init.capabilities
            tools = await session.list_tools()
            names = {t.name for t in tools.tools}
            for wanted in ("kernel_info", "ping", "uart_stats", "cache_stats", "rag_query"):
                assert wanted in names, f"{wanted} missing from {sorted(names)}"
            check_tool_metadata(tools.tools)

            # Without --allow-load the bridge does not sign: an unsigned load is refused and the
            # refusal names the flag.
            refused = await session.call_tool("bpf_load", {"type": "tool", "name": "answer", "bytes_hex": ANSWER_HEX})
            assert refused.is_error, refused
            assert "--allow-load" in refused.content[0].text, refused

            info = await session.call_tool("kernel_info", {})
            assert not info.is_error, info
            data = json.loads(info.content[0].text)
            assert data["cpus"] == 4, data
            assert data["board"] == board, data
            assert data["el"] == 1 and data["mmu"] == "on", data

            ping = await session.call_tool("ping", {"data": "from-python"})
            assert json.loads(ping.content[0].text)["data"] == "from-python", ping

            # Tools with an outputSchema return structuredContent; the SDK validates each result
            # against the schema and raises when it does not fit.
            assert info.structured_content["cpus"] == 4, info.structured_content
            for name, arguments in [
                ("uart_stats", {}),
                ("cache_stats", {}),
                ("bpf_list", {}),
                ("cache_lookup", {"hook": "sched_slice", "fields": {"class": 1}}),
                ("cache_invalidate", {"hook": "sched_slice"}),
                ("workload_run", {"ms": 50}),
                # Decision traces: switched on, filled by a workload, read as records.
                ("trace_set", {"hook": "sched_slice", "on": True}),
                ("workload_run", {"ms": 50, "mix": "bursty"}),
                ("trace_read", {"max": 16}),
                ("trace_set", {"hook": "sched_slice", "on": False}),
            ]:
                result = await session.call_tool(name, arguments)
                assert not result.is_error and result.structured_content is not None, (name, result)

            read = await session.call_tool("trace_read", {})
            assert read.structured_content["record_bytes"] == 80, read.structured_content

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
                assert "unknown field" in str(error), error
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


def check_tool_metadata(tools) -> None:
    """Every tool has MCP annotations, a description for every parameter (nested ones too) and,
    where it declares one, an object outputSchema (the SDK validates results against it)."""
    def described(tool: str, path: str, schema: dict) -> None:
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool}: parameter {path}{name} has no description"
            if isinstance(prop.get("items"), dict):
                described(tool, f"{path}{name}[].", prop["items"])

    for tool in tools:
        assert tool.input_schema.get("type") == "object", tool
        described(tool.name, "", tool.input_schema)
        hints = tool.annotations
        assert hints is not None, f"{tool.name} has no annotations"
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert isinstance(getattr(hints, hint), bool), f"{tool.name}: {hint} is {getattr(hints, hint)!r}"
        if tool.output_schema is not None:
            assert tool.output_schema.get("type") == "object", tool
    by_name = {t.name: t for t in tools}
    assert by_name["bpf_list"].annotations.read_only_hint is True
    assert by_name["bpf_unload"].annotations.destructive_hint is True
    for structured in ("kernel_info", "bpf_list", "bpf_load", "map_read", "code", "rag_query"):
        assert by_name[structured].output_schema is not None, f"{structured} has no outputSchema"


# A `tool` program: mov r0, 42; exit.
ANSWER_HEX = "b70000002a000000" + "9500000000000000"
# A `decision` program: mov r0, 1000; exit.
SLICE_HEX = "b7000000e8030000" + "9500000000000000"


async def agent_session(binary: str, board: str) -> None:
    """Under --allow-load a client loads a `tool` agent with no signature of its own (the bridge
    signs with the host key), is told the tool list changed, finds and calls the new tool, reads
    its map, and is told again when it is unloaded. Every structured result is validated by the
    SDK against the tool's outputSchema."""
    changed = []
    arrived = asyncio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.append(message)
            arrived.set()

    async def next_change(what: str) -> None:
        await asyncio.wait_for(arrived.wait(), timeout=10)
        arrived.clear()

    params = StdioServerParameters(command=binary, args=["mcp", "--boot", board, "--allow-load"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120, message_handler=on_message) as session:
            await session.initialize()
            before = {t.name for t in (await session.list_tools()).tools}
            assert "answer" not in before, before
            map_def = {"kind": "array", "key_size": 4, "value_size": 8, "max_entries": 2}
            loaded = await session.call_tool(
                "bpf_load", {"type": "tool", "name": "answer", "bytes_hex": ANSWER_HEX, "maps": [map_def]}
            )
            assert not loaded.is_error, loaded
            program = loaded.structured_content["id"]
            await next_change("after bpf_load")
            tools = (await session.list_tools()).tools
            names = {t.name for t in tools}
            assert "answer" in names, sorted(names)
            check_tool_metadata(tools)
            answer = await session.call_tool("answer", {"input_hex": "0102"})
            assert not answer.is_error, answer
            assert answer.structured_content == {"tool": "answer", "r0": 42, "input_bytes": 2}, answer

            written = await session.call_tool(
                "map_write", {"id": program, "key": "01000000", "value": "0700000000000000"}
            )
            assert not written.is_error, written
            one = await session.call_tool("map_read", {"id": program, "key": "01000000"})
            assert one.structured_content["value"] == "0700000000000000", one
            every = await session.call_tool("map_read", {"id": program})
            assert every.structured_content["len"] == 2, every
            listed = await session.call_tool("bpf_list", {})
            assert any(p["name"] == "answer" for p in listed.structured_content["programs"]), listed

            # A decision program attached and detached: the tool list stays as it is (no
            # notification), and bpf_attach's and bpf_detach's results fit their schemas.
            decision = await session.call_tool(
                "bpf_load", {"type": "decision", "name": "slice_1ms", "bytes_hex": SLICE_HEX}
            )
            assert not decision.is_error, decision
            slice_id = decision.structured_content["id"]
            attached = await session.call_tool("bpf_attach", {"id": slice_id, "hook": "sched_slice"})
            assert attached.structured_content["hook"] == "sched_slice", attached
            detached = await session.call_tool("bpf_detach", {"hook": "sched_slice"})
            assert detached.structured_content["detached"] == slice_id, detached
            await session.call_tool("bpf_unload", {"id": slice_id})

            # A signature the client brings is passed on as it is: this one is wrong.
            forged = await session.call_tool(
                "bpf_load", {"type": "tool", "name": "forged", "bytes_hex": ANSWER_HEX, "signature": "00" * 64}
            )
            assert forged.is_error and "signature" in forged.content[0].text, forged

            unloaded = await session.call_tool("bpf_unload", {"id": program})
            assert not unloaded.is_error, unloaded
            await next_change("after bpf_unload")
            names = {t.name for t in (await session.list_tools()).tools}
            assert "answer" not in names, sorted(names)
            assert len(changed) == 2, changed  # the load and the unload; nothing else changed the list

            # From English to a running tool: the code tool's program_hex is bpf_load's bytes_hex.
            coded = await session.call_tool("code", SPACES_TASK)
            assert coded.structured_content["status"] == "solved", coded.structured_content
            hex_program = coded.structured_content["program_hex"]
            made = await session.call_tool(
                "bpf_load", {"type": "tool", "name": "count_spaces", "bytes_hex": hex_program}
            )
            assert not made.is_error, made
            await next_change("after loading the coded tool")
            spaces = await session.call_tool("count_spaces", {"text": "a b c d e"})
            assert spaces.structured_content["r0"] == 4, spaces
            print(f"agent tools on {board}: ok ({len(changed)} list_changed notifications)")


SPACES_TASK = {
    "description": "Count the spaces in the input.",
    "examples": [
        {"input": "68 65 6c 6c 6f 20 77 6f 72 6c 64", "output": 1},
        {"input": "61 20 62 20 63 20 64", "output": 3},
        {"input": "", "output": 0},
        {"input": "6e 6f 73 70 61 63 65", "output": 0},
        {"input": "20 20", "output": 2},
    ],
}


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
        asyncio.run(agent_session(binary, board))
    return 0


if __name__ == "__main__":
    sys.exit(main())
