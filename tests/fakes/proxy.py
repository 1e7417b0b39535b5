"""A proxy on 127.0.0.1 that proxies nothing: it counts who connects, then hangs up.

Point ``HTTP_PROXY``, ``ALL_PROXY`` (``socks5://...``) or a request's own proxy at ``url`` and read
``connections`` to prove a client did not go through it.

    with RecordingProxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url("socks5"))
        ...
        assert proxy.connections == 0
"""

from __future__ import annotations

import socket
import threading


class RecordingProxy:
    """A TCP listener on an ephemeral loopback port; use as a context manager."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="recording-proxy", daemon=True)

    def url(self, scheme: str = "http") -> str:
        """The proxy's URL with ``scheme`` (http, socks5, socks5h, socks4...)."""
        host, port = self._listener.getsockname()[:2]
        return f"{scheme}://{host}:{port}"

    @property
    def connections(self) -> int:
        """How many connections were made to the proxy."""
        with self._lock:
            return self._count

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._count += 1
            client.close()

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
