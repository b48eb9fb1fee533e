"""The memory of `portal serve`'s processes: glibc's malloc arenas kept to two
(portal.core.server.limit_malloc_arenas)."""

from __future__ import annotations

import os
import subprocess
import sys

from server_helpers import PROJECT_DIR

# Eight threads allocate at once, then glibc reports its arenas (malloc_info's XML has one
# <heap> per arena). Blocks of 4 KiB go to malloc, not to Python's own small-object allocator.
ARENAS_AFTER_EIGHT_THREADS = """
import ctypes, os, sys, tempfile, threading
from portal.core.server import limit_malloc_arenas
if sys.argv[1] == "limited":
    limit_malloc_arenas()
together = threading.Barrier(8)
def allocate():
    together.wait()
    blocks = [bytearray(4096) for _ in range(100)]
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r") as report:
    stream = ctypes.c_void_p(libc.fopen(report.name.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(report.read().count("<heap nr="), os.environ.get("MALLOC_ARENA_MAX"))
"""


def _arenas(mode: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    return subprocess.run(
        [sys.executable, "-c", ARENAS_AFTER_EIGHT_THREADS, mode],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_serving_process_keeps_two_malloc_arenas_and_hands_the_limit_to_its_workers():
    assert _arenas("limited") == "2 2"
    # Without the limit, each thread that allocates gets an arena of its own (up to eight per
    # core).
    arenas, _ = _arenas("unlimited").split()
    assert int(arenas) > 2


def test_an_operators_own_arena_limit_is_kept():
    assert _arenas("limited", MALLOC_ARENA_MAX="4") == "4 4"
