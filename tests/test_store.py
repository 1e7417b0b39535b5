import asyncio
import contextlib
import dataclasses
import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import OutageError
from bot.store import MIGRATIONS, SongRecord, Store, TrackOutcome
from model.scorer import Rating
from tests.reliability.faults import database_locked


def song(key: str, score: int, title: str = "A Song", expected: float | None = None) -> SongRecord:
    distribution = tuple(1.0 if i == score else 0.0 for i in range(11))
    rating = Rating(
        score, score if expected is None else expected, distribution, (("jazz", 0.7), ("blues", 0.2))
    )
    return SongRecord(key, title, None, rating, 42.5, False, b"\x89PNG fake")


async def test_round_trip_and_cache_per_model(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ratings.sqlite3"
    store = await Store.open(path, "model-a")
    try:
        assert await store.find_song("file:1") is None
        await store.record(song("file:1", 7), user_id=1, guild_id=10, cached=False)
        found = await store.find_song("file:1")
        assert found == song("file:1", 7)
    finally:
        await store.close()
    # Another model does not reuse model-a's rating; reopening keeps the data and the schema.
    other = await Store.open(path, "model-b")
    try:
        assert await other.find_song("file:1") is None
        assert [row.title for row in await other.history(1)] == ["A Song"]
    finally:
        await other.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_history_newest_first_and_top_best_first(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3", "m")
    try:
        await store.record(song("a", 5, "Five"), user_id=1, guild_id=10, cached=False)
        await store.record(song("b", 9, "Nine"), user_id=2, guild_id=10, cached=False)
        await store.record(song("c", 7, "Seven"), user_id=1, guild_id=10, cached=False)
        await store.record(song("d", 10, "Elsewhere"), user_id=1, guild_id=99, cached=False)
        await store.record(song("a", 5, "Five"), user_id=2, guild_id=10, cached=True)
        assert [row.title for row in await store.history(1)] == ["Elsewhere", "Seven", "Five"]
        assert [row.title for row in await store.history(1, limit=1)] == ["Elsewhere"]
        top = await store.top(10)
        assert [(row.title, row.score) for row in top] == [("Nine", 9), ("Seven", 7), ("Five", 5)]
        assert all(row.rated_at.tzinfo is not None for row in top)
        assert await store.top(12345) == []
    finally:
        await store.close()


async def test_failed_write_leaves_no_half_row(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3", "m")
    try:
        bad = SongRecord("k", None, None, song("k", 6).rating, 1.0, False, b"")  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError):
            await store.record(bad, user_id=1, guild_id=None, cached=False)
        assert await store.find_song("k") is None
        assert await store.history(1) == []
        # The connection is still usable after the rollback.
        await store.record(song("k", 6), user_id=1, guild_id=None, cached=False)
        assert (await store.find_song("k")) is not None
    finally:
        await store.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this bot knows"):
        await Store.open(path, "m")


async def test_each_asker_sees_the_title_they_gave(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3", "m")
    try:
        await store.record(song("file:x", 8, "first uploader's name"), user_id=1, guild_id=10, cached=False)
        await store.record(song("file:x", 8, "my name for it"), user_id=2, guild_id=10, cached=True)
        assert [row.title for row in await store.history(1)] == ["first uploader's name"]
        assert [row.title for row in await store.history(2)] == ["my name for it"]
        assert [row.title for row in await store.top(10)] == ["my name for it"]  # the latest asker's
    finally:
        await store.close()


async def test_ratings_from_before_per_rating_titles_show_the_song_title(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(f"{MIGRATIONS[0]} PRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO songs VALUES ('k', 'm', 'Old Title', NULL, 6, 6.0, ?, 1.0, 0, x'00',"
            " '2026-01-01T00:00:00+00:00')",
            (json.dumps(song("k", 6).rating.to_dict()),),
        )
        db.execute("INSERT INTO ratings VALUES (1, 'k', 'm', 1, 10, 0, '2026-01-01T00:00:00+00:00')")
    store = await Store.open(path, "m")
    try:
        assert [row.title for row in await store.history(1)] == ["Old Title"]
        assert [row.title for row in await store.top(10)] == ["Old Title"]
    finally:
        await store.close()


async def test_section_ratings_round_trip_and_older_songs_have_none(tmp_path: Path) -> None:
    from model.scorer import SectionRating

    path = tmp_path / "db.sqlite3"
    # A database at schema version 1 (before sections), with one song in it.
    with sqlite3.connect(path) as db:
        db.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
        db.execute(
            "INSERT INTO songs VALUES ('old', 'm', 'Old', NULL, 5, 5.0, ?, 42.5, 0, x'00', '2024-01-01')",
            ('{"score": 5, "expected": 5.0, "distribution": [0.0], "genres": []}',),
        )
    store = await Store.open(path, "m")
    try:
        old = await store.find_song("old")
        assert old is not None and old.sections == ()
        sections = tuple(SectionRating(t, t + 30.0, song("x", n).rating) for t, n in ((1.0, 7), (31.0, 4)))
        new = dataclasses.replace(song("new", 6), sections=sections)
        await store.record(new, user_id=1, guild_id=None, cached=False)
        assert await store.find_song("new") == new
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def opened(path: Path, **options: Any) -> AsyncIterator[Store]:
    """The store at ``path`` (model "m"), closed after the block."""
    store = await Store.open(path, "m", **options)
    try:
        yield store
    finally:
        await store.close()


def _write_lock_is_free(path: Path) -> bool:
    """Whether another connection can take the write lock at once: no connection sits in a transaction."""
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        db.close()


async def test_a_failed_or_cancelled_save_does_not_undo_another_users(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with opened(path) as store:
        bad = SongRecord("bad", None, None, song("bad", 6).rating, 1.0, False, b"")  # type: ignore[arg-type]
        saves = [
            asyncio.create_task(store.record(song(f"good{n}", 6), user_id=n, guild_id=10, cached=False))
            for n in range(3)
        ]
        saves.insert(1, asyncio.create_task(store.record(bad, user_id=7, guild_id=10, cached=False)))
        cancelled = asyncio.create_task(store.record(song("gone", 4), user_id=8, guild_id=10, cached=False))
        saves.insert(2, cancelled)
        await asyncio.sleep(0)  # every save has started: they are interleaved on the connection
        cancelled.cancel()
        results = await asyncio.gather(*saves, return_exceptions=True)
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert isinstance(results[2], asyncio.CancelledError)
        assert [r for n, r in enumerate(results) if n not in (1, 2)] == [None, None, None]
        for n in range(3):
            assert await store.find_song(f"good{n}") is not None, f"user {n}'s rating was rolled back"
            assert [row.title for row in await store.history(n)] == ["A Song"]
        assert await store.find_song("bad") is None and await store.history(7) == []
        assert _write_lock_is_free(path), "the connection was left inside a transaction"
        # The cancelled save is all there or not at all.
        assert (await store.find_song("gone") is None) == (await store.history(8) == [])


async def test_a_save_waiting_for_another_programs_lock_can_be_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with opened(path, busy_timeout=20) as store:
        with database_locked(path):
            waiting = asyncio.create_task(store.record(song("a", 5), user_id=1, guild_id=None, cached=False))
            queued = asyncio.create_task(store.record(song("b", 5), user_id=2, guild_id=None, cached=False))
            await asyncio.sleep(0.3)
            waiting.cancel()  # as an album's time budget cancels a track in the middle of its save
            await asyncio.sleep(0.3)
        with pytest.raises(asyncio.CancelledError):
            await waiting  # once SQLite returns from the statement it was in, it is rolled back
        await queued  # the next save got the connection, in a transaction of its own
        assert await store.find_song("b") is not None and await store.find_song("a") is None
        assert _write_lock_is_free(path)


async def test_a_locked_album_save_says_the_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with opened(path, busy_timeout=0.5) as store:
        with database_locked(path):
            with pytest.raises(OutageError, match="database is locked"):
                await store.save_track_outcome("mb-1", 0, TrackOutcome("u", "t", None, None))
            # Reads go on while another program holds the write lock.
            assert await store.history(1) == []
        assert _write_lock_is_free(path)


_OPEN_AT_ONCE = """
import asyncio, os, sys, time
from bot.store import Store
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
async def main():
    store = await Store.open(sys.argv[1], "m", busy_timeout=20)
    await store.close()
asyncio.run(main())
"""


def test_processes_starting_at_once_on_a_new_database_all_open_it(tmp_path: Path) -> None:
    for trial in range(3):
        path, go = tmp_path / f"db{trial}.sqlite3", tmp_path / f"go{trial}"
        command = [sys.executable, "-c", _OPEN_AT_ONCE, str(path), str(go)]
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        for process in processes:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        go.touch()  # all three migrate the same new file now
        for process in processes:
            _, errors = process.communicate(timeout=60)
            assert process.returncode == 0, f"trial {trial}: {errors.strip().splitlines()[-1:]}"
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)


async def test_only_the_most_recently_asked_songs_keep_their_picture(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite3", cached_songs=2) as store:
        await store.record(song("a", 5, "A"), user_id=1, guild_id=10, cached=False)
        await store.record(song("b", 6, "B"), user_id=1, guild_id=10, cached=False)
        await store.record(song("a", 5, "A"), user_id=2, guild_id=10, cached=True)  # a is asked again
        await store.record(song("c", 7, "C"), user_id=1, guild_id=10, cached=False)
        assert await store.find_song("b") is None, "the least recently asked song kept its picture"
        assert await store.find_song("a") == song("a", 5, "A") and await store.find_song("c") is not None
        # What /history and /top show stays.
        assert [(r.title, r.score) for r in await store.history(1)] == [("C", 7), ("B", 6), ("A", 5)]
        assert [r.title for r in await store.top(10)] == ["C", "B", "A"]
        # Asked again, b is rated afresh and kept; a is now the oldest.
        await store.record(song("b", 6, "B"), user_id=3, guild_id=10, cached=False)
        assert await store.find_song("b") is not None and await store.find_song("a") is None


async def test_the_database_stops_growing_at_the_bound(tmp_path: Path) -> None:
    songs, picture_bytes = 300, 50_000
    sizes = {}
    for bound in (5, songs):
        path = tmp_path / f"db{bound}.sqlite3"
        async with opened(path, cached_songs=bound) as store:
            for n in range(songs):
                picture = random.Random(n).randbytes(picture_bytes)  # a picture does not compress
                uploaded = dataclasses.replace(song(f"file:{n:064x}", 5), picture=picture)
                await store.record(uploaded, user_id=n, guild_id=10, cached=False)
        sizes[bound] = path.stat().st_size  # closing checkpointed the WAL into the file
    assert sizes[songs] > songs * picture_bytes
    # The bound's pictures, and under 1.5 kB for each older song and its request: a dropped picture's
    # pages are reused (a song updated in place kept a page of its own, about 4 kB).
    assert sizes[5] < 5 * picture_bytes + songs * 1_500, sizes


async def test_songs_from_before_the_bound_are_ordered_by_their_last_request(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(f"BEGIN; {''.join(MIGRATIONS[:4])} PRAGMA user_version = 4; COMMIT;")
        for key, created, asked in (("old", "2024-01-01", "2026-06-01"), ("new", "2025-01-01", None)):
            db.execute(
                "INSERT INTO songs (key, model, title, url, score, expected, rating, seconds, truncated,"
                " picture, created_at) VALUES (?, 'm', ?, NULL, 5, 5.0, ?, 42.5, 0, x'00', ?)",
                (key, key, json.dumps(song(key, 5).rating.to_dict()), created),
            )
            if asked:
                db.execute("INSERT INTO ratings (song_key, model, user_id, cached, rated_at)"
                           " VALUES (?, 'm', 1, 0, ?)", (key, asked))
    async with opened(path, cached_songs=2) as store:
        await store.record(song("newest", 5), user_id=1, guild_id=None, cached=False)
        # "new" was created later, but "old" was asked for later: "new" is the one dropped.
        assert await store.find_song("new") is None and await store.find_song("old") is not None
