"""Faults the bot survives (issue 9, section 4), each a scenario run through the real bot and the fakes.

Every scenario does something bad to the bot, asserts what must still hold (an ``AssertionError`` says
what did not), and returns what happened. tests/test_faults.py runs them as tests; `faults` runs them
all for RELIABILITY.md. A worker killed mid-job and a hung ffmpeg are also in tests/test_jobs.py, on
the pool alone.

Scenarios that use a running bot expect one started with `LIMITS` (short download and database
timeouts, so a fault shows within seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from bot import dask_backend
from sources.youtube import DownloadFailedError, NetworkError, YouTubeOptions, download_audio
from tests.fakes.discord import OP_RESUME, Callback, FakeDiscord, FakeInteraction, SentMessage
from tests.fakes.media import FeedItem, song_bytes
from tests.fakes.musicbrainz import FakeRelease
from tests.fakes.proxy import RecordingProxy
from tests.support.harness import Harness, album_sources, bot_harness
from tests.support.serving import bot_process, bot_settings, write_config
from tests.test_bot import DEFERRED, assert_rating, rows

DATABASE_TIMEOUT = 3.0  # seconds the bot waits on a locked database
DOWNLOAD_TIMEOUT = 2.0  # seconds the bot gives a download in all
LIMITS = {
    "database_timeout_seconds": DATABASE_TIMEOUT,
    "download_timeout_seconds": DOWNLOAD_TIMEOUT,
    "socket_timeout_seconds": 2.0,
}
LOOPBACK = YouTubeOptions(
    allowed_hosts=("127.0.0.1",), allowed_extractors=("generic",), socket_timeout=1.0, allow_loopback=True
)


@dataclass(frozen=True)
class Survived:
    """What was done to the bot, what happened, and how long it took (seconds)."""

    fault: str
    outcome: str
    seconds: float


Scenario = Callable[[Harness, Path], Awaitable[Survived]]


async def answer(inter: FakeInteraction, timeout: float = 120.0) -> SentMessage:  # noqa: ASYNC109
    """The message that carries the rating or the error (both are embeds)."""
    return await inter.wait_message(lambda m: bool(m.embeds), timeout=timeout)


async def album_answer(inter: FakeInteraction, timeout: float = 120.0) -> SentMessage:  # noqa: ASYNC109
    """An /album's final message: its rating or its error, not a progress edit."""
    return await inter.wait_message(
        lambda m: bool(m.embeds) and "Listening to" not in m.embeds[0].get("title", ""), timeout=timeout
    )


async def rate_file(fake: FakeDiscord, name: str, data: bytes, user_id: int) -> FakeInteraction:
    attachment = fake.add_attachment(name, data, "audio/wav")
    return await fake.slash_command("rate", {"file": attachment}, user_id=user_id)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:  # noqa: ASYNC109
    """Poll ``condition()`` until it holds or ``timeout`` seconds pass; its last value.

    For what no event announces (a server thread seeing its client leave, a process exiting).
    """
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return condition()


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- downloads that hang ---------------------------------------------------------------------------


async def trickling_download(harness: Harness, tmp: Path) -> Survived:
    media = harness.media
    # 256 bytes every 0.2 s: each read arrives well within the socket timeout, the song would take minutes.
    url = media.add_trickle("trickle.wav", song_bytes(3.0, seed=1), "audio/wav", every_s=0.2)
    started = time.monotonic()
    try:
        # The bound only turns a regression (a download that never ends) into a failure instead of a hang.
        async with asyncio.timeout(60):
            await asyncio.to_thread(download_audio, url, tmp, replace(LOOPBACK, download_timeout=1.5))
    except NetworkError as error:
        said = str(error)
    else:
        raise AssertionError("the trickling download succeeded")
    assert "too slow" in said and "127.0.0.1" not in said, said
    assert entries(tmp) == [], "the .part file must not outlive the download"
    # The downloading thread really stopped: the server saw its connection close mid-body.
    assert await eventually(lambda: media.abandoned("trickle.wav") >= 1), "the download ran on"
    return Survived(
        "A link's host trickles 256 bytes every 0.2 s (download deadline 1.5 s)",
        f"stopped at the deadline, the connection closed: “{said}”; no file left",
        time.monotonic() - started,
    )


