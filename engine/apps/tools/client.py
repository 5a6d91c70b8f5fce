"""MCP client: spawn the server as a child process and talk JSON-RPC 2.0 over its stdin/stdout.

    with MCPClient() as c:                      # default: python -m engine.apps.tools.server
        c.initialize(); c.list_tools()
        c.call_tool("conjugate", verb="eat", tense="past_simple", person="3sg")   # -> "ate"

Replies are read by a thread into a queue so every request has a timeout; ids are checked
(mismatch -> ProtocolError); arguments are validated against the cached schema before sending
(unless validate=False); isError results raise ToolError, JSON-RPC errors raise ProtocolError
with the code. On exit stdin is closed, the child is waited for and killed if it hangs.
Every line sent and received is kept in `transcript` ("> " out, "< " in).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from engine.apps.structured.schema import validate
from engine.apps.tools.base import ToolError
from engine.apps.tools.framing import encode

ROOT = Path(__file__).resolve().parents[3]


class ProtocolError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ArgumentError(ValueError):
    """The client refused to send arguments that fail the tool's schema."""


class MCPClient:
    def __init__(self, server_args: list[str] | None = None, timeout: float = 10.0, validate_args: bool = True) -> None:
        self.cmd = [sys.executable, "-m", "engine.apps.tools.server", *(server_args or [])]
        self.timeout, self.validate_args = timeout, validate_args
        self.transcript: list[str] = []
        self.stderr_lines: list[str] = []
        self.schemas: dict[str, dict[str, Any]] = {}
        self._next_id = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MCPClient:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0, cwd=ROOT, env=env)
        self._replies: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        return self

    def _pump_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            self.stderr_lines.append("[server] " + line.decode("utf-8", "replace").rstrip())

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr_thread.join(timeout=2)

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def _send(self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False) -> Any:
        assert self.proc and self.proc.stdin, "use MCPClient as a context manager"
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if not notify:
            self._next_id += 1
            msg["id"] = self._next_id
        if params is not None:
            msg["params"] = params
        data = encode(msg)
        self.transcript.append("> " + data.decode("utf-8").rstrip())
        self.proc.stdin.write(data)
        if notify:
            return None
        try:
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty as e:
            raise ProtocolError(f"no reply to {method} within {self.timeout} s") from e
        if line is None:
            raise ProtocolError(f"server closed its output before replying to {method}")
        self.transcript.append("< " + line.decode("utf-8").rstrip())
        reply = json.loads(line)
        if reply.get("id") != msg["id"]:
            raise ProtocolError(f"reply id {reply.get('id')!r} does not match request id {msg['id']}")
        if "error" in reply:
            raise ProtocolError(reply["error"].get("message", ""), reply["error"].get("code"))
        return reply["result"]

    def initialize(self) -> dict[str, Any]:
        result = self._send("initialize", {"protocolVersion": "2024-11-05", "capabilities": {},
                                           "clientInfo": {"name": "lynx-client", "version": "0.1"}})
        self._send("notifications/initialized", notify=True)
        return result

    def list_tools(self) -> list[dict[str, Any]]:
        tools = self._send("tools/list", {})["tools"]
        self.schemas = {t["name"]: t["inputSchema"] for t in tools}
        return tools

    def call_tool(self, name: str, **arguments: Any) -> Any:
        if self.validate_args and name in self.schemas:
            errs = validate(arguments, self.schemas[name])
            if errs:
                raise ArgumentError("; ".join(errs))
        result = self._send("tools/call", {"name": name, "arguments": arguments})
        text = result["content"][0]["text"] if result.get("content") else ""
        if result.get("isError"):
            raise ToolError(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
