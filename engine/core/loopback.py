"""Servers in this project bind 127.0.0.1 only; this is where that address and the "ask the OS
for a free port" helper live (the serving stack, Prometheus, the DDP rendezvous all use it)."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the OS picks it; bind soon after)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]