async def stalled_download(harness: Harness, tmp: Path) -> Survived:
    media = harness.media
    url = media.add_stall("stall.wav", "audio/wav")
    started = time.monotonic()
    try:
        async with asyncio.timeout(60):
            await asyncio.to_thread(download_audio, url, tmp, LOOPBACK)
    except DownloadFailedError as error:
        said = str(error)
    else:
        raise AssertionError("the stalled download succeeded")
    assert "did not answer in time" in said, said
    assert entries(tmp) == []
    assert await eventually(lambda: media.abandoned("stall.wav") >= 1), "the download ran on"
    return Survived(
        "A link's host sends its headers, then nothing (socket timeout 1 s)",
        f"stopped by the socket timeout after yt-dlp's one retry: “{said}”; no file left",
        time.monotonic() - started,
    )


async def trickling_link(harness: Harness, tmp: Path) -> Survived:
    fake, media = harness.fake, harness.media
    url = media.add_trickle("bot-trickle.wav", song_bytes(3.0, seed=2), "audio/wav", every_s=0.2)
    inter = await fake.slash_command("rate", {"url": url}, user_id=fake.user_id + 1)
    error = await answer(inter)
    assert "too slow" in str(error.embeds) and error.ephemeral, error
    # The download ran in a worker: only the live workers' private directories remain, and they are empty.
    left = [
        str(p.relative_to(harness.scratch))
        for p in harness.scratch.rglob("*")
        if not (p.parent == harness.scratch and p.name.startswith("needlebot-worker-"))
    ]
    assert left == [], f"temporary files were left: {left}"
    assert harness.bot.jobs.queue.running == 0, "the user's slot must be free again"
    return Survived(
        f"/rate of a link whose host trickles (the bot's download deadline: {DOWNLOAD_TIMEOUT:g} s)",
        "the user alone was told the host is too slow; no temporary file left; the slot freed",
        inter.elapsed(),
    )


# --- the database locked by another process -------------------------------------------------------

_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@contextlib.contextmanager
def database_locked(database: Path) -> Iterator[None]:
    """Another process holds the database's write lock (``BEGIN EXCLUSIVE``) for the ``with`` block."""
    command = [sys.executable, "-c", _LOCKER, str(database)]
    locker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        yield
    finally:
        locker.communicate("\n", timeout=10)
    assert locker.returncode == 0


async def database_locked_briefly(harness: Harness, tmp: Path) -> Survived:
    fake, database = harness.fake, harness.database
    data = song_bytes(4.0, seed=10)
    assert_rating(await answer(await rate_file(fake, "locked a.wav", data, fake.user_id + 10)), cached=False)
    before = rows(database, "SELECT * FROM ratings ORDER BY id")
    # A cached answer writes at once, so it surely meets the lock (a fresh one writes the same way).
    with database_locked(database):
        inter = await rate_file(fake, "locked a.wav", data, fake.user_id + 11)
        await asyncio.sleep(DATABASE_TIMEOUT / 2)
        assert not any(m.embeds for m in inter.messages), "answered while the database was locked"
    assert_rating(await answer(inter), cached=True)
    after = rows(database, "SELECT * FROM ratings ORDER BY id")
    assert after[: len(before)] == before and len(after) == len(before) + 1, "history changed"
    return Survived(
        f"Another process holds the database's write lock for {DATABASE_TIMEOUT / 2:g} s as a rating is"
        " saved",
        "the save waited for the lock, then the rating was stored and answered; history intact",
        inter.elapsed(),
    )


