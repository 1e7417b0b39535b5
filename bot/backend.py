"""What runs audio work: the contract between :class:`bot.jobs.Jobs` and a backend.

``Jobs`` owns everything users see (the fair queue, per-user limits, retries, the messages); a
backend only runs functions somewhere. The service, the queue and the limits never learn which
backend runs, so a backend can be swapped by configuration:

- :class:`bot.pool.LocalPool` (the default): worker processes on this machine, each killed
  and replaced when its job times out or it dies.
- :class:`bot.dask_backend.DaskBackend` (``[jobs] backend = "dask"``): the workers of a Dask
  cluster, through ``Client(address, asynchronous=True)``; a job past its time limit has its worker
  restarted, and a lost worker (``distributed.KilledWorker``) is raised as :class:`WorkerLost`.

Functions and their arguments travel by pickle: functions must be importable by name in the worker
(module-level, as in :mod:`bot.worker`), and so must the exceptions they raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class WorkerLost(Exception):
    """The worker running a job died (killed, out of memory, a crash in C code) before answering.

    The backend has already replaced it; the same job may be tried again.
    """


class Backend(Protocol):
    """Runs functions on workers; see the module docstring for the two implementations."""

    @property
    def capacity(self) -> int:
        """Jobs it runs at once (the fair queue admits this many)."""
        ...

    async def start(self) -> None:
        """Make the workers available (spawn processes, connect to a scheduler)."""
        ...

    async def warm(self) -> None:
        """Run :func:`bot.worker.warm` once on every worker, so no user waits for numba to compile."""
        ...

    async def run(self, function: Callable[..., T], *args: Any, time_limit: float | None) -> T:
        """``function(*args)`` on a worker.

        Parameters
        ----------
        function : Callable[..., T]
            A picklable module-level function.
        *args : Any
            Its picklable arguments.
        time_limit : float or None
            Seconds the job may take; None for no limit.

        Returns
        -------
        T
            What ``function`` returned.

        Raises
        ------
        TimeoutError
            It took longer than ``time_limit`` seconds; the work has been stopped, not just abandoned.
        WorkerLost
            The worker died during the job.
        UserFacingError
            No worker can take it now (the Dask cluster is offline); the message says so.
        Exception
            Whatever ``function`` raised.
        """
        ...

    async def close(self) -> None:
        """Stop every worker and remove what they left behind."""
        ...
