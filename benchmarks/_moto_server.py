"""moto's STS server on 127.0.0.1 with a free port; prints its URL, serves until stdin closes."""

from __future__ import annotations

import logging
import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or exits
    server.stop()


if __name__ == "__main__":
    main()
