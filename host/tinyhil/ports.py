"""A free TCP port on the loopback interface, for the servers tinyhil starts (emulator UARTs, the local LLM)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now; the caller's server may still lose it to another process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
