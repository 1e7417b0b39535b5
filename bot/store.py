"""The ratings database: one SQLite file through aiosqlite, every SQL statement of the bot in this module.

Two connections: writes go through one, one transaction at a time (an asyncio lock, ``BEGIN IMMEDIATE``),
so a failed or cancelled save rolls back only its own rows; reads go through the other, which WAL lets
read while a write waits for another program's lock (autocompletes must answer within Discord's 3 s).

Songs are keyed by what identifies the audio (``file:<sha256>`` for uploads, ``youtube:<id>`` for
links) together with the model that rated them, so a new model never answers from an old model's cache.
Each /rate, cached or not, adds one row to ``ratings`` (who asked, where, when) for /history and /top.
Albums keep their resolved tracklist and what each track became (``album_tracks``), written as each track
finishes, so an album asked again, even after a crash mid-way, resumes from what is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import OutageError
from model.scorer import Rating, SectionRating

log = logging.getLogger(__name__)

ALBUM_SAVE = "save this album's progress"  # the locked message's "I couldn't ..." for album writes

# Each entry migrates the schema from version i to i + 1; PRAGMA user_version holds the current one.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE songs (
        key TEXT NOT NULL,
        model TEXT NOT NULL,
        title TEXT NOT NULL,
        url TEXT,
        score INTEGER NOT NULL,
        expected REAL NOT NULL,
        rating TEXT NOT NULL,
        seconds REAL NOT NULL,
        truncated INTEGER NOT NULL,
        picture BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (key, model)
    );
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY,
        song_key TEXT NOT NULL,
        model TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        cached INTEGER NOT NULL,
        rated_at TEXT NOT NULL,
        FOREIGN KEY (song_key, model) REFERENCES songs (key, model)
    );
    CREATE INDEX ratings_by_user ON ratings (user_id, rated_at);
    CREATE INDEX ratings_by_guild ON ratings (guild_id, song_key);
    """,
    # The ratings of each ~30-s section (a JSON list of SectionRating dicts); songs cached before have none.
    """
    ALTER TABLE songs ADD COLUMN sections TEXT NOT NULL DEFAULT '[]';
    """,
    # The title each asker gave (a file's name is its uploader's), shown in their /history and /top.
    "ALTER TABLE ratings ADD COLUMN title TEXT;",
    # Albums: the tracklist as resolved (after the caps), the way users asked for it, what each track
    # became (the video used and its song key, or why it failed), and who asked. Scores are not stored:
    # they are recomputed from the songs, which the model id already keys. Songs gain the artist and
    # album the video's site named, to show Fantano's own score of that album beside a /rate.
    """
    ALTER TABLE songs ADD COLUMN artist TEXT;
    ALTER TABLE songs ADD COLUMN album TEXT;
    CREATE TABLE albums (
        release_id TEXT PRIMARY KEY,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        year INTEGER,
        cover_url TEXT,
        source TEXT NOT NULL,
        tracks TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE album_lookups (
        query TEXT PRIMARY KEY,
        release_id TEXT NOT NULL REFERENCES albums (release_id)
    );
    CREATE TABLE album_tracks (
        release_id TEXT NOT NULL REFERENCES albums (release_id),
        number INTEGER NOT NULL,
        video_url TEXT,
        video_title TEXT,
        song_key TEXT,
        error TEXT,
        PRIMARY KEY (release_id, number)
    );
    CREATE TABLE album_ratings (
        id INTEGER PRIMARY KEY,
        release_id TEXT NOT NULL REFERENCES albums (release_id),
        model TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        score INTEGER NOT NULL,
        rated_at TEXT NOT NULL
    );
    CREATE INDEX album_ratings_by_user ON album_ratings (user_id, rated_at);
    """,
    # When a song was last asked for (any model), to keep the pictures of the most recent ones only; NULL
    # once its picture and ratings were dropped (what /history and /top show stays).
    """
    ALTER TABLE songs ADD COLUMN used_at TEXT;
    UPDATE songs SET used_at = COALESCE(
        (SELECT MAX(r.rated_at) FROM ratings r WHERE r.song_key = songs.key AND r.model = songs.model),
        created_at
    );
    CREATE INDEX songs_by_use ON songs (used_at) WHERE used_at IS NOT NULL;
    """,
    # An album's genres as its tracklist provider names them (a JSON list, most voted first): taste
    # evidence for each of its tracks. Albums stored before have none.
    "ALTER TABLE albums ADD COLUMN genres TEXT NOT NULL DEFAULT '[]';",
)


