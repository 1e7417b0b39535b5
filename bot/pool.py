"""The local backend: audio worker processes of our own on this machine.

``ProcessPoolExecutor`` can neither kill one worker nor stop a job that runs too long, so each worker
here is a ``multiprocessing`` spawn process with a pipe (spawn, not fork: forking a process that runs
an event loop and network threads is unsafe). A worker leads its own process group and keeps its
temporary files in a private directory, so killing it (a timeout, a crash) also kills the ffmpeg
children it started and leaves no files behind; a fresh worker replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from bot import worker
from bot.backend import WorkerLost

log = logging.getLogger(__name__)

T = TypeVar("T")


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as its ``__cause__``."""


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    connection: Connection
    scratch: Path
    call: asyncio.Future[tuple[bool, Any]] | None = None  # the job in flight

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    @property
    def gone(self) -> bool:
        """Whether an idle worker has died: its end of the pipe closed (an idle worker never writes)."""
        return self.connection.poll() or not self.process.is_alive()

    def call_blocking(self, function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        """Send one job and wait for its answer (blocking: runs in a thread, never on the event loop)."""
        self.connection.send((function, args))
        return self.connection.recv()

    def kill(self) -> None:
        """Kill the worker and every process it started (its process group)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            # It died before leading a group of its own; the pid is still ours until it is joined.
            self.process.kill()


class LocalPool:
    """A fixed number of worker processes, each replaced when it dies or its job times out.

    Parameters
    ----------
    workers
        Worker processes (each with one BLAS thread), so also the jobs run at once.
    memory_limit
        Bytes of address space each worker may map (``RLIMIT_AS``, see :func:`bot.worker.serve`); a job
        past it raises MemoryError. None: no ceiling.
    """

    def __init__(self, workers: int, *, memory_limit: int | None = None) -> None:
        self._size = workers
        self._memory_limit = memory_limit
        self._context = multiprocessing.get_context("spawn")
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        # One thread per worker waits on its pipe, so large answers never block the event loop.
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="needlebot-pool")
        self._warm = False
        self._running = False

    @property
    def capacity(self) -> int:
        return self._size

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for logs and tests)."""
        return sorted(w.pid for w in self._workers)

    async def start(self) -> None:
        """Spawn every worker; each imports the bot's code in the background."""
        self._running = True
        for _ in range(self._size):
            self._idle.put_nowait(self._spawn())

    async def warm(self) -> None:
        """Compile librosa's numba code in every worker, and in every later replacement."""
        self._warm = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        taken = [await self._idle.get() for _ in range(self._size)]
        pids = await asyncio.gather(*(self._use(w, worker.warm, (), None) for w in taken))
        log.info("%d audio workers warm in %.1f s (pids %s)", self._size, loop.time() - started, sorted(pids))

    async def run(self, function: Callable[..., T], *args: Any, time_limit: float | None) -> T:
        """See :meth:`bot.backend.Backend.run`."""
        if not self._running:
            raise RuntimeError("the worker pool is not running")
        while (chosen := await self._idle.get()).gone:
            # Killed while idle (the OOM killer, an operator): no job's attempt is spent finding out.
            self._retire(chosen, "it died while idle")
        return await self._use(chosen, function, args, time_limit)

    async def close(self) -> None:
        """Kill every worker (jobs still running fail) and remove their files."""
        self._running = False
        workers, self._workers = list(self._workers), set()
        for w in workers:
            w.kill()
        # Replacements under way bury the worker they replace, and stop there now.
        await asyncio.gather(*self._replacing)
        await asyncio.gather(*(self._bury(w) for w in workers))
        await asyncio.to_thread(self._threads.shutdown, wait=True)

    def _spawn(self) -> _Worker:
        scratch = tempfile.mkdtemp(prefix="needlebot-worker-")
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=worker.serve,
            args=(theirs, scratch, self._memory_limit),
            name="needlebot-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        spawned = _Worker(process, ours, Path(scratch))
        self._workers.add(spawned)
        return spawned

    async def _use(
        self, chosen: _Worker, function: Callable[..., T], args: tuple[Any, ...], time_limit: float | None
    ) -> T:
        """Run one job on ``chosen``; afterwards it is idle again, or killed and being replaced."""
        chosen.call = call = asyncio.get_running_loop().run_in_executor(
            self._threads, chosen.call_blocking, function, args
        )
        try:
            # Shielded: on a timeout the thread keeps waiting on the pipe until the kill closes it.
            async with asyncio.timeout(time_limit):
                ok, value = await asyncio.shield(call)
        except TimeoutError:
            self._retire(chosen, f"its job ran past {time_limit:g} s")
            raise
        except asyncio.CancelledError:
            self._retire(chosen, "its job was cancelled")
            raise
        except (EOFError, OSError):
            self._retire(chosen, "it died during a job")
            raise WorkerLost(f"audio worker {chosen.pid} died during a job") from None
        except BaseException:
            # Sending or unpickling failed on our side: the worker itself is fine.
            self._release(chosen)
            raise
        self._release(chosen)
        if ok:
            return value
        error, trace = value
        raise error from RemoteTraceback(trace)

    def _release(self, idle: _Worker) -> None:
        idle.call = None
        self._idle.put_nowait(idle)

    def _retire(self, dead: _Worker, why: str) -> None:
        dead.kill()
        if dead.call is not None:
            # The thread's recv now fails with EOFError; nobody awaits it, so take the error here.
            dead.call.add_done_callback(_ignore_result)
        if not self._running:
            return  # close() buries every worker
        log.warning("killed audio worker %d: %s", dead.pid, why)
        self._workers.discard(dead)
        task = asyncio.create_task(self._replace(dead), name="replace-worker")
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, dead: _Worker) -> None:
        await self._bury(dead)
        if not self._running:
            return
        fresh = self._spawn()
        log.info("audio worker %d replaces %d", fresh.pid, dead.pid)
        if not self._warm:
            self._idle.put_nowait(fresh)
            return
        try:
            await self._use(fresh, worker.warm, (), None)  # which makes it idle, or replaces it in turn
        except WorkerLost:
            pass
        except Exception:
            log.exception("warming audio worker %d failed", fresh.pid)

    async def _bury(self, dead: _Worker) -> None:
        """Reap a killed worker, then remove its pipe and scratch directory."""
        await asyncio.to_thread(dead.process.join)
        if dead.call is not None:
            # Its thread reads the pipe until it sees the worker's end close: let it finish first.
            await asyncio.wait([dead.call])
        dead.connection.close()
        await asyncio.to_thread(shutil.rmtree, dead.scratch, ignore_errors=True)


def _ignore_result(future: asyncio.Future[Any] | Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
