"""A tool is a name, a description, a JSON Schema for its input and a pure function.

    @register("conjugate", "…", {"type": "object", ...})
    def conjugate(verb: str, tense: str, person: str) -> str: ...
    REGISTRY["conjugate"].fn(**args)

ToolError is the recoverable kind of failure (out-of-scope input): the server returns it as a
result flagged isError, never as a JSON-RPC protocol error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """The tool understood the call and declined it (e.g. a verb outside the 20)."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]

    def describe(self) -> dict[str, Any]:
        """The MCP tools/list entry (camelCase inputSchema)."""
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


REGISTRY: dict[str, Tool] = {}


def register(name: str, description: str, input_schema: dict[str, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"tool {name!r} registered twice")
        REGISTRY[name] = Tool(name, description, input_schema, fn)
        return fn

    return wrap
