"""Faults the bot survives (issue 9, section 4), through the real bot and the fake Discord.

A download that trickles or stalls, the database locked by another process, the gateway dropping the
connection with a job in flight, and the bot killed mid-burst and restarted on the same database.
(A worker killed mid-job and a hung ffmpeg are in tests/test_jobs.py.) Each test records what
happened for RELIABILITY.md (tests/reliability_parts.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from bot.client import NeedleBot
from bot.sources.youtube import DownloadFailedError, NetworkError, YouTubeOptions, download_audio
from tests.fakes.discord import OP_RESUME, FakeDiscord, FakeInteraction, SentMessage
from tests.fakes.media import MediaServer, song_bytes
from tests.reliability_parts import record_fault
from tests.serving import bot_process, bot_settings, serve_bot, write_config
from tests.test_bot import DEFERRED, assert_rating, rows

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOOPBACK = YouTubeOptions(
    allowed_hosts=("127.0.0.1",), allowed_extractors=("generic",), socket_timeout=1.0, allow_loopback=True
)
BUSY_TIMEOUT = 3.0  # seconds the harness bot waits on a locked database
DOWNLOAD_TIMEOUT = 2.0  # seconds the harness bot gives a download in all


@dataclass
class Harness:
    fake: FakeDiscord
    bot: NeedleBot
    media: MediaServer
    database: Path
    scratch: Path  # the bot's temporary directory (tempfile.tempdir) while this module runs


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    with MediaServer() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory, media: MediaServer) -> AsyncIterator[Harness]:
    data_dir = tmp_path_factory.mktemp("fault-data")
    scratch = tmp_path_factory.mktemp("fault-scratch")
    saved, tempfile.tempdir = tempfile.tempdir, str(scratch)
    overrides = {
        "storage": {"busy_timeout_seconds": BUSY_TIMEOUT},
        "limits": {"download_timeout_seconds": DOWNLOAD_TIMEOUT, "socket_timeout_seconds": 2.0},
    }
    try:
        async with FakeDiscord() as fake, serve_bot(fake, data_dir, overrides) as bot:
            await bot.jobs.warm()
            yield Harness(fake, bot, media, bot.settings.storage.database_path, scratch)
    finally:
        tempfile.tempdir = saved


async def answer(inter: FakeInteraction, timeout: float = 120.0) -> SentMessage:  # noqa: ASYNC109
    """The message that carries the rating or the error (both are embeds)."""
    return await inter.wait_message(lambda m: bool(m.embeds), timeout=timeout)


async def rate_file(fake: FakeDiscord, name: str, data: bytes, user_id: int) -> FakeInteraction:
    return await fake.slash_command(
        "rate", {"file": fake.add_attachment(name, data, "audio/wav")}, user_id=user_id
    )


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:  # noqa: ASYNC109
    """Poll ``condition()`` until it holds or ``timeout`` seconds pass; its last value.

    For what no event announces (a server thread seeing its client leave, a count in a fake).
    """
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return condition()


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- downloads that hang ---------------------------------------------------------------------------


async def test_a_trickling_download_stops_at_its_deadline(media: MediaServer, tmp_path: Path) -> None:
    # 256 bytes every 0.2 s: each read arrives well within the socket timeout, the song would take minutes.
    url = media.add_trickle("trickle.wav", song_bytes(3.0, seed=1), "audio/wav", every_s=0.2)
    started = time.monotonic()
    # The bound only turns a regression (a download that never ends) into a failure instead of a hang.
    with pytest.raises(NetworkError, match="too slow") as info:
        async with asyncio.timeout(60):
            await asyncio.to_thread(download_audio, url, tmp_path, replace(LOOPBACK, download_timeout=1.5))
    assert "127.0.0.1" not in str(info.value)
    assert entries(tmp_path) == [], "the .part file must not outlive the download"
    # The downloading thread really stopped: the server saw its connection close mid-body.
    assert await eventually(lambda: media.abandoned("trickle.wav") >= 1)
    record_fault(
        "A link's host trickles 256 bytes every 0.2 s (download deadline 1.5 s)",
        f"stopped at the deadline: “{info.value}”; no file left",
        time.monotonic() - started,
    )


async def test_a_download_that_stalls_after_its_headers_times_out(media: MediaServer, tmp_path: Path) -> None:
    url = media.add_stall("stall.wav", "audio/wav")
    started = time.monotonic()
    with pytest.raises(DownloadFailedError, match="did not answer in time") as info:
        async with asyncio.timeout(60):
            await asyncio.to_thread(download_audio, url, tmp_path, LOOPBACK)
    assert entries(tmp_path) == []
    assert await eventually(lambda: media.abandoned("stall.wav") >= 1)
    record_fault(
        "A link's host sends headers, then nothing (socket timeout 1 s)",
        f"stopped by the socket timeout: “{info.value}”; no file left",
        time.monotonic() - started,
    )


async def test_a_trickling_link_gets_a_private_error_and_leaves_nothing(harness: Harness) -> None:
    fake, media = harness.fake, harness.media
    url = media.add_trickle("bot-trickle.wav", song_bytes(3.0, seed=2), "audio/wav", every_s=0.2)
    inter = await fake.slash_command("rate", {"url": url}, user_id=fake.user_id + 1)
    error = await answer(inter)
    assert "too slow" in str(error.embeds) and error.ephemeral
    # Only the live workers' private directories remain; the service's own is gone.
    left = [name for name in entries(harness.scratch) if not name.startswith("needlebot-worker-")]
    assert left == [], "the service's temporary directory must be gone"
    assert harness.bot.jobs.queue.running == 0, "the user's slot must be free again"
    record_fault(
        f"/rate of a trickling link (bot's download deadline {DOWNLOAD_TIMEOUT:g} s)",
        "the user alone was told the host is too slow; no temporary file left; slot freed",
        inter.elapsed(),
    )


# --- the database locked by another process -------------------------------------------------------

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def lock_database(database: Path) -> subprocess.Popen[str]:
    """Another process holding the database's write lock until a line is written to its stdin."""
    command = [sys.executable, "-c", LOCKER, str(database)]
    locker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    return locker


