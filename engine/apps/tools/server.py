"""A hand-rolled MCP server: JSON-RPC 2.0 over stdio, synchronous, standard library only.

    python -m engine.apps.tools.server [--framing newline|content-length] [--drop-required] [--max-requests N]

initialize echoes the client's protocol version when it is one the server speaks (2024-11-05) and
otherwise answers with that version, as the MCP handshake requires; it announces the tools capability; notifications (no id)
get no reply; tools/list returns name, description and inputSchema; tools/call validates the
arguments against the schema (-32602), returns a ToolError as a result with isError true and any
other exception as -32603. Logs go to stderr only; stdout carries nothing but replies. The server
exits on end of input (or after --max-requests messages, a bound for labs and tests).
`--drop-required` is the phase-31 break: every tool schema loses its `required` list.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any

from engine.apps.structured.schema import validate, without_required
from engine.apps.tools import grammar  # noqa: F401  (registers the four tools)
from engine.apps.tools.base import REGISTRY, Tool, ToolError
from engine.apps.tools.framing import NEWLINE, read_message, write_message

PROTOCOL_VERSION = "2024-11-05"
SUPPORTED_VERSIONS = (PROTOCOL_VERSION,)  # the subset served here (tools/list, tools/call, text content)
SERVER_INFO = {"name": "lynx-grammar-mcp", "version": "0.1"}
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603


class RPCError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def error_response(id_: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def result_response(id_: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


class Server:
    def __init__(self, tools: dict[str, Tool], drop_required: bool = False) -> None:
        self.tools = {n: Tool(t.name, t.description, without_required(t.input_schema), t.fn) if drop_required else t
                      for n, t in tools.items()}
        self.handlers = {"initialize": self.initialize, "tools/list": self.list_tools, "tools/call": self.call_tool,
                         "ping": lambda params: {}}

    def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        version = asked if asked in SUPPORTED_VERSIONS else PROTOCOL_VERSION  # never claim a version we don't speak
        return {"protocolVersion": version, "capabilities": {"tools": {}},
                "serverInfo": SERVER_INFO}

    def list_tools(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"tools": [t.describe() for t in self.tools.values()]}

    def call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name, args = params.get("name"), params.get("arguments", {})
        if name not in self.tools:
            raise RPCError(INVALID_PARAMS, f"Unknown tool: {name!r}")
        tool = self.tools[name]
        errs = validate(args, tool.input_schema) if isinstance(args, dict) else ["arguments must be an object"]
        if errs:
            raise RPCError(INVALID_PARAMS, "Invalid arguments: " + "; ".join(errs))
        try:
            out = tool.fn(**args)
        except ToolError as e:
            return {"content": [{"type": "text", "text": str(e)}], "isError": True}
        text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
        return {"content": [{"type": "text", "text": text}], "isError": False}

    def handle(self, msg: Any) -> dict[str, Any] | None:
        """One reply, or None for a notification."""
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str):
            return error_response(msg.get("id") if isinstance(msg, dict) else None, INVALID_REQUEST, "Invalid Request")
        is_notification = "id" not in msg
        id_, method, params = msg.get("id"), msg["method"], msg.get("params") or {}
        try:
            if method not in self.handlers:
                if is_notification:
                    return None  # notifications/initialized and friends need no handler
                raise RPCError(METHOD_NOT_FOUND, f"Method not found: {method}")
            result = self.handlers[method](params)
        except RPCError as e:
            return None if is_notification else error_response(id_, e.code, str(e))
        except Exception as e:  # a bug in a tool, e.g. a KeyError for a missing argument
            print(f"{method} failed: {type(e).__name__}: {e}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return None if is_notification else error_response(id_, INTERNAL_ERROR, f"Internal error: {type(e).__name__}")
        return None if is_notification else result_response(id_, result)


def serve(stdin: Any, stdout: Any, framing: str = NEWLINE, drop_required: bool = False,
          max_requests: int | None = None) -> int:
    server = Server(REGISTRY, drop_required=drop_required)
    n = 0
    while max_requests is None or n < max_requests:
        try:
            msg = read_message(stdin, framing)
        except ValueError as e:
            write_message(stdout, error_response(None, PARSE_ERROR, str(e)), framing)
            continue
        if msg is None:
            break
        n += 1
        reply = server.handle(msg)
        if reply is not None:
            write_message(stdout, reply, framing)
    print(f"exiting after {n} messages", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MCP grammar-tools server over stdio")
    ap.add_argument("--framing", choices=["newline", "content-length"], default=NEWLINE)
    ap.add_argument("--drop-required", action="store_true")
    ap.add_argument("--max-requests", type=int, default=None)
    a = ap.parse_args(argv)
    return serve(sys.stdin.buffer, sys.stdout.buffer, a.framing, a.drop_required, a.max_requests)


if __name__ == "__main__":
    sys.exit(main())
