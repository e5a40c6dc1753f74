"""make serve-docs serves the site over HTTP on loopback: pages by their directory URLs, and the search index."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.helpers import ROOT, clean_env

# mkdocs serve mounts the site under the path of site_url, and redirects / there; at / without one.
SITE_URL = re.search(r"^site_url: https?://[^/]+(/.*)$", (ROOT / "mkdocs.yml").read_text(), re.M)
MOUNT = SITE_URL.group(1) if SITE_URL else "/"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.geturl(), response.read()


@pytest.fixture
def served() -> Iterator[str]:
    """``make serve-docs`` on a free loopback port, with this interpreter's environment as its docs venv."""
    port = free_loopback_port()
    venv = Path(sys.prefix)
    argv = [
        "make",
        "--no-print-directory",
        # The environment exists: make must not reinstall it, whatever the dates of pyproject.toml.
        "-o",
        f"{venv}/.installed-stamp",
        "serve-docs",
        f"DOCS_VENV={venv}",
        f"DOCS_ADDR=127.0.0.1:{port}",
    ]
    server = subprocess.Popen(
        argv, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                get(base + "/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "mkdocs serve did not answer within 90 s"
                time.sleep(0.5)
        yield base
    finally:
        # make, its shell and mkdocs share the session the child was started in (gone if mkdocs failed).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if server.stdout:
            server.stdout.close()


@pytest.mark.timeout(180)
def test_serve_docs_serves_pages_and_search(served: str):
    mount = MOUNT
    url, home = get(served + "/")
    assert url == served + mount
    assert b"<title>Homepage - Powertools STS</title>" in home
    _, page = get(served + mount + "decorator/")
    assert b"<title>The sts decorator - Powertools STS</title>" in page
    _, index = get(served + mount + "search/search_index.json")
    locations = {doc["location"] for doc in json.loads(index)["docs"]}
    assert {"", "decorator/", "deployment/"} <= locations