def release(locker: subprocess.Popen[str]) -> None:
    locker.communicate("\n", timeout=10)
    assert locker.returncode == 0


async def test_a_rating_waits_for_a_locked_database(harness: Harness) -> None:
    fake, database = harness.fake, harness.database
    data = song_bytes(4.0, seed=10)
    assert_rating(await answer(await rate_file(fake, "locked a.wav", data, fake.user_id + 10)), cached=False)
    before = rows(database, "SELECT * FROM ratings ORDER BY id")
    # A cached answer writes at once, so it surely meets the lock (a fresh one writes the same way).
    locker = lock_database(database)
    try:
        inter = await rate_file(fake, "locked a.wav", data, fake.user_id + 11)
        await asyncio.sleep(BUSY_TIMEOUT / 2)
        assert not any(m.embeds for m in inter.messages), "answered while the database was locked"
    finally:
        release(locker)
    assert_rating(await answer(inter), cached=True)
    after = rows(database, "SELECT * FROM ratings ORDER BY id")
    assert after[: len(before)] == before and len(after) == len(before) + 1
    record_fault(
        f"Another process holds the database's write lock for {BUSY_TIMEOUT / 2:g} s while a rating is saved",
        "the save waited for the lock, then the rating was stored and answered; history intact",
        inter.elapsed(),
    )


async def test_a_database_locked_too_long_loses_nothing_and_says_so(harness: Harness) -> None:
    fake, database = harness.fake, harness.database
    data = song_bytes(4.0, seed=11)
    before = rows(database, "SELECT * FROM ratings ORDER BY id")
    songs = rows(database, "SELECT key FROM songs ORDER BY key")
    locker = lock_database(database)
    try:
        inter = await rate_file(fake, "locked b.wav", data, fake.user_id + 12)
        error = await answer(inter)
    finally:
        release(locker)
    assert "database is locked" in str(error.embeds) and error.ephemeral
    assert rows(database, "SELECT * FROM ratings ORDER BY id") == before, "no half-written request"
    assert rows(database, "SELECT key FROM songs ORDER BY key") == songs, "no song without its request"
    # Once the lock is gone, asking again works and history grows by exactly that rating.
    again = await rate_file(fake, "locked b.wav", data, fake.user_id + 12)
    assert_rating(await answer(again), cached=False)
    assert len(rows(database, "SELECT * FROM ratings")) == len(before) + 1
    record_fault(
        f"Another process holds the database's write lock past the bot's busy timeout ({BUSY_TIMEOUT:g} s)",
        "the user alone was told the database is locked; nothing half-written; asking again afterwards"
        " rated and stored it",
        inter.elapsed(),
    )


# --- the gateway drops the connection ----------------------------------------------------------------


