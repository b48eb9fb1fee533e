"""A real `portal serve` process for tests that need one (browser tests, load, faults, crashes),
a staff login over real HTTP, and a TCP proxy of the tests' own that can refuse or drop what
passes between the portal and a service."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

PROJECT_DIR = Path(__file__).resolve().parents[1]
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different free loopback ports: each socket stays bound until all are chosen
    (two calls of free_port() may give the same port)."""
    with contextlib.ExitStack() as sockets:
        bound = [sockets.enter_context(socket.socket()) for _ in range(count)]
        for sock in bound:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in bound]


class PortalServer:
    """`python -m portal serve` on a free loopback port, with the test run's environment plus
    `env`; its output goes to `log_path`."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None, workers: int = 1):
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> PortalServer:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child keeps it; closed at exit
        self.process = subprocess.Popen(
            [sys.executable, "-m", "portal", "serve", "--port", str(self.port)]
            + (["--workers", str(self.workers)] if self.workers > 1 else []),
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers are killed with it
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/admin/login", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def kill(self) -> None:
        """kill -9 of the server and its workers: no shutdown, no cleanup."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def staff_session(
    base_url: str, email: str, password: str, **options
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `base_url` logged in as the staff member, over real HTTP."""
    async with httpx.AsyncClient(base_url=base_url, **options) as http:
        page = await http.get("/admin/login")
        token = CSRF_FIELD.search(page.text).group(1)
        response = await http.post(
            "/admin/login", data={"_csrf_token": token, "email": email, "password": password}
        )
        assert response.status_code == 303, response.text
        yield http


class TcpProxy:
    """Relays 127.0.0.1:port to `target`, in a thread of its own. `refuse()`: connections are
    refused and the open ones cut (a service that is down); `drop()`: the open ones and new ones
    get no answer at all (packets dropped on the way); `forward()`: back to normal."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "forward"
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._listen()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self._close_all()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.setblocking(False)
        self.listener = listener

    def _close_all(self) -> None:
        with self.lock:
            for a, b in self.pairs:
                for sock in (a, b):
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                        sock.close()
                    except OSError:
                        pass
            self.pairs = []
            if self.listener is not None:
                self.listener.close()
                self.listener = None

    def refuse(self) -> None:
        with self.lock:
            self.mode = "refuse"
        self._close_all()

    def drop(self) -> None:
        with self.lock:
            self.mode = "drop"

    def forward(self) -> None:
        with self.lock:
            self.mode = "forward"
            if self.listener is None:
                self._listen()

    def _run(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                sockets = [s for pair in self.pairs for s in pair]
                listener = self.listener
            readable, _, _ = select.select(sockets + ([listener] if listener else []), [], [], 0.05)
            for sock in readable:
                if sock is listener:
                    self._accept(listener)
                else:
                    self._relay(sock)

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        if self.mode == "drop":
            upstream = None  # accepted, never answered
        else:
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                return
        with self.lock:
            if upstream is None:
                self.pairs.append((client, client))
            else:
                self.pairs.append((client, upstream))

    def _relay(self, sock: socket.socket) -> None:
        with self.lock:
            pair = next((p for p in self.pairs if sock in p), None)
            mode = self.mode
        if pair is None:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if mode == "drop" and data:
            return  # swallowed: no answer ever comes
        other = pair[1] if sock is pair[0] else pair[0]
        if not data or other is sock:
            with self.lock:
                if pair in self.pairs:
                    self.pairs.remove(pair)
            for each in set(pair):
                each.close()
            return
        try:
            other.sendall(data)
        except OSError:
            pass
