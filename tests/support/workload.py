"""Small jobs for the real worker processes in the jobs tests (importable by name in spawned workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def blas_threads() -> int:
    """BLAS threads this process runs."""
    import numpy  # noqa: F401  (loads the BLAS whose threads we count)
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)


def die() -> None:
    """Exit at once, as a crash in C code would."""
    os._exit(3)


def environment(name: str) -> str | None:
    """An environment variable of this worker."""
    return os.environ.get(name)


def pid_then_sleep(pid_file: str, seconds: float) -> int:
    """Write this worker's pid to ``pid_file`` (a line per call) and return it.

    The first call sleeps ``seconds`` before returning, long enough for a test to kill its worker
    mid-job; a later call (the job retried on another worker) returns at once.
    """
    with open(pid_file, "a") as file:
        first = file.tell() == 0
        file.write(f"{os.getpid()}\n")
    if first:
        time.sleep(seconds)
    return os.getpid()


def hang_in_ffmpeg(pid_file: str) -> None:
    """Leave a temporary file, then wait on an ffmpeg child that never finishes.

    ffmpeg reads a named pipe that nobody writes to. Writes ``worker pid, ffmpeg pid, temp file`` to
    ``pid_file`` first, so the test can check all three are gone after the timeout.
    """
    from imageio_ffmpeg import get_ffmpeg_exe

    spool = tempfile.NamedTemporaryFile(prefix="needlebot-", delete=False)
    fifo = Path(tempfile.mkdtemp()) / "never-written"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [get_ffmpeg_exe(), "-nostdin", "-i", str(fifo), "-f", "null", "-"], stderr=subprocess.DEVNULL
    )
    Path(pid_file).write_text(f"{os.getpid()} {child.pid} {spool.name}\n")
    child.wait()


def imported(module: str) -> bool:
    """Whether this worker has imported ``module``."""
    return module in sys.modules


def allocate(megabytes: int) -> int:
    """Map ``megabytes`` of zeroed memory and return its size in bytes.

    ``bytes(n)`` takes fresh zero pages from the kernel without touching them: under no ceiling it costs
    next to nothing, under an address-space ceiling below it the mapping fails (MemoryError).
    """
    return len(bytes(megabytes * 1024 * 1024))