@dataclass(frozen=True)
class SongRecord:
    """A rated song as stored: what the reply needs to be sent again without recomputing anything."""

    key: str
    title: str
    url: str | None
    rating: Rating
    seconds: float
    truncated: bool
    picture: bytes
    sections: tuple[SectionRating, ...] = ()
    artist: str | None = None  # artist and album as the video's site named them (YouTube Music does)
    album: str | None = None


@dataclass(frozen=True)
class StoredTrack:
    """One track of a stored tracklist: its title, disc and position, and length in seconds if known."""

    title: str
    disc: int
    position: int
    seconds: float | None


@dataclass(frozen=True)
class AlbumRecord:
    """An album as resolved and stored: the tracklist after the caps, and ``note`` saying what they cut.

    ``genres`` are the provider's genre names for the album, most voted first (MusicBrainz's).
    """

    release_id: str
    artist: str
    title: str
    year: int | None
    cover_url: str | None
    source: str
    tracks: tuple[StoredTrack, ...]
    note: str
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackOutcome:
    """What one album track became: the video used and its song key, or why it failed (``error``)."""

    video_url: str | None
    video_title: str | None
    song_key: str | None
    error: str | None


@dataclass(frozen=True)
class HistoryRow:
    """One line of /history or /top: the song's title, score 1..10, link, and when it was rated (UTC)."""

    title: str
    score: int
    url: str | None
    rated_at: datetime


