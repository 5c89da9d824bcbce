"""The gateway's listening socket: a connection gate at accept time, then TLS, then HTTP.

The site accepts connections itself. Every accepted socket first meets
`connection_filter(peer_address)`; a denied one is closed before a single byte is read, so an
address that IP filtering refuses never reaches the TLS handshake (Elasticsearch checks its
filter at the same point). An allowed socket is handed to the event loop with the SSL context
current at that moment (`connect_accepted_socket`), which is how a reloaded certificate reaches
new connections while established ones keep theirs; the HTTP protocol then sees the connection
exactly as if the loop had accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)

ConnectionFilter = Callable[[str], bool]
SSL_HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to complete the handshake


def allow_all(_: str) -> bool:
    return True


class GatedListener:
    """A listener on a host and port whose connections pass `connection_filter` before TLS;
    `ssl_context` is asked for the context of each new connection (None: plain HTTP), and
    `protocol_factory` makes the protocol that serves it."""

    def __init__(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str,
        port: int,
        *,
        ssl_context: Callable[[], ssl.SSLContext | None],
        connection_filter: ConnectionFilter = allow_all,
        backlog: int = 1024,
    ) -> None:
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._host = host
        self._port = port
        self.ssl_context = ssl_context
        self.connection_filter = connection_filter
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # SO_REUSEPORT: every worker binds the port and the kernel spreads connections.
        listener = socket.create_server(
            (self._host, self._port), family=family, backlog=self._backlog, reuse_port=True
        )
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.get_running_loop().create_task(self._accept(listener))

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._listener is not None:
            self._listener.close()
        for task in self._connecting:
            task.cancel()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, peer = await loop.sock_accept(listener)
            except OSError as error:  # EMFILE and the like: keep serving the others
                log.warning("cannot accept a connection: %s", error)
                await asyncio.sleep(0.1)
                continue
            if not self._allowed(str(peer[0])):
                connection.close()
                continue
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._connect(connection, str(peer[0])))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _allowed(self, peer: str) -> bool:
        try:
            return self.connection_filter(peer)
        except Exception:  # a broken filter must neither stop accepting nor let anyone in
            log.exception("the connection filter failed; closing the connection from [%s]", peer)
            return False

    async def _connect(self, connection: socket.socket, peer: str) -> None:
        server = self._protocol_factory
        context = self.ssl_context()
        try:
            if context is None:
                await asyncio.get_running_loop().connect_accepted_socket(server, connection)
            else:
                await asyncio.get_running_loop().connect_accepted_socket(
                    server,
                    connection,
                    ssl=context,
                    ssl_handshake_timeout=SSL_HANDSHAKE_TIMEOUT,
                )
        except ssl.SSLError as error:
            if error.reason == "HTTP_REQUEST":
                # As Elasticsearch: plain HTTP on the HTTPS port is closed, with a warning.
                log.warning("received plaintext http traffic on an https channel from [%s]", peer)
            else:
                log.debug("TLS handshake with [%s] failed: %s", peer, error)
            connection.close()
        except (OSError, TimeoutError) as error:
            log.debug("connection from [%s] not established: %r", peer, error)
            connection.close()
        except asyncio.CancelledError:  # the site stops during the handshake
            connection.close()
            raise
