"""The real bot against the fake Discord and the media server, as test modules and RELIABILITY.md use it.

    async with bot_harness(data_dir) as harness:
        inter = await harness.fake.slash_command("rate", {"url": harness.media.url("song.ogg")})

Every log record of the run is collected (``harness.logs``) so tests can search them for secrets and
errors; temporary files of the bot and its workers go to ``harness.scratch`` (TMPDIR is set before the
worker processes spawn), so a test can see what is left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.client import NeedleBot
from bot.config import Secret, settings_from_dict
from tests.fakes.discord import FakeDiscord, running_bot
from tests.fakes.genius import FakeAlbum, FakeGenius
from tests.fakes.media import MediaServer
from tests.fakes.musicbrainz import FakeMusicBrainz

# What only a test configuration allows: links to the loopback media server, read by yt-dlp's generic
# extractor (a real one keeps YouTube's hosts and extractors, and refuses private addresses). Read-only:
# take a copy (``dict(...)`` or ``|``), since a test that changed it would change every later test's bot.
LOOPBACK_SOURCES: Mapping[str, Any] = MappingProxyType(
    {"allowed_hosts": ["127.0.0.1"], "allowed_extractors": ["generic"], "allow_loopback": True}
)
# A Genius token the bot is configured with in tests: it must never reach a log or a reply either.
GENIUS_TOKEN = "genius-secret-token-0123456789abcdef"
# MusicBrainz refuses a User-Agent without a contact; so does its fake.
MUSICBRAINZ_AGENT = "NeedleBotTests/1.0 ( tests@example.org )"


def album_sources(media_url: str, musicbrainz_url: str, genius_url: str | None = None) -> dict[str, Any]:
    """``[sources]`` settings that send /album to the loopback fakes: tracklists from the fake
    MusicBrainz (and Cover Art Archive) at ``musicbrainz_url``, the fake Genius at ``genius_url`` if
    given, and track searches as RSS feeds at ``search/ARTIST TRACK.rss`` on the media server."""
    sources = {
        "search": f"{media_url}/search/{{query}}.rss",
        "musicbrainz_url": musicbrainz_url,
        "coverart_url": musicbrainz_url,
        "musicbrainz_user_agent": MUSICBRAINZ_AGENT,
    }
    return sources | ({"genius_url": genius_url} if genius_url else {})


# /album's cap in tests: a few tracks, so a cut album costs seconds (the shipped default is 30).
MAX_ALBUM_TRACKS = 4


def discord_settings(fake: FakeDiscord) -> dict[str, Any]:
    """``[discord]`` settings of a bot under test: the fake's owner, and its guild as the dev guild."""
    return {"owner_ids": [fake.owner_id], "dev_guild_id": fake.guild_id}


@dataclasses.dataclass
class Harness:
    fake: FakeDiscord
    bot: NeedleBot
    media: MediaServer
    musicbrainz: FakeMusicBrainz  # knows no release until a test adds one; Genius knows no album
    logs: list[logging.LogRecord]
    database: Path
    scratch: Path  # TMPDIR of the bot and its workers

    def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple]:
        """Rows of a read-only query on the bot's database (parameterized, like the store's own)."""
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, parameters).fetchall()

    def secrets(self) -> list[str]:
        """Every secret the bot was given."""
        return [self.fake.token, GENIUS_TOKEN]

    def log_text(self) -> str:
        """Every collected log record, formatted with its traceback, as one text."""
        formatter = logging.Formatter()
        return "\n".join(formatter.format(record) for record in self.logs)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _tmpdir(path: Path) -> Iterator[None]:
    saved_env, saved_module = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(path), None  # tempfile re-reads TMPDIR when tempdir is None
    try:
        yield
    finally:
        if saved_env is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = saved_env
        tempfile.tempdir = saved_module


@contextlib.asynccontextmanager
async def bot_harness(
    directory: Path,
    media: MediaServer,
    *,
    jobs: Mapping[str, Any] | None = None,
    albums: Mapping[str, Any] | None = None,
    sources: Mapping[str, Any] | None = None,
    genius_albums: Sequence[FakeAlbum] = (),
    **limits: Any,
) -> AsyncIterator[Harness]:
    """Run the bot with the test configuration; ``limits`` override ``[limits]`` settings.

    /album asks a fake MusicBrainz (``harness.musicbrainz``) and a fake Genius that knows
    ``genius_albums``, and searches a track as an RSS feed on the media server at
    ``search/ARTIST TRACK.rss``.

    Parameters
    ----------
    directory : Path
        An empty directory for the database and the scratch (TMPDIR) directory.
    media : MediaServer
        The started media server that links point to.
    jobs : Mapping, optional
        Overrides of ``[jobs]`` settings, e.g. ``{"per_user": 4}``.
    albums : Mapping, optional
        Overrides of ``[albums]`` settings, e.g. ``{"concurrency": 3}``.
    sources : Mapping, optional
        Overrides of ``[sources]`` settings, e.g. ``{"fantano_scores": path}``.
    genius_albums : Sequence[FakeAlbum]
        What the fake Genius knows.
    **limits
        E.g. ``max_attachment_bytes=2_000_000``.
    """
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    scratch = directory / "tmp"
    scratch.mkdir()
    try:
        genius_fake = FakeGenius(GENIUS_TOKEN, list(genius_albums))
        with _tmpdir(scratch), FakeMusicBrainz([]) as mb, genius_fake as genius:
            async with FakeDiscord() as fake:
                settings = settings_from_dict(
                    {
                        "discord": discord_settings(fake),
                        "storage": {"data_dir": str(directory / "data")},
                        "sources": LOOPBACK_SOURCES | album_sources(media.base_url, mb.url, genius.api_root)
                        | dict(sources or {}),
                        "limits": {"max_attachment_bytes": 2_000_000, "max_audio_seconds": 20.0} | limits,
                        # Room in line for a burst of 12 users on 2 workers, and no more.
                        "jobs": {"workers": 2, "cooldown_seconds": 0, "max_queue": 10} | dict(jobs or {}),
                        "albums": {"max_tracks": MAX_ALBUM_TRACKS} | dict(albums or {}),
                    }
                )
                settings = dataclasses.replace(
                    settings,
                    discord=dataclasses.replace(settings.discord, token=Secret(fake.token)),
                    genius=dataclasses.replace(settings.genius, token=Secret(GENIUS_TOKEN)),
                )
                async with NeedleBot(settings) as bot, running_bot(fake, bot, timeout=30):
                    yield Harness(fake, bot, media, mb, records, settings.storage.database_path, scratch)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
