"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 (a thread) that checks every
request as the Standard Webhooks specification says a receiver should, written here from the
specification rather than with the portal's own signing code, and answers as the test asks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300  # the specification's advice against replayed requests


@dataclass(frozen=True)
class Received:
    message_id: str
    timestamp: int
    event: dict[str, Any]
    signatures: list[str]
    verified: bool  # one of the signatures is the HMAC under one of the receiver's secrets


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def verify(secrets: list[str], headers: Any, body: bytes) -> bool:
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    given = [
        part.partition(",")[2]
        for part in headers.get("webhook-signature", "").split()
        if part.startswith("v1,")
    ]
    return any(
        hmac.compare_digest(expected_signature(secret, message_id, timestamp, body), signature)
        for secret in secrets
        for signature in given
    )


class Receiver:
    """Answers 200, or the codes queued in `answers` (one a request, in order). `hold` makes
    the next request wait that many seconds (or until `release`) before its answer."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.answers: list[int] = []
        self.holds: list[float] = []
        self.received: list[Received] = []
        self.answered: list[tuple[str, int]] = []  # (webhook-id, code) of answers written
        self.released = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                entry = Received(
                    message_id=self.headers.get("webhook-id", ""),
                    timestamp=int(self.headers.get("webhook-timestamp", "0") or 0),
                    event=json.loads(body),
                    signatures=self.headers.get("webhook-signature", "").split(),
                    verified=verify(receiver.secrets, self.headers, body),
                )
                with receiver.lock:
                    receiver.received.append(entry)
                    code = receiver.answers.pop(0) if receiver.answers else 200
                    hold = receiver.holds.pop(0) if receiver.holds else 0.0
                if hold:
                    receiver.released.wait(hold)
                try:
                    self.send_response(code)
                    self.send_header("content-type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if code < 300 else b"refused for now")
                except OSError:
                    return  # the sender gave up (timed out, or died)
                with receiver.lock:
                    receiver.answered.append((entry.message_id, code))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        return [entry.event["type"] for entry in self.received]

    def delivered_ids(self) -> list[str]:
        """The webhook-ids answered with 2xx, in order."""
        return [message_id for message_id, code in self.answered if 200 <= code < 300]
