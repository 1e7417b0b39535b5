"""The audio worker pool and the limits on how much work users may queue.

Decoding and featurizing are CPU-bound and call into C and numba, so they run in worker processes,
never on the event loop: the loop keeps Discord's heartbeat and answers other users meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from bot import worker
from bot.errors import BusyError, UserFacingError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Jobs:
    """A process pool for audio work plus admission limits.

    Parameters
    ----------
    workers
        Worker processes (each with one BLAS thread).
    max_pending
        Jobs admitted at once over all users; one more raises :class:`BusyError`.
    per_user
        Jobs one user may have admitted at once.
    timeout
        Seconds a single pool call may take before the user is told it took too long.
    """

    def __init__(self, *, workers: int, max_pending: int, per_user: int, timeout: float) -> None:
        self.workers = workers
        self.max_pending = max_pending
        self.per_user = per_user
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._running: Counter[int] = Counter()

    def start(self) -> None:
        """Create the pool; workers spawn on first use, or all at once through :meth:`warm`."""
        self._pool = self._new_pool()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def slot(self, user_id: int) -> AsyncIterator[None]:
        """Admit one job for ``user_id`` or raise :class:`BusyError` saying why not."""
        if self._running[user_id] >= self.per_user:
            raise BusyError("You already have a song being rated; wait for that one first.")
        if self._running.total() >= self.max_pending:
            raise BusyError("I'm rating a lot of songs right now. Try again in a minute.")
        self._running[user_id] += 1
        try:
            yield
        finally:
            self._running[user_id] -= 1
            if not self._running[user_id]:
                del self._running[user_id]

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in a worker and return its result."""
        if self._pool is None:
            raise RuntimeError("the worker pool is not running")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, function, *args), self.timeout)
        except TimeoutError:
            raise UserFacingError(
                f"That took longer than {self.timeout:.0f} seconds, so I gave up. Try a shorter song."
            ) from None
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool cannot be used again, so replace it.
            log.error("an audio worker died; restarting the pool")
            broken, self._pool = self._pool, self._new_pool()
            broken.shutdown(wait=False, cancel_futures=True)
            raise UserFacingError("My audio worker crashed on that file. Try another file.") from None

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs an event loop and network threads is unsafe.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.init_worker,
        )

    async def warm(self) -> None:
        """Spawn every worker and compile librosa's numba code in each, so no user waits for it."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Submitting one warm-up per worker makes the pool spawn all of them now, not on demand.
        pids = await asyncio.gather(
            *(loop.run_in_executor(self._pool, worker.warm) for _ in range(self.workers))
        )
        log.info(
            "%d audio workers warm in %.1f s (pids %s)",
            self.workers,
            loop.time() - started,
            sorted(set(pids)),
        )