class Store:
    """An open database. Use `open`; call `close` when done.

    Any method raises `OutageError` (saying the database is locked) when another program keeps the
    database locked past the busy timeout; a write then leaves nothing behind.

    Parameters
    ----------
    writer : aiosqlite.Connection
        The open, migrated connection every write goes through (autocommit: transactions are explicit).
    reader : aiosqlite.Connection
        The connection reads go through (``writer`` itself for an in-memory database).
    model_id : str
        Id of the served model (see ``bot.service.model_id``); songs are cached per model.
    busy_timeout : float
        Seconds a write waits in all (for this bot's other writes, then for another program's lock).
    cached_songs : int
        Songs whose picture and ratings are kept to answer again (see :meth:`record`).
    """

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        model_id: str,
        *,
        busy_timeout: float = 30.0,
        cached_songs: int = 10_000,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self.model_id = model_id
        self._busy_timeout = busy_timeout
        self._cached_songs = cached_songs
        self._writing = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path | str, model_id: str, *, busy_timeout: float = 30.0, cached_songs: int = 10_000
    ) -> Store:
        """Open the database at ``path``, creating and migrating it if needed.

        Several processes may open a new database at once: migrations run under the write lock.

        Parameters
        ----------
        path : Path or str
            The SQLite file (its folder is created); ``":memory:"`` works too.
        model_id : str
            Id of the served model; songs rated by another model are not found.
        busy_timeout : float
            Seconds a write (or, rarely in WAL mode, a read) waits while another connection or process
            holds the database locked, before giving up.
        cached_songs : int
            Songs whose picture and ratings are kept (the most recently asked for); see :meth:`record`.

        Returns
        -------
        Store

        Raises
        ------
        RuntimeError
            The schema is newer than this code knows.
        """
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        opened: list[aiosqlite.Connection] = []
        try:
            writer = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
            opened.append(writer)
            await _wal(writer, busy_timeout)
            await writer.execute("PRAGMA foreign_keys=ON")
            await _migrate(writer)
            reader = writer
            if not memory:
                reader = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
                opened.append(reader)
                await reader.execute("PRAGMA query_only=ON")  # every write goes through the writer's lock
        except BaseException:
            for db in opened:
                await db.close()
            raise
        return cls(writer, reader, model_id, busy_timeout=busy_timeout, cached_songs=cached_songs)

    async def close(self) -> None:
        """Close the connections."""
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    async def find_song(self, key: str) -> SongRecord | None:
        """The song rated under ``key`` by the current model.

        Parameters
        ----------
        key : str
            ``file:<sha256>``, ``youtube:<id>`` or ``url:<normalized url>``.

        Returns
        -------
        SongRecord or None
            None when this model has not rated it.
        """
        rows = await self._read(
            "SELECT key, title, url, rating, seconds, truncated, picture, sections, artist, album FROM songs"
            " WHERE key = ? AND model = ? AND used_at IS NOT NULL",
            (key, self.model_id),
        )
        if not rows:
            return None
        ((key, title, url, rating, seconds, truncated, picture, sections, artist, album),) = rows
        return SongRecord(
            key, title, url, Rating.from_dict(json.loads(rating)), seconds, bool(truncated), picture,
            tuple(SectionRating.from_dict(s) for s in json.loads(sections)), artist, album,
        )

    async def record(self, song: SongRecord, *, user_id: int, guild_id: int | None, cached: bool) -> None:
        """Store ``song`` (unless cached) and who asked for it, in one transaction of its own.

        The database keeps the picture and ratings of the ``cached_songs`` songs asked for most recently
        (by any model): storing a new song drops them from the least recently asked one beyond that, which
        keeps only what /history and /top show (title, score, link) and is rated afresh if asked again.

        Parameters
        ----------
        song : SongRecord
            The rated song.
        user_id : int
            Who asked (0 from the CLI).
        guild_id : int, optional
            Where they asked; None in DMs and from the CLI.
        cached : bool
            The song is already stored: only the request is recorded.

        Raises
        ------
        OutageError
            The database stayed locked for the whole busy timeout; nothing was written.
        """
        now = _now()
        # Both rows or neither: a song is never stored without the request, nor the reverse.
        async with self._transaction("save this rating") as db:
            if cached:
                await db.execute(
                    "UPDATE songs SET used_at = ? WHERE key = ? AND model = ? AND used_at IS NOT NULL",
                    (now, song.key, self.model_id),
                )
            else:
                await db.execute(
                    "INSERT OR REPLACE INTO songs (key, model, title, url, score, expected, rating, seconds,"
                    " truncated, picture, created_at, sections, artist, album, used_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        song.key,
                        self.model_id,
                        song.title,
                        song.url,
                        song.rating.score,
                        song.rating.expected,
                        json.dumps(song.rating.to_dict()),
                        song.seconds,
                        int(song.truncated),
                        song.picture,
                        now,
                        json.dumps([s.to_dict() for s in song.sections]),
                        song.artist,
                        song.album,
                        now,
                    ),
                )
                # The partial index songs_by_use walks the kept songs newest first, skipping cached_songs.
                # A row is replaced (deleted, then appended) rather than updated: SQLite reuses the page
                # space of a deleted row, not that of a row updated to a smaller size.
                await db.execute(
                    "INSERT OR REPLACE INTO songs (key, model, title, url, score, expected, rating, seconds,"
                    " truncated, picture, created_at, sections, artist, album, used_at)"
                    " SELECT key, model, title, url, score, expected, '{}', seconds, truncated, x'',"
                    " created_at, '[]', artist, album, NULL FROM songs WHERE rowid IN (SELECT rowid FROM"
                    " songs WHERE used_at IS NOT NULL ORDER BY used_at DESC LIMIT -1 OFFSET ?)",
                    (self._cached_songs,),
                )
            await db.execute(
                "INSERT INTO ratings (song_key, model, user_id, guild_id, cached, rated_at, title)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (song.key, self.model_id, user_id, guild_id, int(cached), now, song.title),
            )

    async def history(self, user_id: int, limit: int = 10) -> list[HistoryRow]:
        """A user's most recent ratings, newest first.

        Parameters
        ----------
        user_id : int
        limit : int
            Most rows returned.

        Returns
        -------
        list[HistoryRow]
        """
        return await self._rows(
            "SELECT COALESCE(r.title, s.title), s.score, s.url, r.rated_at FROM ratings r"
            " JOIN songs s ON s.key = r.song_key AND s.model = r.model"
            " WHERE r.user_id = ? ORDER BY r.rated_at DESC, r.id DESC LIMIT ?",
            (user_id, limit),
        )

    async def top(self, guild_id: int, limit: int = 10) -> list[HistoryRow]:
        """A guild's best-rated songs (each song once, by the current model), best first.

        Parameters
        ----------
        guild_id : int
        limit : int
            Most rows returned.

        Returns
        -------
        list[HistoryRow]
        """
        return await self._rows(
            # SQLite takes the bare title from the row holding MAX(rated_at): the latest asker's title.
            "SELECT COALESCE(r.title, s.title), s.score, s.url, MAX(r.rated_at) FROM ratings r"
            " JOIN songs s ON s.key = r.song_key AND s.model = r.model"
            " WHERE r.guild_id = ? AND r.model = ?"
            " GROUP BY s.key ORDER BY s.score DESC, s.expected DESC, MAX(r.rated_at) DESC LIMIT ?",
            (guild_id, self.model_id, limit),
        )

    async def find_album(self, query: str) -> AlbumRecord | None:
        """The album stored for a lookup ``query`` (see :meth:`save_album`), if any.

        Parameters
        ----------
        query : str
            The normalized lookup key the album was saved under.

        Returns
        -------
        AlbumRecord or None
            The stored album with its tracklist, or None when the query was never saved.
        """
        rows = await self._read(
            "SELECT a.release_id, a.artist, a.title, a.year, a.cover_url, a.source, a.tracks, a.note,"
            " a.genres FROM album_lookups l JOIN albums a ON a.release_id = l.release_id WHERE l.query = ?",
            (query,),
        )
        if not rows:
            return None
        ((release_id, artist, title, year, cover_url, source, tracks, note, genres),) = rows
        stored = tuple(StoredTrack(*track) for track in json.loads(tracks))
        return AlbumRecord(
            release_id, artist, title, year, cover_url, source, stored, note, tuple(json.loads(genres))
        )

    async def save_album(self, album: AlbumRecord, query: str) -> None:
        """Store ``album`` (kept if already there, with its tracks' outcomes) and map ``query`` to it.

        Parameters
        ----------
        album : AlbumRecord
            The album and its tracklist; ``release_id`` is its key.
        query : str
            The normalized lookup key to map to it.
        """
        tracks = json.dumps([[t.title, t.disc, t.position, t.seconds] for t in album.tracks])
        async with self._transaction(ALBUM_SAVE) as db:
            await db.execute(
                "INSERT OR IGNORE INTO albums (release_id, artist, title, year, cover_url, source, tracks,"
                " note, genres, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (album.release_id, album.artist, album.title, album.year, album.cover_url, album.source,
                 tracks, album.note, json.dumps(list(album.genres)), _now()),
            )
            await db.execute(
                "INSERT OR REPLACE INTO album_lookups (query, release_id) VALUES (?, ?)",
                (query, album.release_id),
            )

    async def track_outcomes(self, release_id: str) -> dict[int, TrackOutcome]:
        """Each finished track of an album by its 0-based number in the stored tracklist.

        Parameters
        ----------
        release_id : str
            The album's key.

        Returns
        -------
        dict[int, TrackOutcome]
            Outcome (video, song key or error) per 0-based track number; tracks not yet done are absent.
        """
        rows = await self._read(
            "SELECT number, video_url, video_title, song_key, error FROM album_tracks WHERE release_id = ?",
            (release_id,),
        )
        return {number: TrackOutcome(*rest) for number, *rest in rows}

    async def save_track_outcome(self, release_id: str, number: int, outcome: TrackOutcome) -> None:
        """Record what track ``number`` of an album became, so a later ask resumes after it.

        Parameters
        ----------
        release_id : str
            The album's key.
        number : int
            0-based track number in the stored tracklist.
        outcome : TrackOutcome
            The video and song key it was rated as, or the error it failed with; replaces an earlier one.
        """
        async with self._transaction(ALBUM_SAVE) as db:
            await db.execute(
                "INSERT OR REPLACE INTO album_tracks"
                " (release_id, number, video_url, video_title, song_key, error) VALUES (?, ?, ?, ?, ?, ?)",
                (release_id, number, outcome.video_url, outcome.video_title, outcome.song_key, outcome.error),
            )

    async def record_album(self, release_id: str, score: int, *, user_id: int, guild_id: int | None) -> None:
        """Remember that a user had an album rated (for autocomplete and statistics).

        Parameters
        ----------
        release_id : str
            The album's key.
        score : int
            The album score given, 1..10.
        user_id : int
            Discord id of the user who asked.
        guild_id : int or None
            Discord id of the server, None in direct messages.
        """
        async with self._transaction(ALBUM_SAVE) as db:
            await db.execute(
                "INSERT INTO album_ratings (release_id, model, user_id, guild_id, score, rated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (release_id, self.model_id, user_id, guild_id, score, _now()),
            )

    async def rated_artists(self, prefix: str, limit: int = 25) -> list[str]:
        """Artists of albums users had rated, starting with ``prefix`` (case-insensitive).

        Parameters
        ----------
        prefix : str
            What the user typed so far.
        limit : int
            Most names to return.

        Returns
        -------
        list[str]
            Distinct artist names, alphabetical, at most ``limit``.
        """
        return await self._names(
            "SELECT DISTINCT a.artist FROM albums a JOIN album_ratings r ON r.release_id = a.release_id"
            " WHERE a.artist LIKE ? ESCAPE '\\' ORDER BY a.artist LIMIT ?",
            (_like(prefix), limit),
        )

    async def rated_albums(self, artist: str, prefix: str, limit: int = 25) -> list[str]:
        """Titles of albums users had rated, by ``artist`` (any case) and starting with ``prefix``.

        Parameters
        ----------
        artist : str
            Artist name (surrounding spaces ignored).
        prefix : str
            What the user typed so far.
        limit : int
            Most titles to return.

        Returns
        -------
        list[str]
            Distinct album titles, alphabetical, at most ``limit``.
        """
        return await self._names(
            "SELECT DISTINCT a.title FROM albums a JOIN album_ratings r ON r.release_id = a.release_id"
            " WHERE a.artist = ? COLLATE NOCASE AND a.title LIKE ? ESCAPE '\\' ORDER BY a.title LIMIT ?",
            (artist.strip(), _like(prefix), limit),
        )

    async def _names(self, sql: str, parameters: tuple[object, ...]) -> list[str]:
        return [name for (name,) in await self._read(sql, parameters)]

    async def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[HistoryRow]:
        rows = await self._read(sql, parameters)
        return [HistoryRow(title, score, url, datetime.fromisoformat(at)) for title, score, url, at in rows]

    async def _read(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """All rows of a query, on the read connection (which never waits for this bot's writes)."""
        try:
            async with self._reader.execute(sql, parameters) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.OperationalError as error:
            if _locked(error):
                log.warning("the database stayed locked for a read: %s", error)
                raise OutageError(_locked_message("look that up")) from None
            raise

    @contextlib.asynccontextmanager
    async def _transaction(self, doing: str) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the writer, alone: committed if the block ends, else rolled back.

        The wait for this bot's other writes and for another program's lock together last at most the
        busy timeout. The rollback finishes even when the task is cancelled (an album out of time), so
        the connection never stays inside a transaction for the next writer to commit or discard.

        Parameters
        ----------
        doing : str
            What the write does, for the user's message ("save this rating").

        Raises
        ------
        OutageError
            The database stayed locked for the whole busy timeout; nothing was written.
        """
        db = self._writer
        deadline = time.monotonic() + self._busy_timeout
        try:
            async with asyncio.timeout(self._busy_timeout):
                await self._writing.acquire()
        except TimeoutError:
            log.warning("this bot's own writes held the database past the busy timeout; could not %s", doing)
            raise OutageError(_locked_message(doing)) from None
        try:
            # SQLite's own wait for another program's lock gets what is left of the busy timeout.
            await db.execute(f"PRAGMA busy_timeout = {max(1, round(1000 * (deadline - time.monotonic())))}")
            await db.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first write
            yield db
            await db.execute("COMMIT")
        except BaseException as error:
            await _uncancellable(_rollback(db))
            if isinstance(error, sqlite3.OperationalError) and _locked(error):
                log.warning("the database stayed locked, could not %s: %s", doing, error)
                raise OutageError(_locked_message(doing)) from None
            raise
        finally:
            self._writing.release()


async def _wal(db: aiosqlite.Connection, busy_timeout: float) -> None:
    """Switch to WAL, retrying while another process holds the lock the switch needs (a fresh database
    opened by two processes at once): SQLite does not call the busy handler for it."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if not _locked(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _migrate(db: aiosqlite.Connection) -> None:
    """Bring the schema to the newest version, under the write lock (``BEGIN IMMEDIATE``), reading the
    version again inside it: another process may have migrated while this one waited."""
    if await _version(db) == len(MIGRATIONS):
        return  # the common case takes no write lock: a start never waits for a busy database
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await _version(db)
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database schema is version {version}, newer than this bot knows ({len(MIGRATIONS)});"
                " upgrade the bot or point storage.database at another file"
            )
        # One transaction for every step (executescript would commit it): a crash mid-way keeps the old
        # version number with the old schema, and the migrations run again.
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {target}")
            log.info("database migrating to schema version %d", target)
        await db.execute("COMMIT")
    except BaseException:
        await _uncancellable(_rollback(db))
        raise