async def database_locked_too_long(harness: Harness, tmp: Path) -> Survived:
    fake, database = harness.fake, harness.database
    data = song_bytes(4.0, seed=11)
    before = rows(database, "SELECT * FROM ratings ORDER BY id")
    songs = rows(database, "SELECT key FROM songs ORDER BY key")
    with database_locked(database):
        inter = await rate_file(fake, "locked b.wav", data, fake.user_id + 12)
        error = await answer(inter)
    assert "database is locked" in str(error.embeds) and error.ephemeral, error
    assert rows(database, "SELECT * FROM ratings ORDER BY id") == before, "a half-written request"
    assert rows(database, "SELECT key FROM songs ORDER BY key") == songs, "a song stored without its request"
    # Once the lock is gone, asking again works and history grows by exactly that rating.
    again = await rate_file(fake, "locked b.wav", data, fake.user_id + 12)
    assert_rating(await answer(again), cached=False)
    assert len(rows(database, "SELECT * FROM ratings")) == len(before) + 1
    return Survived(
        f"Another process holds the database's write lock past the bot's wait ({DATABASE_TIMEOUT:g} s)",
        "the user alone was told the database is locked; nothing half-written; asking again afterwards"
        " rated and stored it",
        inter.elapsed(),
    )


# --- a worker and the gateway ---------------------------------------------------------------------


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def workers_killed_while_idle(harness: Harness, tmp: Path) -> Survived:
    fake, bot = harness.fake, harness.bot
    victims = bot.jobs.backend.pids
    started = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert await eventually(lambda: all(map(_dead, victims))), "the workers did not die"
    inter = await rate_file(fake, "workers killed.wav", song_bytes(6.0, seed=40), fake.user_id + 40)
    assert_rating(await answer(inter), cached=False)
    assert not set(bot.jobs.backend.pids) & set(victims), "a dead worker is still counted"
    return Survived(
        "Both audio workers are killed (SIGKILL) while idle, then a /rate arrives",
        "the pool noticed the dead workers before giving them the job and replaced them; the job ran on a"
        " fresh worker and the user got the rating (a worker killed mid-job: tests/test_jobs.py)",
        time.monotonic() - started,
    )


async def gateway_dropped(harness: Harness, tmp: Path) -> Survived:
    fake, bot = harness.fake, harness.bot
    identifies, resumes = fake.identifies, fake.resumes
    # Both workers busy, so the song waits in line while the connection drops.
    async with bot.jobs.slot(fake.user_id + 20), bot.jobs.slot(fake.user_id + 21):
        inter = await rate_file(fake, "dropped.wav", song_bytes(5.0, seed=20), fake.user_id + 22)
        place = await inter.wait_followup(timeout=10)
        assert "in line" in place.content, place
        await fake.drop_connection(4000)  # "unknown error": resumable
        # A user asks while the bot is away: Discord replays the command when the session resumes.
        meanwhile = await rate_file(fake, "while away.wav", song_bytes(4.0, seed=22), fake.user_id + 24)
        await fake.wait_gateway(lambda f: f.resumes == resumes + 1 and f.connected, timeout=30)
    assert_rating(await answer(inter), cached=False)
    assert (await meanwhile.wait_response()).type == DEFERRED
    assert_rating(await answer(meanwhile), cached=False)
    assert fake.identifies == identifies, "the session was started again instead of resumed"
    assert [p["op"] for p in fake.gateway_received].count(OP_RESUME) == resumes + 1
    after = await rate_file(fake, "after drop.wav", song_bytes(4.0, seed=21), fake.user_id + 23)
    assert_rating(await answer(after), cached=False)
    return Survived(
        "The gateway closes the websocket (code 4000) while a /rate waits in line",
        "discord.py resumed the session (RESUME, no new IDENTIFY); the waiting rating arrived, a /rate"
        " sent while the bot was away was replayed on resume and answered, and so was one after",
        inter.elapsed(),
    )


