"""Audio work on a Dask cluster (``[jobs] backend = "dask"``), and the preload its workers run.

The bot side is :class:`DaskBackend`, a :class:`bot.backend.Backend`: :class:`bot.jobs.Jobs` keeps the
fair queue, the limits, the retry and the messages, and each admitted job goes to the cluster through
Dask's asynchronous client, which the event loop awaits without threads. The worker side is
:func:`dask_setup`, run by ``dask worker --preload-nanny bot.dask_backend --preload bot.dask_backend``
in every worker process (and its nanny) before it joins the cluster. Functions travel by reference
(``bot.worker.featurize``), so every worker machine runs the same version of this package as the bot.

What happens when things break (see "Scaling" in the README):

- A worker dies mid-job: with the README's scheduler setting (``allowed-failures`` 0) Dask reports it
  at once as ``KilledWorker``, raised here as :class:`bot.backend.WorkerLost`, and ``Jobs`` tries the
  job once more, as for the local pool. With Dask's default (3) the scheduler would itself retry a
  song on up to four workers before ``Jobs`` even saw it.
- A job runs past its time limit: Dask cannot interrupt a running task, so the worker running it is
  restarted by its nanny (which also ends its ffmpeg).
- TLS (``[jobs] scheduler = "tls://..."``): the client proves itself with ``tls_client_cert`` and checks
  the scheduler's certificate against ``tls_ca_file`` (Dask's :class:`distributed.security.Security`),
  so only holders of that CA's certificates can send the bot the pickles it loads. The files are
  checked when the backend is made, at start.
- The scheduler is unreachable, or has no workers: new songs get a clear "audio workers are offline"
  answer; ratings already in the database are still served. There is no fallback to local processes: a
  bot machine sized for the gateway would be swamped by the audio work meant for a cluster. Each new
  job tries to reconnect, so service resumes as soon as the scheduler is back.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import ssl
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot import worker
from bot.backend import WorkerLost
from bot.config import ConfigError, JobSettings
from bot.errors import OutageError

if TYPE_CHECKING:
    from distributed import Client, Future, Nanny, Worker
    from distributed.security import Security

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds to wait for the scheduler when (re)connecting; an unreachable one must not hold a user long.
CONNECT_TIMEOUT = 5.0

# Set by Dask's nanny for its workers (distributed.nanny.pre-spawn-environ); see dask_setup.
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"

OFFLINE_MESSAGE = (
    "My audio workers are offline, so I can't rate new songs right now. Songs I rated before still"
    " work; try again in a few minutes."
)


class DaskBackend:
    """Runs audio jobs on the workers of a Dask scheduler; see :class:`bot.backend.Backend`.

    Parameters
    ----------
    scheduler
        The scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
    capacity
        Jobs sent to the cluster at once (``[jobs] workers``: its worker processes). Waiting jobs stay
        in the bot's fair queue rather than in Dask's, so users still take turns.
    security
        TLS certificates for a ``tls://`` scheduler (see :meth:`from_settings`); None: Dask's own config.
    """

    def __init__(self, scheduler: str, capacity: int, *, security: Security | None = None) -> None:
        _require_dask()
        self.scheduler = scheduler
        self._capacity = capacity
        self._security = security
        self._client: Client | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: JobSettings) -> DaskBackend:
        """The backend ``[jobs]`` describes: its scheduler, ``workers`` jobs at once, and its TLS files.

        Raises
        ------
        ConfigError
            Dask is not installed, or a TLS file cannot be read or does not hold what it should (the
            message names the setting).
        """
        _require_dask()
        return cls(settings.scheduler, settings.workers, security=_security(settings))

    @property
    def capacity(self) -> int:
        return self._capacity

    async def start(self) -> None:
        """Nothing to start here: :meth:`warm` connects in the background, so an unreachable
        scheduler never delays the bot's start (cached ratings, /history and /top need no worker)."""

    async def warm(self) -> None:
        """Connect to the scheduler and log the cluster's size (the workers warm themselves)."""
        try:
            client = await self._connected()
        except OutageError:
            return  # logged by _connected; every job retries
        info = client.scheduler_info()
        log.info(
            "connected to the Dask scheduler %s: %d workers, %d threads",
            self.scheduler,
            info.get("n_workers", 0),
            info.get("total_threads", 0),
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def run(self, function: Callable[..., T], *args: Any, time_limit: float | None) -> T:
        """See :meth:`bot.backend.Backend.run`.

        Arguments travel inside the task, through the scheduler (uploads: one copy of the bytes from
        here), so a job whose worker dies can start again elsewhere; data scattered straight to one
        worker would die with it, and was slower in ``benchmarks/scale.py`` besides.

        Raises
        ------
        OutageError
            The cluster is offline.
        """
        from dask.utils import funcname
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        client = await self._connected()
        future = client.submit(_call, function, *args, key=f"{funcname(function)}-{uuid.uuid4().hex}")
        try:
            async with asyncio.timeout(time_limit):
                return await future
        except TimeoutError:
            await self._stop(client, future)
            raise
        except FutureCancelledError:
            log.warning("lost the Dask scheduler %s during a job", self.scheduler)
            raise OutageError(OFFLINE_MESSAGE) from None
        except KilledWorker:
            raise WorkerLost(f"a Dask worker died running {future.key}") from None

    async def _connected(self) -> Client:
        """The connected client, connecting first if need be; raises the offline message otherwise."""
        from distributed import Client

        async with self._connecting:
            client = self._client
            if client is not None and client.status not in ("running", "connecting"):
                # Dask closes a client that could not reconnect in time: start a new one.
                self._client = client = None
            if client is None:
                client = Client(
                    self.scheduler,
                    asynchronous=True,
                    timeout=CONNECT_TIMEOUT,
                    set_as_default=False,
                    security=self._security,
                )
                try:
                    await client
                except BaseException as error:  # also cancelled (the bot closing): close what started
                    await client.close()
                    if isinstance(error, OSError | TimeoutError):
                        log.warning("the Dask scheduler %s is unreachable: %s", self.scheduler, error)
                        raise OutageError(OFFLINE_MESSAGE) from None
                    raise
                self._client = client
        # "connecting": the scheduler went away and the client is trying to get it back. The worker
        # count is Dask's copy from the last few seconds; ask afresh only when it says none.
        if client.status != "running" or not (
            client.scheduler_info().get("n_workers") or await client.nthreads()
        ):
            log.warning("no Dask workers available at %s (client %s)", self.scheduler, client.status)
            raise OutageError(OFFLINE_MESSAGE)
        return client

    async def _stop(self, client: Client, future: Future) -> None:
        # A running task cannot be interrupted: restart the worker running it (its nanny starts a
        # fresh, warm one), which also ends the ffmpeg it started.
        running = [address for address, keys in (await client.processing()).items() if future.key in keys]
        await client.cancel(future)
        if running:
            log.warning("restarting Dask worker %s: its job ran too long", running[0])
            await client.restart_workers(running, raise_for_error=False)


def _require_dask() -> None:
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError("""jobs.backend = "dask" needs Dask: pip install 'needlebot[dask]'""")


def _security(settings: JobSettings) -> Security | None:
    """Dask's TLS options from ``[jobs]`` (None for a ``tcp://`` scheduler), tried now: a wrong path, a
    file that holds no certificate or a certificate that does not match its key stops the bot at start."""
    if not settings.scheduler.startswith("tls://"):
        return None
    from distributed.security import Security

    ca, cert, key = settings.tls_ca_file, settings.tls_client_cert, settings.tls_client_key
    try:
        ssl.create_default_context(cafile=ca)
    except OSError as error:  # ssl.SSLError included
        reason = _reason(error)
        raise ConfigError(f"jobs.tls_ca_file: cannot use {ca} as a CA certificate: {reason}") from None
    security = Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key or None,
        require_encryption=settings.require_encryption or None,  # None: Dask's own config decides
    )
    try:
        security.get_connection_args("client")  # builds the SSL context: reads and matches the files
    except OSError as error:
        files = f"{cert} and {key}" if key else cert
        raise ConfigError(
            f"jobs.tls_client_cert{' / jobs.tls_client_key' if key else ''}: cannot use {files} as the bot's"
            f" certificate and key: {_reason(error)}"
        ) from None
    return security


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    return error.strerror or str(error)


