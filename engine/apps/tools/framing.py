"""Message framing for the stdio transport: one JSON object per line (MCP's stdio framing), or
Content-Length headers (the course's lab-01 exercise, LSP style; length counted in UTF-8 bytes).

Both read from and write to binary streams; `read_message` returns None at end of input and
raises ValueError (a parse error, -32700 at the server) on a body that is not JSON.
"""

from __future__ import annotations

import json
from typing import IO, Any

NEWLINE, CONTENT_LENGTH = "newline", "content-length"


def encode(msg: dict[str, Any], framing: str = NEWLINE) -> bytes:
    body = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if framing == CONTENT_LENGTH:
        return f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body
    return body + b"\n"


def write_message(stream: IO[bytes], msg: dict[str, Any], framing: str = NEWLINE) -> None:
    stream.write(encode(msg, framing))
    stream.flush()


def read_raw(stream: IO[bytes], framing: str = NEWLINE) -> bytes | None:
    """The next message body, or None at end of input (blank lines are skipped)."""
    if framing == CONTENT_LENGTH:
        length = None
        while True:
            line = stream.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                if length is None:
                    continue
                return stream.read(length)
            name, _, value = line.decode("ascii").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
    while True:
        line = stream.readline()
        if not line:
            return None
        if line.strip():
            return line


def read_message(stream: IO[bytes], framing: str = NEWLINE) -> Any:
    raw = read_raw(stream, framing)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"parse error: {e}") from e
