"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: one ``dask scheduler`` and N ``dask worker``
processes started from this virtualenv, exactly as the README's "Scaling" section tells an operator.

    with DaskCluster(tmp_path, workers=2) as cluster:
        pids = await cluster.wait_for_workers(2)   # worker address -> pid, once all are warm
        ...  # [jobs] backend = "dask", scheduler = cluster.address

With ``tls=make_tls_files(tmp_path)`` every process listens and connects with TLS (``tls://`` addresses),
each with its own certificate from a throwaway CA, as the README tells an operator.

The jobs tests send to the workers live in :mod:`tests.support.workload` (importable by name on a worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# As the README's scheduler command: Dask reports a worker lost mid-job at once, and bot.jobs.Jobs
# tries the job once more (a song that killed two workers is not tried on a third).
SCHEDULER_ENV = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
PRELOADS = ("--preload-nanny", "bot.dask_backend", "--preload", "bot.dask_backend")  # as the README's


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a certificate and key (PEM files) it signed for each kind of process."""

    ca: Path
    scheduler: tuple[Path, Path]  # (certificate, key)
    worker: tuple[Path, Path]
    client: tuple[Path, Path]


def make_tls_files(directory: Path) -> TlsFiles:
    """A new CA in ``directory`` and certificates signed by it (P-256 keys, valid a day), with openssl.

    Dask checks a peer's certificate against the CA, not its host name, so the names are only labels.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", *_NEW_KEY, "-keyout", ca_key, "-out", ca, "-subj", "/CN=needlebot test CA")
    signed = []
    for name in ("scheduler", "worker", "client"):
        cert, key, request = (directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr"))
        _openssl("req", *_NEW_KEY, "-keyout", key, "-out", request, "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-days", "1", "-out", cert)
        signed.append((cert, key))
    return TlsFiles(ca, *signed)


_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1")


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


class DaskCluster:
    """Scheduler and worker processes; use as a context manager (everything is stopped on exit).

    Parameters
    ----------
    directory
        For the workers' scratch space and the processes' logs.
    workers
        ``dask worker`` processes, each ``--nthreads 1``, preloading ``bot.dask_backend`` in nanny and worker.
    tls
        Certificates: every process speaks TLS only, and :attr:`address` is ``tls://``.
    preload
        False: workers without the bot's preload, which join in about a second instead of warming
        librosa first (for jobs that need no audio).
    """

    def __init__(
        self, directory: Path, *, workers: int = 2, tls: TlsFiles | None = None, preload: bool = True
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.tls = tls
        self.preload = preload
        with socket.socket() as probe:  # a free port, kept across scheduler restarts
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def address(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    @property
    def security(self) -> Any:
        """The ``security=`` of a client of this cluster (Dask's ``Security``; None without TLS)."""
        if self.tls is None:
            return None
        from distributed.security import Security

        cert, key = self.tls.client
        return Security(tls_ca_file=str(self.tls.ca), tls_client_cert=str(cert), tls_client_key=str(key),
                        require_encryption=True)

    def _tls_args(self, files: tuple[Path, Path] | None) -> list[str]:
        if self.tls is None or files is None:
            return []
        cert, key = files
        return ["--tls-ca-file", str(self.tls.ca), "--tls-cert", str(cert), "--tls-key", str(key)]

    def __enter__(self) -> DaskCluster:
        self.start_scheduler()
        self.start_workers()
        return self

    def __exit__(self, *exc: object) -> None:
        for process in [*self.worker_processes, self.scheduler]:
            if process is not None:
                _stop(process)
        for log in self._logs:
            log.close()

    def start_scheduler(self) -> None:
        """Start (or restart, on the same port) the scheduler."""
        self.scheduler = self._spawn(
            "scheduler",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-dashboard",
            *self._tls_args(self.tls and self.tls.scheduler),
            env=SCHEDULER_ENV,
        )

    def stop_scheduler(self) -> None:
        """Stop the scheduler. Its workers stop too (Dask workers never reconnect): an operator's
        service manager restarts them, as :meth:`start_workers` does here."""
        if self.scheduler is not None:
            _stop(self.scheduler)
            self.scheduler = None

    def start_workers(self) -> None:
        """Start ``workers`` worker processes, after stopping any left from before."""
        for process in self.worker_processes:
            _stop(process)
        self.worker_processes = [
            self._spawn(
                f"worker-{index}",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                *(PRELOADS if self.preload else ()),
                "--no-dashboard",
                *self._tls_args(self.tls and self.tls.worker),
                "--local-directory",
                str(self.directory / f"worker-{index}"),
                "--name",
                f"worker-{index}",
            )
            for index in range(self.workers)
        ]

    async def wait_for_workers(self, count: int, timeout: float = 180.0) -> dict[str, int]:  # noqa: ASYNC109
        """Wait until ``count`` workers joined (they join warm) and return their address -> pid."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                async with Client(
                    self.address, asynchronous=True, timeout=5, set_as_default=False, security=self.security
                ) as client:
                    await client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))
                    return await client.run(os.getpid)
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{count} Dask workers did not join; see {self.directory}") from None
                await asyncio.sleep(0.5)

    async def run_on_scheduler(self, function: object) -> object:
        """``function(dask_scheduler)`` run in the scheduler process (for what it saw)."""
        from distributed import Client

        async with Client(
            self.address, asynchronous=True, timeout=5, set_as_default=False, security=self.security
        ) as client:
            return await client.run_on_scheduler(function)

    def _spawn(
        self, name: str, module: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: the worker's nanny and its child stop together
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def prefixes(dask_scheduler: object) -> list[str]:
    """Names of the functions the scheduler has run tasks of (for :meth:`DaskCluster.run_on_scheduler`)."""
    return sorted(dask_scheduler.task_prefixes)  # type: ignore[attr-defined]
