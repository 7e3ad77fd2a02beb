"""A TLS server on 127.0.0.1 that no system authority vouches for: a real certificate failure."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coinswarm.exchanges.local_coinbase.tls import make_tls_files

__all__ = ["untrusted_tls_port"]


@contextmanager
def untrusted_tls_port(folder: Path) -> Iterator[int]:
    """Yield the port of a server that completes TLS handshakes with its own CA's certificate.

    Every client that trusts only the system's authorities refuses it; the server answers
    nothing else and stops when the block ends.
    """
    files = make_tls_files(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                continue  # the client refused the certificate: what the caller wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()
