"""Fixtures of the integration tests: an X-Ray daemon stand-in and a Lambda Runtime API on 127.0.0.1.

The Runtime API is the benchmark's (``benchmarks/_loopback.py``): one copy serves both.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from benchmarks._loopback import RuntimeAPI

__all__ = ["RuntimeAPI"]


class XRayDaemon:
    """A UDP socket on loopback that receives what aws-xray-sdk's emitter sends to the daemon."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def documents(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every document received up to the sender's closing ``END`` datagram (bounded wait)."""
        self.socket.settimeout(timeout)
        found: list[dict[str, Any]] = []
        while True:
            data = self.socket.recv(65536)
            if data == b"END":
                return found
            header, _, document = data.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            found.append(json.loads(document))

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def xray_daemon() -> Iterator[XRayDaemon]:
    daemon = XRayDaemon()
    yield daemon
    daemon.close()


@pytest.fixture
def runtime_api() -> Iterator[RuntimeAPI]:
    api = RuntimeAPI()
    yield api
    api.close()