def _call(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the worker, its exceptions stripped of their chained causes.

    Dask pickles an exception with its ``__cause__`` and ``__context__``; yt-dlp's and decoders'
    exceptions behind our messages may not pickle, and then the bot would get a bare ``Exception``
    instead of the ``SourceError`` or ``AudioError`` whose message is meant for the user.
    """
    try:
        return function(*args)
    except Exception as error:
        error.__cause__ = error.__context__ = None
        raise


def dask_setup(server: Worker | Nanny) -> None:
    """Preload hook, for both ``--preload-nanny bot.dask_backend`` and ``--preload bot.dask_backend``.

    In the nanny (before it spawns its worker): drop ``MALLOC_TRIM_THRESHOLD_`` from the environment
    Dask gives workers. With it glibc maps and unmaps every large numpy array afresh, and a 3-minute
    song took 1.15 s to featurize instead of 0.73 s (the 2-core build machine, medians of 5; BENCHMARKS.md).

    In the worker (before it registers with the scheduler, so no job lands on a cold worker): one BLAS
    thread and a warm numba cache. Start workers with ``--nthreads 1``: one job per process, as in the
    local pool.
    """
    from distributed import Nanny

    if isinstance(server, Nanny):
        # The nanny keeps the variable twice: as set before spawning, and in the worker's environment.
        # Both are Nanny attributes, not documented API: Dask's public pre-spawn-environ setting can set a
        # variable but not unset it, and any value turns glibc's adaptive thresholds off. tests/test_dask.py
        # fails loudly (without a cluster) if Dask stops keeping the variable there.
        server.pre_spawn_env.pop(MALLOC_TRIM, None)
        server.env.pop(MALLOC_TRIM, None)
        return
    worker.init_worker()
    if server.state.nthreads != 1:
        log.warning(
            "this Dask worker runs %d jobs at once; start it with --nthreads 1 (one process per core)",
            server.state.nthreads,
        )
    if MALLOC_TRIM in os.environ:
        log.warning("%s is set: audio work runs slower; add --preload-nanny bot.dask_backend", MALLOC_TRIM)
    log.info("needlebot worker warm (pid %d)", worker.warm())