# --- the bot killed mid-burst and restarted --------------------------------------------------------


def _stored(database: Path) -> tuple[set[str], list[tuple]]:
    """The titles of the stored songs, and any request whose song is missing (a half-written rating)."""
    titles = {title for (title,) in rows(database, "SELECT title FROM songs")}
    orphans = rows(
        database,
        "SELECT r.id FROM ratings r LEFT JOIN songs s ON s.key = r.song_key AND s.model = r.model"
        " WHERE s.key IS NULL",
    )
    return titles, orphans


async def bot_killed_mid_burst(harness: Harness, tmp: Path) -> Survived:
    """Runs its own bot in a subprocess (and its own fake Discord); ``harness`` is not used."""
    songs = {f"burst {n}": song_bytes(6.0, seed=30 + n) for n in range(8)}
    scratch = tmp / "tmp"
    scratch.mkdir()
    async with FakeDiscord() as fake:
        config = write_config(tmp / "config.toml", bot_settings(fake, tmp / "data"))
        database = tmp / "data" / "needlebot.sqlite3"
        users = {title: fake.user_id + 30 + n for n, title in enumerate(songs)}
        inters: dict[str, FakeInteraction] = {}

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
            assert await eventually(lambda: len(answered()) >= 2, timeout=120), "nothing was answered"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        seen = answered()
        assert seen != set(songs), "the kill came too late to interrupt anything"
        # Its workers see their pipe close and exit, removing their files: nothing keeps running.
        _, alive = psutil.wait_procs([psutil.Process(pid) for pid in workers if psutil.pid_exists(pid)], 30)
        assert alive == [], f"processes of the killed bot still run: {alive}"
        left = entries(scratch)
        assert not [name for name in left if name.startswith("needlebot-worker-")], left

        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored, orphans = _stored(database)
        assert orphans == [], "a request was stored without its song"
        assert seen <= stored, "a rating the user saw was lost"
        history = rows(database, "SELECT * FROM ratings ORDER BY id")

        with bot_process(fake, config, scratch):
            await fake.wait_gateway(lambda f: f.identifies == 2 and f.connected, timeout=120)
            again = await burst()
            answers = {title: await answer(inter) for title, inter in again.items()}
        for title, message in answers.items():
            # What was stored before the kill is answered from the cache; the rest is rated afresh.
            assert_rating(message, cached=title in stored)
        assert rows(database, "SELECT * FROM ratings ORDER BY id")[: len(history)] == history
        assert _stored(database) == (set(songs), [])
    return Survived(
        "The bot process is killed (SIGKILL) mid-burst of 8 /rate, then restarted on the same database",
        f"{len(seen)} answered before the kill, {len(stored)} stored, none half-written; its workers"
        f" exited and removed their files (left in the bot's TMPDIR: {', '.join(left) or 'nothing'});"
        " after the restart the stored ones came from the cache and the rest were rated",
        time.monotonic() - started,
    )


