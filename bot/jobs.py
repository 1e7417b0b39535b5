"""Audio jobs: the fair queue that admits them and the backend that runs them.

Decoding and featurizing are CPU-bound and call into C and numba, so they run in worker processes,
never on the event loop: the loop keeps Discord's heartbeat and answers other users meanwhile.
``bot/`` uses one interface whichever backend runs the work::

    async with jobs.slot(user_id, on_position=tell_place_in_line):  # waits its turn, or BusyError
        features = await jobs.run(featurize, source, ...)           # UserFacingError on timeout/crash

The queue and the limits live here and in :mod:`bot.queue`; what runs the work is a
:class:`bot.backend.Backend` (see there for the contract and the backends). Blocking network calls of
the bot's own (an album's track searches) run in :meth:`Jobs.search`'s threads, never in asyncio's
default executor, where discord.py and aiohttp look up host names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bot.backend import Backend, WorkerLost
from bot.config import AlbumSettings, JobSettings, Settings
from bot.dask_backend import DaskBackend
from bot.errors import OutageError, VerdictError
from bot.pool import LocalPool
from bot.queue import FairQueue, OnPosition

log = logging.getLogger(__name__)

T = TypeVar("T")

MEMORY_MESSAGE = (
    "This file needs more memory than I allow a song, so I stopped. Try a shorter or smaller file"
    " (e.g. an mp3 at 44.1 kHz)."
)


class Jobs:
    """A backend for audio work behind a fair queue with per-user limits.

    Parameters
    ----------
    backend : Backend
        What runs the work; its ``capacity`` is how many admitted jobs run at once.
    max_queue : int
        Jobs waiting over all users; past it the answer is "busy, try again in a minute".
    per_user : int
        Single songs one user may have waiting or running at once.
    per_user_queued : int
        Jobs of any kind (an album's tracks included) one user may have waiting or running at once.
    timeout : float
        Seconds a single :meth:`run` may take; then its work is stopped and the user told so.
    singles_share : float
        Share of ``max_queue`` kept for single songs: jobs of a batch (an album's tracks) wait only in
        the rest.
    searches : int
        Threads of :meth:`search`: blocking calls run at once.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_queue: int,
        per_user: int,
        per_user_queued: int,
        timeout: float,
        singles_share: float = JobSettings.singles_share,
        searches: int = AlbumSettings.searches,
    ) -> None:
        self.backend = backend
        self.timeout = timeout
        self.queue = FairQueue(
            backend.capacity,
            max_waiting=max_queue,
            max_batch_waiting=max_queue - math.floor(max_queue * singles_share),
            per_user=per_user,
            per_user_queued=per_user_queued,
        )
        self._searches = ThreadPoolExecutor(searches, thread_name_prefix="needlebot-search")

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int | None = None) -> Jobs:
        """The jobs the settings describe: ``[jobs] backend``'s workers behind ``[jobs]``'s limits.

        ``workers`` asks for a local pool of that many workers whatever the backend (the CLI uses 1: it
        reads files by path, which only a worker on this machine can).

        Parameters
        ----------
        settings : Settings
            ``[jobs]`` backend, workers, their memory and queue limits; ``[limits] job_timeout_seconds``;
            ``[albums] searches``.
        workers : int, optional
            Size of a local pool to use instead of the configured backend.

        Returns
        -------
        Jobs
            Not started yet: await :meth:`start`.
        """
        config = settings.jobs
        backend: Backend
        if config.backend == "dask" and workers is None:
            backend = DaskBackend.from_settings(config)
        else:
            memory = config.worker_memory_mb * 1024 * 1024 or None
            backend = LocalPool(workers or config.workers, memory_limit=memory)
        return cls(
            backend,
            max_queue=config.max_queue,
            per_user=config.per_user,
            per_user_queued=config.per_user_queued,
            timeout=settings.limits.job_timeout_seconds,
            singles_share=config.singles_share,
            searches=settings.albums.searches,
        )

    async def start(self) -> None:
        """Make the workers available (spawn processes, connect to a scheduler)."""
        await self.backend.start()

    async def warm(self) -> None:
        """Compile librosa's numba code in every worker, so no user waits for it."""
        await self.backend.warm()

    async def close(self) -> None:
        """Stop every worker and remove what they left behind; searches still running finish unawaited."""
        self._searches.shutdown(wait=False, cancel_futures=True)
        await self.backend.close()

    def slot(
        self,
        user_id: int,
        *,
        on_position: OnPosition | None = None,
        batch: bool = False,
        start_by: float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for ``user_id``'s turn and hold a slot meanwhile; see :meth:`bot.queue.FairQueue.slot`.

        Parameters
        ----------
        user_id : int
            Whose job it is: turns are taken per user.
        on_position : OnPosition, optional
            Called with the job's place in line while it waits.
        batch : bool
            One of several jobs of one request (an album's tracks).
        start_by : float, optional
            Event loop time (``loop.time()``, seconds) by which the job must start; one still waiting
            then is dropped with a BusyError. None: it waits as long as it takes.

        Returns
        -------
        contextlib.AbstractAsyncContextManager[None]
            Holds the slot for the body of the ``async with``.

        Raises
        ------
        BusyError
            On entering: a per-user limit or the queue bound is reached, or ``start_by`` passed.
        """
        return self.queue.slot(user_id, on_position=on_position, batch=batch, start_by=start_by)

    async def search(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, a blocking network call (a yt-dlp search), in this object's own threads.

        At most ``searches`` run at once, the rest wait for a thread: however many albums search, the
        default executor stays free for the host name lookups every answer to Discord needs.

        Parameters
        ----------
        function : Callable[..., T]
            Any callable; it runs in a thread of this process.
        *args : Any
            Its arguments.

        Returns
        -------
        T
            What ``function`` returned (or raises what it raised).
        """
        return await asyncio.get_running_loop().run_in_executor(self._searches, function, *args)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on a worker; a worker lost mid-job is replaced and the job tried once more.

        Parameters
        ----------
        function : Callable[..., T]
            A picklable module-level function.
        *args : Any
            Its picklable arguments.

        Returns
        -------
        T
            What ``function`` returned.

        Raises
        ------
        VerdictError
            The job needed more memory than a worker may use (``[jobs] worker_memory_mb``).
        OutageError
            The job took longer than ``timeout`` (its work was stopped) or lost its worker twice.
        """
        for attempt in range(2):
            try:
                return await self.backend.run(function, *args, time_limit=self.timeout)
            except MemoryError as error:
                log.warning("%s ran out of a worker's memory: %s", function.__name__, error)
                raise VerdictError(MEMORY_MESSAGE) from None
            except TimeoutError:
                # The machine's load as much as the song's length: not the song's verdict.
                raise OutageError(
                    f"That took longer than {self.timeout:.0f} seconds, so I gave up. Try a shorter song."
                ) from None
            except WorkerLost as lost:
                if attempt:
                    log.error("%s again, giving up on %s", lost, function.__name__)
                else:
                    log.warning("%s; trying %s once more on a fresh worker", lost, function.__name__)
        raise OutageError("My audio worker crashed on that file twice. Try another file.")
