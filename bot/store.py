"""The ratings database: one SQLite file through aiosqlite, every SQL statement of the bot in this module.

Songs are keyed by what identifies the audio (``file:<sha256>`` for uploads, ``youtube:<id>`` for
links) together with the model that rated them, so a new model never answers from an old model's cache.
Each /rate, cached or not, adds one row to ``ratings`` (who asked, where, when) for /history and /top.
Albums keep their resolved tracklist and what each track became (``album_tracks``), written as each track
finishes, so an album asked again, even after a crash mid-way, resumes from what is done.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from bot.errors import UserFacingError
from model.scorer import Rating, SectionRating

log = logging.getLogger(__name__)

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
    """An album as resolved and stored: the tracklist after the caps, and ``note`` saying what they cut."""

    release_id: str
    artist: str
    title: str
    year: int | None
    cover_url: str | None
    source: str
    tracks: tuple[StoredTrack, ...]
    note: str


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

    Parameters
    ----------
    db : aiosqlite.Connection
        The open, migrated connection.
    model_id : str
        Id of the served model (see ``bot.service.model_id``); songs are cached per model.
    """

    def __init__(self, db: aiosqlite.Connection, model_id: str) -> None:
        self._db = db
        self.model_id = model_id

    @classmethod
    async def open(cls, path: Path | str, model_id: str, *, busy_timeout: float = 30.0) -> Store:
        """Open the database at ``path``, creating and migrating it if needed.

        Parameters
        ----------
        path : Path or str
            The SQLite file (its folder is created); ``":memory:"`` works too.
        model_id : str
            Id of the served model; songs rated by another model are not found.
        busy_timeout : float
            Seconds a write waits (SQLite retrying) while another connection or process holds the
            database locked, before `record` gives up.

        Returns
        -------
        Store

        Raises
        ------
        RuntimeError
            The schema is newer than this code knows.
        """
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, timeout=busy_timeout)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, model_id)

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

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
        async with self._db.execute(
            "SELECT key, title, url, rating, seconds, truncated, picture, sections, artist, album FROM songs"
            " WHERE key = ? AND model = ?",
            (key, self.model_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        key, title, url, rating, seconds, truncated, picture, sections, artist, album = row
        return SongRecord(
            key, title, url, Rating.from_dict(json.loads(rating)), seconds, bool(truncated), picture,
            tuple(SectionRating.from_dict(s) for s in json.loads(sections)), artist, album,
        )

    async def record(self, song: SongRecord, *, user_id: int, guild_id: int | None, cached: bool) -> None:
        """Store ``song`` (unless cached) and who asked for it, in one transaction.

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
        UserFacingError
            The database stayed locked by someone else for the whole busy timeout; nothing was written.
        """
        now = _now()
        try:
            if not cached:
                await self._db.execute(
                    "INSERT OR REPLACE INTO songs (key, model, title, url, score, expected, rating, seconds,"
                    " truncated, picture, created_at, sections, artist, album)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    ),
                )
            await self._db.execute(
                "INSERT INTO ratings (song_key, model, user_id, guild_id, cached, rated_at, title)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (song.key, self.model_id, user_id, guild_id, int(cached), now, song.title),
            )
            await self._db.commit()
        except BaseException as error:
            # Both rows or neither: a song is never stored without the request, nor the reverse.
            await self._db.rollback()
            if isinstance(error, sqlite3.OperationalError) and _locked(error):
                log.warning("the database stayed locked, %s was not recorded: %s", song.key, error)
                raise UserFacingError(
                    "My ratings database is locked by another program right now, so I couldn't save"
                    " this rating. Try again in a minute."
                ) from None
            raise

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
        async with self._db.execute(
            "SELECT a.release_id, a.artist, a.title, a.year, a.cover_url, a.source, a.tracks, a.note"
            " FROM album_lookups l JOIN albums a ON a.release_id = l.release_id WHERE l.query = ?",
            (query,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        release_id, artist, title, year, cover_url, source, tracks, note = row
        stored = tuple(StoredTrack(*track) for track in json.loads(tracks))
        return AlbumRecord(release_id, artist, title, year, cover_url, source, stored, note)

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
        await self._db.execute(
            "INSERT OR IGNORE INTO albums (release_id, artist, title, year, cover_url, source, tracks, note,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (album.release_id, album.artist, album.title, album.year, album.cover_url, album.source, tracks,
             album.note, _now()),
        )
        await self._db.execute(
            "INSERT OR REPLACE INTO album_lookups (query, release_id) VALUES (?, ?)",
            (query, album.release_id),
        )
        await self._db.commit()

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
        async with self._db.execute(
            "SELECT number, video_url, video_title, song_key, error FROM album_tracks WHERE release_id = ?",
            (release_id,),
        ) as cursor:
            rows = await cursor.fetchall()
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
        await self._db.execute(
            "INSERT OR REPLACE INTO album_tracks"
            " (release_id, number, video_url, video_title, song_key, error) VALUES (?, ?, ?, ?, ?, ?)",
            (release_id, number, outcome.video_url, outcome.video_title, outcome.song_key, outcome.error),
        )
        await self._db.commit()

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
        await self._db.execute(
            "INSERT INTO album_ratings (release_id, model, user_id, guild_id, score, rated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (release_id, self.model_id, user_id, guild_id, score, _now()),
        )
        await self._db.commit()

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
        async with self._db.execute(sql, parameters) as cursor:
            return [name for (name,) in await cursor.fetchall()]

    async def _rows(self, sql: str, parameters: tuple[object, ...]) -> list[HistoryRow]:
        async with self._db.execute(sql, parameters) as cursor:
            rows = await cursor.fetchall()
        return [HistoryRow(title, score, url, datetime.fromisoformat(at)) for title, score, url, at in rows]


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database schema is version {version}, newer than this bot knows ({len(MIGRATIONS)});"
            " upgrade the bot or point storage.database at another file"
        )
    for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; the version bump goes in the same script so a crash mid-way
        # leaves the old version number and the migration runs again.
        await db.executescript(f"BEGIN; {script} PRAGMA user_version = {target}; COMMIT;")
        log.info("database migrated to schema version %d", target)


def _like(prefix: str) -> str:
    """A LIKE pattern matching text that starts with ``prefix`` literally."""
    escaped = prefix.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _locked(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` means another connection held the database (SQLITE_BUSY or SQLITE_LOCKED)."""
    return error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
