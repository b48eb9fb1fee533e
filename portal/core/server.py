"""The HTTP server's side of slow clients. uvicorn closes a connection that idles between
requests (its keep-alive timeout) but waits for the head of a request as long as a client
takes to send it, byte by byte: a few hundred such connections hold the server's sockets
(slowloris). This protocol gives every request head PORTAL_HEADER_SECONDS from its first byte
(or from the connection's start) and closes the connection otherwise. Bodies are bounded in the app
(portal.core.limits). Behind a reverse proxy, let the proxy bound both too (README)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.core.config import get_settings


class BoundedHeadProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._start_head_timer()

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                get_settings().header_seconds, self._head_too_slow
            )

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)