async def bot_killed_mid_album(harness: Harness, tmp: Path) -> Survived:
    """Its own bot in a subprocess and its own fake Discord; the album comes from ``harness``'s fake
    MusicBrainz and media server (loopback servers the subprocess reaches as well)."""
    artist, title = "Killed Band", "Killed Album"
    tracks = [f"Cut {n}" for n in range(1, 9)]
    names = [f"killed-album-{n}.wav" for n in range(len(tracks))]
    for n, (track, name) in enumerate(zip(tracks, names, strict=True)):
        harness.media.add(name, song_bytes(6.0, seed=4100 + n), "audio/wav")
        item = FeedItem(name, f"{artist} - {track} (Official Audio)", 200.0)
        harness.media.add_feed(f"search/{artist} {track}.rss", [item])
    discs = [[(track, 200.0) for track in tracks]]
    harness.musicbrainz.releases.append(FakeRelease("mb-killed", title, artist, "2021-01-01", discs))
    scratch = tmp / "tmp"
    scratch.mkdir()
    async with FakeDiscord() as fake:
        raw = bot_settings(fake, tmp / "data")
        raw["sources"] |= album_sources(harness.media.base_url, harness.musicbrainz.url)
        raw["sources"]["tracklists"] = ["musicbrainz"]
        config = write_config(tmp / "config.toml", raw)
        database = tmp / "data" / "needlebot.sqlite3"

        def done() -> list[tuple]:
            if not database.exists():
                return []
            return rows(database, "SELECT number, song_key FROM album_tracks WHERE song_key IS NOT NULL")

        with bot_process(fake, config, scratch) as first:
            await fake.wait_gateway(lambda f: f.identifies == 1 and f.connected, timeout=120)
            started = time.monotonic()
            await fake.slash_command("album", {"artist": artist, "title": title})
            # Kill it hard once some tracks are rated and stored, and others still run or wait.
            assert await eventually(lambda: len(done()) >= 2, timeout=120), "no track was rated"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        before = done()
        assert len(before) < len(tracks), "the kill came too late to interrupt the album"
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert _stored(database)[1] == [], "a request was stored without its song"
        history = rows(database, "SELECT * FROM ratings ORDER BY id")
        fetched = [harness.media.hits(name) for name in names]

        with bot_process(fake, config, scratch):
            await fake.wait_gateway(lambda f: f.identifies == 2 and f.connected, timeout=120)
            again = await fake.slash_command("album", {"artist": artist, "title": title})
            final = await album_answer(again)
        (embed,) = final.embeds
        text = " ".join([embed.get("description", ""), str(embed.get("fields", "")),
                         embed.get("footer", {}).get("text", "")])
        assert f"{len(tracks)} of {len(tracks)} tracks rated" in text, text
        # The tracks rated before the kill were not downloaded again: they came from the store.
        for number, _ in before:
            assert harness.media.hits(names[number]) == fetched[number], f"{names[number]} was fetched again"
        assert rows(database, "SELECT * FROM ratings ORDER BY id")[: len(history)] == history
        assert _stored(database)[1] == []
    return Survived(
        "The bot process is killed (SIGKILL) mid-/album (8 tracks), then restarted on the same database",
        f"{len(before)} tracks rated and stored before the kill, none half-written; asking again after the"
        " restart took those from the store (no second download) and rated the rest: 8 of 8",
        time.monotonic() - started,
    )


# --- reads and album saves while another program holds the database (issue 17) ----------------------


async def _acknowledged(inter: FakeInteraction, what: str) -> Callback:
    try:
        return await inter.wait_response(timeout=5)  # the fake refuses an acknowledgement after 3 s
    except TimeoutError:
        raise AssertionError(f"{what} was not acknowledged within Discord's 3 s") from None


async def reads_while_saves_wait(harness: Harness, tmp: Path) -> Survived:
    fake = harness.fake
    user = fake.user_id + 50
    data = song_bytes(4.0, seed=50)
    assert_rating(await answer(await rate_file(fake, "read while locked.wav", data, user)), cached=False)
    with database_locked(harness.database):
        # Two cached answers wait for the lock to save their request, then the reads arrive.
        saves = [await rate_file(fake, "read while locked.wav", data, user + n) for n in (1, 2)]
        await asyncio.sleep(0.3)
        history = await fake.slash_command("history", user_id=user)
        top = await fake.slash_command("top", user_id=user)
        artists = await fake.slash_command("album", {"artist": "radioh"}, focused="artist")
        titles = await fake.slash_command(
            "album", {"artist": "Radiohead", "title": "the king"}, focused="title"
        )
        for inter, what in ((history, "/history"), (top, "/top"), (artists, "an autocomplete"),
                            (titles, "an autocomplete")):
            await _acknowledged(inter, what)
        shown = [await inter.wait_followup(timeout=10) for inter in (history, top)]
        assert not any(m.embeds for save in saves for m in save.messages), "the reads waited for the saves"
    assert all("read while locked" in str(m.embeds) for m in shown), shown
    assert shown[0].ephemeral and not shown[1].ephemeral
    assert "Radiohead" in [c["name"] for c in artists.response.data["choices"]]  # type: ignore[union-attr]
    assert "The King of Limbs" in [c["name"] for c in titles.response.data["choices"]]  # type: ignore[union-attr]
    for save in saves:
        said = await answer(save)
        # Saved once the lock went, or (on a machine too slow to answer the reads first) told it is locked.
        assert "database is locked" in str(said.embeds) or assert_rating(said, cached=True), said
    return Survived(
        "Another process holds the database's write lock while two ratings wait to be saved; /history,"
        " /top and both /album autocompletes arrive meanwhile",
        "all four were acknowledged at once and answered from the read connection before either save"
        " ended; the saves went through when the lock was released",
        history.elapsed(),
    )


