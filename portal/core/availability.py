"""Which services are not answering: one log line when a service stops answering and one when it
answers again, instead of a traceback for every request made meanwhile."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("portal.availability")

_down_since: dict[str, float] = {}


def failed(service: str, reason: str) -> None:
    if service not in _down_since:
        _down_since[service] = time.monotonic()
        logger.error("%s is not answering (%s); requests get 503 until it does", service, reason)


def answered(service: str) -> None:
    """Cheap enough for every successful call: a dictionary lookup while all is well."""
    if _down_since:
        since = _down_since.pop(service, None)
        if since is not None:
            logger.warning("%s answers again, after %.1f s", service, time.monotonic() - since)


def is_down(service: str) -> bool:
    return service in _down_since
