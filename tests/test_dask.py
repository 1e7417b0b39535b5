"""Audio work on a real Dask cluster: a scheduler and two `dask worker` processes on 127.0.0.1, started
from the virtualenv as the README tells an operator, and the real bot (``[jobs] backend = "dask"``)
driven through the fake Discord. One cluster and one bot serve the whole module, in file order: the
scheduler is stopped and restarted near the end, and the last test kills both workers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import inspect
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import dask_backend
from bot.client import create_bot
from bot.config import ConfigError, JobSettings, Secret, Settings, settings_from_dict
from bot.dask_backend import MALLOC_TRIM, DaskBackend
from bot.errors import UserFacingError
from bot.jobs import Jobs
from tests.fakes.discord import FakeDiscord, running_bot
from tests.fakes.media import MediaServer, song_bytes
from tests.support.cluster import DaskCluster, TlsFiles, make_tls_files, prefixes
from tests.support.harness import LOOPBACK_SOURCES
from tests.support.workload import blas_threads, die, environment, pid_then_sleep
from tests.test_bot import assert_rating, later_error, rated

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclasses.dataclass
class Harness:
    cluster: DaskCluster
    fake: FakeDiscord
    bot: object
    media: MediaServer
    jobs: Jobs


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    directory = tmp_path_factory.mktemp("dask")
    with DaskCluster(directory, workers=2) as cluster, MediaServer() as media:
        await cluster.wait_for_workers(2)
        async with FakeDiscord() as fake:
            settings = settings_from_dict(
                {
                    "discord": {"dev_guild_id": fake.guild_id},
                    "storage": {"data_dir": str(directory / "data")},
                    "sources": dict(LOOPBACK_SOURCES),
                    "limits": {"max_audio_seconds": 20.0, "job_timeout_seconds": 60},
                    "jobs": {"backend": "dask", "scheduler": cluster.address, "cooldown_seconds": 0},
                }
            )
            settings = dataclasses.replace(
                settings, discord=dataclasses.replace(settings.discord, token=Secret(fake.token))
            )
            bot = create_bot(settings)
            async with running_bot(fake, bot, timeout=30):
                assert isinstance(bot.jobs.backend, DaskBackend)
                yield Harness(cluster, fake, bot, media, bot.jobs)


async def test_workers_are_set_up_by_the_preload(harness: Harness) -> None:
    assert await harness.jobs.run(blas_threads) == 1
    # Dask's nanny would set it; glibc then makes featurizing much slower (see bot.dask_backend).
    assert await harness.jobs.run(environment, MALLOC_TRIM) is None


async def test_the_nanny_preload_finds_the_variable_where_dask_keeps_it() -> None:
    # dask_setup edits two Nanny attributes that are not documented API. Without a cluster: if Dask
    # renames them or stops keeping the variable there, this fails here, not as a slower worker.
    from distributed import Nanny
    from distributed.nanny import WorkerProcess

    nanny = Nanny("tcp://127.0.0.1:1", nthreads=1)  # never started: nothing connects
    assert MALLOC_TRIM in nanny.pre_spawn_env and MALLOC_TRIM in nanny.env, "Dask moved the variable"
    dask_backend.dask_setup(nanny)
    assert MALLOC_TRIM not in nanny.pre_spawn_env and MALLOC_TRIM not in nanny.env
    # ... and the worker process is still spawned from exactly these two.
    assert {"env", "pre_spawn_env"} <= set(inspect.signature(WorkerProcess).parameters)


async def test_rate_an_upload_on_the_cluster(harness: Harness) -> None:
    fake = harness.fake
    data = song_bytes(10.0, seed=21, format="mp3")
    inter = await fake.slash_command(
        "rate", {"file": fake.add_attachment("clustered.mp3", data, "audio/mpeg")}
    )
    score = assert_rating(await rated(inter), cached=False)
    assert {"featurize", "render"} <= set(await harness.cluster.run_on_scheduler(prefixes))
    again = await fake.slash_command("rate", {"file": fake.add_attachment("again.mp3", data, "audio/mpeg")})
    assert assert_rating(await rated(again), cached=True) == score


async def test_a_link_is_downloaded_on_a_worker(harness: Harness) -> None:
    url = harness.media.add_song("on-worker.ogg", seconds=6.0, seed=22, format="ogg")
    message = await rated(await harness.fake.slash_command("rate", {"url": url}))
    assert_rating(message, cached=False)
    assert message.embeds[0].get("url") == url
    # The download happened inside the job the scheduler handed to a worker, not in the bot.
    assert "featurize_link" in await harness.cluster.run_on_scheduler(prefixes)
    missing = await later_error(
        await harness.fake.slash_command("rate", {"url": harness.media.url("not-there.ogg")})
    )
    assert "unavailable" in missing, "a worker's SourceError reaches the user as its message"


async def test_a_job_whose_worker_is_killed_runs_on_another(harness: Harness, tmp_path: Path) -> None:
    pids = await harness.cluster.wait_for_workers(2)
    started = tmp_path / "started"
    job = asyncio.ensure_future(harness.jobs.run(pid_then_sleep, str(started), 3.0))
    for _ in range(400):
        if started.exists() and started.read_text():
            break
        await asyncio.sleep(0.05)
    victim = int(started.read_text().split()[0])
    os.kill(victim, signal.SIGKILL)
    survivor = await job
    assert survivor != victim
    assert survivor in pids.values(), "the job finished on the other worker"


async def test_a_job_past_its_time_limit_has_its_worker_restarted(harness: Harness, tmp_path: Path) -> None:
    before = await harness.cluster.wait_for_workers(2)
    jobs = Jobs(
        DaskBackend(harness.cluster.address, capacity=2),
        max_queue=1,
        per_user=1,
        per_user_queued=1,
        timeout=2,
    )
    try:
        with pytest.raises(UserFacingError, match="longer than 2 seconds"):
            await jobs.run(pid_then_sleep, str(tmp_path / "slow"), 60.0)
    finally:
        await jobs.close()
    after = await harness.cluster.wait_for_workers(2)
    # The worker that ran it was restarted by its nanny (new pid); the other one was left alone.
    assert len(set(before.values()) & set(after.values())) == 1


async def test_scheduler_down_then_back(harness: Harness) -> None:
    fake, cluster = harness.fake, harness.cluster
    cached = song_bytes(5.0, seed=23)
    first = await fake.slash_command("rate", {"file": fake.add_attachment("before.wav", cached, "audio/wav")})
    score = assert_rating(await rated(first), cached=False)

    cluster.stop_scheduler()
    new = song_bytes(5.0, seed=24)
    inter = await fake.slash_command("rate", {"file": fake.add_attachment("during.wav", new, "audio/wav")})
    offline = await rated(inter)
    assert "audio workers are offline" in str(offline.embeds)
    assert offline.ephemeral, "only the user who asked sees it"
    # A song rated before still answers from the database.
    old = await fake.slash_command("rate", {"file": fake.add_attachment("b.wav", cached, "audio/wav")})
    assert assert_rating(await rated(old), cached=True) == score

    # Dask workers exit with their scheduler; the operator's service manager starts both again.
    cluster.start_scheduler()
    cluster.start_workers()
    await cluster.wait_for_workers(2)
    inter = await fake.slash_command("rate", {"file": fake.add_attachment("after.wav", new, "audio/wav")})
    assert_rating(await rated(inter), cached=False)


async def test_a_job_that_kills_every_worker_it_meets_is_given_up(harness: Harness) -> None:
    # Last in the module: both workers die (their nannies restart them), and nothing needs them after.
    await harness.cluster.wait_for_workers(2)
    with pytest.raises(UserFacingError, match="crashed"):
        await harness.jobs.run(die)


async def test_an_unreachable_scheduler_is_reported_as_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask retries a refused connection until the connect timeout: the message, not the 5 s, is tested.
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 0.5)
    backend = DaskBackend("tcp://127.0.0.1:9", capacity=1)
    try:
        with pytest.raises(UserFacingError, match="audio workers are offline"):
            await backend.run(os.getpid, time_limit=30)
    finally:
        await backend.close()


async def test_without_dask_installed_the_setting_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"needlebot\[dask\]"):
        DaskBackend("tcp://127.0.0.1:9", capacity=1)


# --- TLS: a cluster of its own, whose scheduler and worker speak TLS only ------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificates, and it is not installed")
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def tls_jobs(address: str, ca: Path, cert: Path, key: Path | None, **more: object) -> JobSettings:
    jobs = {"backend": "dask", "scheduler": address, "tls_ca_file": str(ca), "tls_client_cert": str(cert)}
    return settings_from_dict({"jobs": jobs | ({"tls_client_key": str(key)} if key else {}) | more}).jobs


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ({"scheduler": "tls://10.0.0.5:8786"}, "set jobs.tls_ca_file"),
        ({"scheduler": "tls://10.0.0.5:8786", "tls_ca_file": "ca.pem"}, "jobs.tls_client_cert"),
        ({"tls_ca_file": "ca.pem", "tls_client_cert": "bot.pem"}, "not a tls:// address"),
        ({"require_encryption": True}, "jobs.require_encryption set, but"),
    ],
)
async def test_tls_settings_that_do_not_fit_together_are_refused(jobs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"jobs": jobs})


async def test_unusable_tls_files_stop_the_bot_at_start(tls: TlsFiles, tmp_path: Path) -> None:
    cert, key = tls.client
    address = "tls://127.0.0.1:9"
    with pytest.raises(ConfigError, match=r"jobs\.tls_ca_file: cannot use .*missing\.pem"):
        Jobs.from_settings(Settings(jobs=tls_jobs(address, tmp_path / "missing.pem", cert, key)))
    with pytest.raises(ConfigError, match=r"jobs\.tls_ca_file: cannot use"):
        Jobs.from_settings(Settings(jobs=tls_jobs(address, key, cert, key)))  # a key is not a CA
    with pytest.raises(ConfigError, match=r"jobs\.tls_client_cert / jobs\.tls_client_key"):
        Jobs.from_settings(Settings(jobs=tls_jobs(address, tls.ca, cert, tls.worker[1])))  # another key
    with pytest.raises(ConfigError, match=r"jobs\.tls_client_cert: cannot use"):
        Jobs.from_settings(Settings(jobs=tls_jobs(address, tls.ca, cert, None)))  # the key is elsewhere


async def test_jobs_run_on_a_tls_cluster_that_refuses_strangers(
    tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DaskCluster(tmp_path / "cluster", workers=1, tls=tls, preload=False) as cluster:
        assert cluster.address.startswith("tls://")
        pids = await cluster.wait_for_workers(1)
        jobs = tls_jobs(cluster.address, tls.ca, *tls.client, require_encryption=True)
        backend = DaskBackend.from_settings(jobs)
        try:
            assert await backend.run(os.getpid, time_limit=30) in pids.values()
        finally:
            await backend.close()
        # A refused handshake is retried until the connect timeout: the message, not the 5 s, is tested.
        monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 1.0)
        stranger = make_tls_files(tmp_path / "stranger")  # the same names, from another CA
        refused = [
            DaskBackend(cluster.address.replace("tls://", "tcp://"), capacity=1),  # no TLS at all
            DaskBackend.from_settings(tls_jobs(cluster.address, stranger.ca, *stranger.client)),
            DaskBackend.from_settings(tls_jobs(cluster.address, tls.ca, *stranger.client)),
        ]
        for backend in refused:
            try:
                with pytest.raises(UserFacingError, match="audio workers are offline"):
                    await backend.run(os.getpid, time_limit=30)
            finally:
                await backend.close()
