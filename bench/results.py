"""What every benchmark writes: the machine it ran on, and its own section of
bench/RESULTS.md (the other benchmarks' sections kept). Every benchmark imports it before
anything else of its own (see BENCH_DIR)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Python puts a script's folder first on the path, and bench/http.py would then hide the
# standard library's `http` (and httpx, urllib.request…) from every benchmark: the folder
# goes after the standard library.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory_kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kb / 1024 / 1024:.1f} GiB RAM; "
        f"Linux {platform.release()}; Python {platform.python_version()}"
    )


def replace_section(path: Path, heading: str, text: str) -> None:
    """Writes the section that starts with `heading`, keeping the other benchmarks'."""
    existing = path.read_text() if path.exists() else "# Benchmark results\n"
    start = existing.find(heading)
    if start == -1:
        path.write_text(existing.rstrip() + "\n\n" + text)
        return
    end = existing.find("\n## ", start + len(heading))
    rest = existing[end:] if end != -1 else ""
    path.write_text(existing[:start] + text.rstrip() + "\n" + rest)
