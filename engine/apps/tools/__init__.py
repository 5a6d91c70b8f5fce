"""Tool use and MCP (phase 31): typed tools over the verb truth table, a JSON-RPC 2.0 server on
stdio, its client, and mask-driven tool calls.

base       Tool, ToolError, REGISTRY, @register
grammar    conjugate, lookup_irregular_verb, lookup_spanish, check_subject_verb_agreement
framing    newline-delimited JSON (MCP stdio) or Content-Length framing
server     python -m engine.apps.tools.server [--framing ...] [--drop-required] [--max-requests N]
client     MCPClient (context manager), ProtocolError, ArgumentError
tool_call  generate_tool_call: tool name under an enum mask, then arguments under its schema
"""