async def _version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()
    return version


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one (what ``executescript`` runs, minus its commit)."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement.strip()
            statement = ""


async def _rollback(db: aiosqlite.Connection) -> None:
    """Roll back the writer's transaction, if one is open (a failed ``BEGIN`` opened none).

    Runs on the connection's thread after whatever statement is still running there, so a statement
    whose caller was cancelled is rolled back too.
    """
    try:
        await db.execute("ROLLBACK")
    except sqlite3.OperationalError:
        if db.in_transaction:
            raise


async def _uncancellable(cleanup: Awaitable[None]) -> None:
    """Await ``cleanup`` to its end even if this task is cancelled meanwhile (then re-raise the cancel)."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})  # unlike awaiting it, a cancel of this task leaves it running
        except asyncio.CancelledError:
            cancelled = True
    error = task.exception()
    if cancelled:
        raise asyncio.CancelledError
    if error is not None:
        raise error


def _locked_message(doing: str) -> str:
    """What a user is told when the database stays locked; ``doing`` says what could not be done."""
    return (
        f"My ratings database is locked by another program right now, so I couldn't {doing}."
        " Try again in a minute."
    )


def _like(prefix: str) -> str:
    """A LIKE pattern matching text that starts with ``prefix`` literally."""
    escaped = prefix.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _locked(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` means another connection held the database (SQLITE_BUSY or SQLITE_LOCKED)."""
    return error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
