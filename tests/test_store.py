import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from bot.store import MIGRATIONS, SongRecord, Store
from model.scorer import Rating


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