def add_album(harness: Harness, mbid: str, artist: str, title: str, tracks: list[str], *, seed: int) -> None:
    """An album the fake MusicBrainz knows, each track's search finding one 5-s song of its own."""
    for n, track in enumerate(tracks):
        name = f"{mbid}-{n}.wav"
        harness.media.add(name, song_bytes(5.0, seed=seed + n), "audio/wav")
        item = FeedItem(name, f"{artist} - {track}", 200.0)
        harness.media.add_feed(f"search/{artist} {track}.rss", [item])
    discs = [[(track, 200.0) for track in tracks]]
    harness.musicbrainz.releases.append(FakeRelease(mbid, title, artist, "2022-01-01", discs))


async def album_saved_while_locked(harness: Harness, tmp: Path) -> Survived:
    fake = harness.fake
    artist, title = "Locked Band", "Locked Album"
    tracks = ["Shut", "Bolted"]
    add_album(harness, "mb-locked", artist, title, tracks, seed=5500)
    user = fake.user_id + 55
    with database_locked(harness.database):
        inter = await fake.slash_command("album", {"artist": artist, "title": title}, user_id=user)
        error = await answer(inter)
    assert "database is locked" in str(error.embeds) and error.ephemeral, error
    assert inter.shown_to_channel() == [], "the channel still shows the album's thinking message"
    again = await fake.slash_command("album", {"artist": artist, "title": title}, user_id=user)
    final = await album_answer(again)
    assert "2 of 2 tracks rated" in str(final.embeds), final
    return Survived(
        f"Another process holds the database's write lock past the bot's wait ({DATABASE_TIMEOUT:g} s) as"
        " an /album is saved",
        "the user alone was told the database is locked (not \"something went wrong\"); asking again"
        " afterwards rated the album",
        inter.elapsed(),
    )


async def album_while_workers_offline(harness: Harness, tmp: Path) -> Survived:
    fake = harness.fake
    artist, title = "Offline Band", "Offline Album"
    tracks = ["Dark", "Quiet"]
    add_album(harness, "mb-offline", artist, title, tracks, seed=5700)
    jobs, user = harness.bot.jobs, fake.user_id + 57
    # The configured Dask cluster is down: nothing answers at the scheduler's address.
    connect, dask_backend.CONNECT_TIMEOUT = dask_backend.CONNECT_TIMEOUT, 0.5
    local, jobs.backend = jobs.backend, dask_backend.DaskBackend("tcp://127.0.0.1:9", capacity=2)
    try:
        inter = await fake.slash_command("album", {"artist": artist, "title": title}, user_id=user)
        offline = await album_answer(inter)
    finally:
        down, jobs.backend, dask_backend.CONNECT_TIMEOUT = jobs.backend, local, connect
        await down.close()
    assert str(offline.embeds).count("audio workers are offline") == 2, offline
    again = await fake.slash_command("album", {"artist": artist, "title": title}, user_id=user)
    back = await album_answer(again)
    assert "2 of 2 tracks rated" in str(back.embeds) and "workers are offline" not in str(back.embeds), back
    return Survived(
        "The audio workers are offline (no Dask scheduler answers) as an /album is rated, then come back",
        "each track said the workers are offline and nothing was remembered of it; asked again once they"
        " were back, both tracks were rated (not \"No score\" from the cache)",
        offline.at + back.at,
    )


