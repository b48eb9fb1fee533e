"""What the HTTP server's processes need beyond uvicorn's defaults.

Slow clients: uvicorn closes a connection that idles between requests (its keep-alive timeout)
but waits for the head of a request as long as a client takes to send it, byte by byte: a few
hundred such connections hold the server's sockets (slowloris). BoundedHeadProtocol gives every
request head PORTAL_HEADER_SECONDS from its first byte (or from the connection's start) and
closes the connection otherwise. Bodies are bounded in the app (portal.core.limits). Behind a
reverse proxy, let the proxy bound both too (README).

Memory: see limit_malloc_arenas.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.core.config import get_settings

M_ARENA_MAX = -8  # mallopt's parameter (glibc's malloc.h)
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> None:
    """glibc's malloc gives threads arenas of their own, up to eight per core, and what one
    arena frees the others do not reuse: a server whose requests pass through SQLite's
    connection threads and the worker threads holds a partly empty arena for each. Two arenas
    keep a worker some 10% smaller at no measured cost (bench/RESULTS.md). For this process
    from now on (mallopt) and for the worker processes it starts (MALLOC_ARENA_MAX, read as they
    start); an operator's own MALLOC_ARENA_MAX is left as it is, and elsewhere than glibc this
    does nothing."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    os.environ["MALLOC_ARENA_MAX"] = str(MALLOC_ARENAS)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, MALLOC_ARENAS)


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