async def test_the_gateway_drops_and_jobs_in_flight_still_answer(harness: Harness) -> None:
    fake, bot = harness.fake, harness.bot
    identifies, resumes = fake.identifies, fake.resumes
    # Both workers busy, so the song waits in line while the connection drops.
    async with bot.jobs.slot(fake.user_id + 20), bot.jobs.slot(fake.user_id + 21):
        inter = await rate_file(fake, "dropped.wav", song_bytes(5.0, seed=20), fake.user_id + 22)
        place = await inter.wait_followup(timeout=10)
        assert "in line" in place.content
        await fake.drop_connection(4000)  # "unknown error": resumable
        # A user asks while the bot is away: Discord replays the command when the session resumes.
        meanwhile = await rate_file(fake, "while away.wav", song_bytes(4.0, seed=22), fake.user_id + 24)
        await fake.wait_gateway(lambda f: f.resumes == resumes + 1 and f.connected, timeout=30)
    assert_rating(await answer(inter), cached=False)
    assert_rating(await answer(meanwhile), cached=False)
    assert (await meanwhile.wait_response()).type == DEFERRED
    assert fake.identifies == identifies, "the session was resumed, not started again"
    assert [p["op"] for p in fake.gateway_received].count(OP_RESUME) == resumes + 1
    # The resumed session receives new commands.
    after = await rate_file(fake, "after drop.wav", song_bytes(4.0, seed=21), fake.user_id + 23)
    assert_rating(await answer(after), cached=False)
    record_fault(
        "The gateway closes the websocket (code 4000) while a /rate waits in line",
        "discord.py resumed the session (RESUME, no new IDENTIFY); the waiting rating arrived, a /rate"
        " sent while the bot was away was replayed on resume and answered, and so was one after",
        inter.elapsed(),
    )


# --- the bot killed mid-burst and restarted --------------------------------------------------------


def song_titles_and_orphans(database: Path) -> tuple[set[str], list[tuple]]:
    """The titles of the stored songs, and any request whose song is missing (a half-written rating)."""
    titles = {title for (title,) in rows(database, "SELECT title FROM songs")}
    orphans = rows(
        database,
        "SELECT r.id FROM ratings r LEFT JOIN songs s ON s.key = r.song_key AND s.model = r.model"
        " WHERE s.key IS NULL",
    )
    return titles, orphans


async def test_the_bot_killed_mid_burst_keeps_every_finished_rating(tmp_path: Path) -> None:
    songs = {f"burst {n}": song_bytes(6.0, seed=30 + n) for n in range(8)}
    async with FakeDiscord() as fake:
        config = write_config(tmp_path / "config.toml", bot_settings(fake, tmp_path / "data", {}))
        database = tmp_path / "data" / "needlebot.sqlite3"
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        users = {title: fake.user_id + 30 + n for n, title in enumerate(songs)}

        async def burst() -> dict[str, FakeInteraction]:
            return {
                title: await rate_file(fake, f"{title}.wav", data, users[title])
                for title, data in songs.items()
            }

        def answered() -> set[str]:
            return {title for title, inter in inters.items() if any(m.embeds for m in inter.messages)}

        with bot_process(fake, config, scratch) as first:
            await fake.wait_gateway(lambda f: f.identifies == 1 and f.connected, timeout=120)
            workers = [child.pid for child in psutil.Process(first.pid).children(recursive=True)]
            started = time.monotonic()
            inters = await burst()
            # Kill it hard once some ratings are answered and others still run or wait.
            assert await eventually(lambda: len(answered()) >= 2, timeout=120)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        seen = answered()
        assert seen != set(songs), "the kill came too late to interrupt anything"
        # Its workers see their pipe close and exit, removing their files: nothing keeps running.
        _, alive = psutil.wait_procs([psutil.Process(pid) for pid in workers if psutil.pid_exists(pid)], 30)
        assert alive == [], alive
        left = entries(scratch)
        assert not [name for name in left if name.startswith("needlebot-worker-")], left

        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored, orphans = song_titles_and_orphans(database)
        assert orphans == [], "a request was stored without its song"
        assert seen <= stored, "a rating the user saw was lost"
        history = rows(database, "SELECT * FROM ratings ORDER BY id")

        with bot_process(fake, config, scratch):
            await fake.wait_gateway(lambda f: f.identifies == 2 and f.connected, timeout=120)
            again = await burst()
            answers = {title: await answer(i) for title, i in again.items()}
        for title, message in answers.items():
            # What was stored before the kill is answered from the cache; the rest is rated afresh.
            assert_rating(message, cached=title in stored)
        assert rows(database, "SELECT * FROM ratings ORDER BY id")[: len(history)] == history
        assert song_titles_and_orphans(database) == (set(songs), [])
    record_fault(
        "The bot process is killed (SIGKILL) mid-burst of 8 /rate, then restarted on the same database",
        f"{len(seen)} answered before the kill, {len(stored)} stored, none half-written; its workers"
        f" exited and removed their files ({len(left)} temporary folder(s) of the killed bot"
        " itself remain); after the restart the stored ones came from the cache and the rest were rated",
        time.monotonic() - started,
    )