# --- a proxy in the bot's environment (issue 17) ------------------------------------------------------

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@contextlib.contextmanager
def proxy_environment(url: str) -> Iterator[None]:
    """Every proxy variable set to ``url`` (and no NO_PROXY) in this process, restored afterwards."""
    names = (*_PROXY_VARIABLES, "NO_PROXY", "no_proxy")
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            os.environ.pop(name, None)
        for name in _PROXY_VARIABLES:
            os.environ[name] = url
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def proxy_in_the_environment(harness: Harness, tmp: Path) -> Survived:
    fake = harness.fake
    artist, title = "Proxied Band", "Proxied Album"
    tracks = ["Direct", "Route"]
    add_album(harness, "mb-proxied", artist, title, tracks, seed=5600)
    # A SOCKS proxy would resolve names and connect for yt-dlp, past the guard's connect-time check.
    with RecordingProxy() as proxy, proxy_environment(proxy.url("socks5h")):
        asked = {"artist": artist, "title": title}
        inter = await fake.slash_command("album", asked, user_id=fake.user_id + 56)
        final = await album_answer(inter)
        contacted = proxy.connections
    # The searches ran in the bot's own threads, MusicBrainz through its aiohttp session: all direct.
    assert "2 of 2 tracks rated" in str(final.embeds), final
    assert contacted == 0, f"the proxy from the environment was contacted {contacted} times"
    return Survived(
        "HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point at a SOCKS proxy of ours while an /album is looked up,"
        " searched and rated",
        "the album was rated; neither yt-dlp's searches nor the MusicBrainz session ever contacted the proxy",
        inter.elapsed(),
    )


SCENARIOS: tuple[Scenario, ...] = (
    trickling_download,
    stalled_download,
    trickling_link,
    database_locked_briefly,
    database_locked_too_long,
    workers_killed_while_idle,
    gateway_dropped,
    bot_killed_mid_burst,
    bot_killed_mid_album,
    reads_while_saves_wait,
    album_saved_while_locked,
    album_while_workers_offline,
    proxy_in_the_environment,
)


async def faults(harness: Harness) -> str:
    """The RELIABILITY.md section: every scenario, on a bot of its own started with `LIMITS`."""
    lines = [
        "## Faults survived",
        "",
        "Each fault from `tests/reliability/faults.py` (the scenarios `tests/test_faults.py` runs), done to"
        f" the real bot through the fake Discord, with a download deadline of {DOWNLOAD_TIMEOUT:g} s and a"
        f" database wait of {DATABASE_TIMEOUT:g} s. *Time*: from the first request to the last answer"
        " checked.",
        "",
        "| Fault | What happened | Time (s) |",
        "|---|---|---:|",
    ]
    with tempfile.TemporaryDirectory() as directory:
        async with bot_harness(Path(directory), harness.media, **LIMITS) as own:
            await own.bot.jobs.warm()
            for scenario in SCENARIOS:
                # Not in TMPDIR: that is the bot's, and a scenario checks what is left there.
                tmp = Path(directory) / scenario.__name__
                tmp.mkdir()
                try:
                    done = await scenario(own, tmp)
                except AssertionError as failure:
                    lines.append(f"| `{scenario.__name__}` | **FAILED: {_cell(str(failure))}** | |")
                    continue
                lines.append(f"| {_cell(done.fault)} | {_cell(done.outcome)} | {done.seconds:.1f} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
