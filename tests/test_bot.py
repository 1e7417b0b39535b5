"""The real bot, driven through the real discord.py client against a fake Discord on 127.0.0.1.

One bot runs for the whole module (starting its worker pool costs seconds); each test uses its own
songs, so the cache state a test sees is its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.service import title_from_filename
from tests.fakes.discord import FakeInteraction, SentMessage
from tests.fakes.media import MediaServer, song_bytes
from tests.support.harness import Harness, bot_harness
from tests.support.markup import HOSTILE, Hostile, Reading, assert_shown, embed_text
from tests.test_filetags import tagged_file

pytestmark = pytest.mark.asyncio(loop_scope="module")

log = logging.getLogger(__name__)

PNG = b"\x89PNG\r\n\x1a\n"
DEFERRED = 5
MESSAGE = 4


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory, media: MediaServer) -> AsyncIterator[Harness]:
    async with bot_harness(tmp_path_factory.mktemp("bot"), media) as running:
        yield running
    assert running.fake.unknown_routes == []
    text = running.log_text()
    assert all(secret not in text for secret in running.secrets()), "a secret reached a log"


@pytest.fixture(autouse=True)
def no_errors_logged(request: pytest.FixtureRequest) -> Iterator[None]:
    if "harness" not in request.fixturenames:
        yield
        return
    harness: Harness = request.getfixturevalue("harness")
    start = len(harness.logs)
    yield
    errors = [r for r in harness.logs[start:] if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def rated(inter: FakeInteraction) -> SentMessage:
    response = await inter.wait_response(timeout=3)
    assert response.type == DEFERRED and not response.ephemeral
    assert response.at < 3.0, "the interaction was not acknowledged within Discord's 3 s"
    return await inter.wait_followup(timeout=60)


def assert_rating(message: SentMessage, *, cached: bool) -> int:
    (embed,) = message.embeds
    assert embed["image"]["url"] == "attachment://rating.png"
    ((name, picture),) = message.files
    assert name == "rating.png" and picture.startswith(PNG)
    text = (
        embed.get("description", "") + str(embed.get("fields", "")) + embed.get("footer", {}).get("text", "")
    )
    assert ("cache" in text.lower()) == cached
    score = int(embed["description"].split("/10")[0].split()[-1].strip("#* "))
    assert 1 <= score <= 10
    return score


def rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute(sql).fetchall()


async def test_commands_synced_to_the_dev_guild_only(harness: Harness) -> None:
    fake = harness.fake
    assert None not in fake.synced_commands, "the bot must never sync globally on start"
    names = {c["name"] for c in fake.synced_commands[fake.guild_id]}
    assert names == {"rate", "album", "history", "top", "Rate this song"}
    (rate,) = [c for c in fake.synced_commands[fake.guild_id] if c["name"] == "rate"]
    assert {o["name"]: o["type"] for o in rate["options"]} == {"file": 11, "url": 3}
    assert all(o.get("description") for o in rate["options"])


async def test_rate_an_upload_then_answer_it_from_the_cache(harness: Harness) -> None:
    fake = harness.fake
    data = song_bytes(12.0, seed=1, format="mp3")
    inter = await fake.slash_command(
        "rate", {"file": fake.add_attachment("first song.mp3", data, "audio/mpeg")}
    )
    message = await rated(inter)
    score = assert_rating(message, cached=False)
    assert message.embeds[0]["title"].startswith("first song")
    assert rows(harness.database, "SELECT title, score FROM songs WHERE title = 'first song'") == [
        ("first song", score)
    ]

    other = fake._next_id()  # a user no other test uses
    again = await fake.slash_command(
        "rate", {"file": fake.add_attachment("my_own_name.mp3", data, "audio/mpeg")}, user_id=other
    )
    cached = await rated(again)
    assert assert_rating(cached, cached=True) == score
    assert cached.at < 1.0
    # The rating comes from the cache, the title is what this user called the file (readable).
    assert cached.embeds[0]["title"].startswith("my own name")
    assert "first song" not in str(cached.embeds)
    assert cached.files == message.files, "the cached picture carries no file name, so it is reused as is"
    history = await (await fake.slash_command("history", user_id=other)).wait_reply(timeout=5)
    assert "my own name" in str(history.embeds) and "first song" not in str(history.embeds)


async def test_rate_a_link_then_answer_it_from_the_cache(harness: Harness) -> None:
    url = harness.media.add_song("linked.ogg", seconds=8.0, seed=2, format="ogg")
    message = await rated(await harness.fake.slash_command("rate", {"url": url}))
    score = assert_rating(message, cached=False)
    assert message.embeds[0].get("url") == url
    hits = harness.media.hits("linked.ogg")
    again = await rated(await harness.fake.slash_command("rate", {"url": f"  {url}  "}))
    assert assert_rating(again, cached=True) == score
    assert harness.media.hits("linked.ogg") == hits, "a cached link must not be downloaded again"


async def test_rate_this_song_menu(harness: Harness) -> None:
    fake = harness.fake
    attachment = fake.add_attachment("menu.wav", song_bytes(6.0, seed=3), "audio/wav")
    message = fake.make_message(content="listen to this", attachments=[attachment])
    assert_rating(await rated(await fake.message_command("Rate this song", message=message)), cached=False)


async def test_history_and_top(harness: Harness) -> None:
    fake = harness.fake
    user = fake.user_id + 1000
    for seed in (4, 5):
        data = song_bytes(5.0, seed=seed)
        await rated(
            await fake.slash_command(
                "rate", {"file": fake.add_attachment(f"mine {seed}.wav", data, "audio/wav")}, user_id=user
            )
        )
    history = await (await fake.slash_command("history", user_id=user)).wait_reply(timeout=5)
    assert history.ephemeral
    text = str(history.embeds)
    assert "mine 5" in text and "mine 4" in text and text.index("mine 5") < text.index("mine 4")

    top = await (await fake.slash_command("top")).wait_reply(timeout=5)
    scores = [
        score
        for (score,) in rows(harness.database, "SELECT score FROM songs ORDER BY score DESC, expected DESC")
    ]
    assert "mine 4" in str(top.embeds) and str(scores[0]) in str(top.embeds)


async def immediate_error(inter: FakeInteraction) -> str:
    """A refusal found before any work: an immediate ephemeral response, seen by the user alone."""
    response = await inter.wait_response(timeout=3)
    assert response.type == MESSAGE and response.ephemeral
    assert inter.shown_to_channel() == []
    return read(response.data["embeds"])


async def later_error(inter: FakeInteraction) -> str:
    """A refusal found after the public defer: the thinking message is deleted, the error is private."""
    message = await rated(inter)
    assert not message.files
    assert message.ephemeral and inter.deleted == ["@original"]
    assert inter.shown_to_channel() == [], "an error was shown to the whole channel"
    return read(message.embeds)


def read(embeds: list[dict]) -> str:
    """What a user reads of embeds: their text with Discord's backslash escapes taken out."""
    return "\n".join(Reading.of(embed_text(e)).visible for e in embeds)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, "Give me a song: attach an audio file"),
        (
            {"url": "https://www.youtube.com/watch?v=x", "file": ("a.mp3", b"ID3", "audio/mpeg")},
            "One song at a time",
        ),
        ({"file": ("nothing.mp3", b"", "audio/mpeg")}, "empty (0 bytes)"),
        ({"url": "https://example.com/song.mp3"}, "I can only fetch YouTube links"),
        ({"file": ("notes.txt", b"these are not sounds", "text/plain")}, "doesn't look like audio"),
        ({"file": ("huge.wav", b"\0" * 2_100_000, "audio/wav")}, "up to 2 MB"),
    ],
)
async def test_refused_before_any_work(harness: Harness, options: dict, says: str) -> None:
    fake = harness.fake
    built = {
        name: fake.add_attachment(*value) if isinstance(value, tuple) else value
        for name, value in options.items()
    }
    assert says in await immediate_error(await fake.slash_command("rate", built))


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("broken.mp3", b"\xff\xfb\x90\x00" + bytes(range(256)) * 40, "audio"),
        ("empty-ish.wav", b"RIFF", "audio"),
        ("silence.wav", None, "silent"),
    ],
)
async def test_bad_audio_is_explained(harness: Harness, name: str, data: bytes | None, says: str) -> None:
    if data is None:
        import io

        import numpy as np
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(22050 * 4, dtype=np.float32), 22050, format="WAV")
        data = buffer.getvalue()
    fake = harness.fake
    text = await later_error(
        await fake.slash_command("rate", {"file": fake.add_attachment(name, data, "audio/wav")})
    )
    assert says in text.lower()
    assert rows(harness.database, f"SELECT count(*) FROM songs WHERE title = '{Path(name).stem}'") == [(0,)]


async def test_bad_links_are_explained(harness: Harness) -> None:
    media, fake = harness.media, harness.fake
    fetched = media.hits()
    for refused in (
        "https://example.com/song.mp3",
        "ftp://127.0.0.1/song.mp3",
        "http://user:pw@127.0.0.1/a.mp3",
    ):
        text = await immediate_error(await fake.slash_command("rate", {"url": refused}))
        assert "link" in text.lower(), text
    assert media.hits() == fetched, "a refused link must never be fetched"
    missing = await later_error(await fake.slash_command("rate", {"url": media.url("nothing-here.mp3")}))
    assert "unavailable" in missing
    media.add("page.txt", b"just text", "text/plain")
    not_audio = await later_error(await fake.slash_command("rate", {"url": media.url("page.txt")}))
    assert "not an audio file" in not_audio


async def test_an_attachment_discord_cannot_serve(harness: Harness) -> None:
    fake = harness.fake
    attachment = fake.add_attachment("gone.wav", song_bytes(3.0, seed=8), "audio/wav")
    attachment["url"] = attachment["url"].replace("gone.wav", "expired.wav")  # the CDN answers 404
    text = await later_error(await fake.slash_command("rate", {"file": attachment}))
    assert "couldn't download that file" in text


async def test_the_menu_on_an_attachment_discord_cannot_serve(harness: Harness) -> None:
    # Same guard as /rate: a clear message, and (checked by no_errors_logged) no ERROR in the log.
    fake = harness.fake
    attachment = fake.add_attachment("gone-menu.wav", song_bytes(3.0, seed=9), "audio/wav")
    attachment["url"] = attachment["url"].replace("gone-menu.wav", "expired.wav")  # the CDN answers 404
    message = fake.make_message(content="listen", attachments=[attachment])
    text = await later_error(await fake.message_command("Rate this song", message=message))
    assert "couldn't download that file" in text


async def test_menu_on_a_message_without_audio(harness: Harness) -> None:
    fake = harness.fake
    message = fake.make_message(content="no attachments here")
    assert "no audio" in await immediate_error(await fake.message_command("Rate this song", message=message))


async def test_cooldown(harness: Harness) -> None:
    bot, fake = harness.bot, harness.fake
    original = bot.settings
    bot.settings = dataclasses.replace(original, jobs=dataclasses.replace(original.jobs, cooldown_seconds=60))
    try:
        user = fake.user_id + 2000
        data = song_bytes(4.0, seed=6)
        first = await fake.slash_command(
            "rate", {"file": fake.add_attachment("cool.wav", data, "audio/wav")}, user_id=user
        )
        await rated(first)
        second = await fake.slash_command(
            "rate", {"file": fake.add_attachment("cool.wav", data, "audio/wav")}, user_id=user
        )
        assert "Easy there" in await immediate_error(second)
    finally:
        bot.settings = original


async def test_a_burst_waits_in_line_instead_of_busy(harness: Harness) -> None:
    fake = harness.fake
    songs = [song_bytes(6.0, seed=200 + n) for n in range(12)]
    started = time.perf_counter()
    inters = await asyncio.gather(
        *(
            fake.slash_command(
                "rate",
                {"file": fake.add_attachment(f"burst {n}.wav", data, "audio/wav")},
                user_id=fake.user_id + 3000 + n,
            )
            for n, data in enumerate(songs)
        )
    )
    answers = await asyncio.gather(
        *(inter.wait_message(lambda m: bool(m.embeds), timeout=120) for inter in inters)
    )
    log.info("12 users rated at once in %.2f s", time.perf_counter() - started)
    for inter, answer in zip(inters, answers, strict=True):
        assert (await inter.wait_response()).type == DEFERRED
        assert_rating(answer, cached=False)
        assert not answer.ephemeral
    told = [m.content for inter in inters for m in inter.messages]
    assert any("in line" in text for text in told), told
    assert not any("a lot of songs" in str(m.embeds) for inter in inters for m in inter.messages)
    for inter, answer in zip(inters, answers, strict=True):
        edits = [m for m in inter.messages if m.kind == "edit" and not m.embeds]
        # Discord rate-limits webhook edits: the bot edits the place in line at most every 1.5 s (here
        # with slack for the requests' own latency; unthrottled edits would be milliseconds apart).
        assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(edits)), edits
        # Whoever saw their place in line got the rating in that same message, not in a second one.
        if edits:
            assert answer.kind == "edit" and not answer.content


async def test_a_song_that_fails_after_waiting_leaves_only_the_error(harness: Harness) -> None:
    bot, fake = harness.bot, harness.fake
    async with bot.jobs.slot(fake.user_id + 4000), bot.jobs.slot(fake.user_id + 4001):
        inter = await fake.slash_command(
            "rate", {"file": fake.add_attachment("waits.mp3", b"ID3" + bytes(4000), "audio/mpeg")}
        )
        place = await inter.wait_followup(timeout=10)
        assert place.kind == "edit" and "**1st** in line" in place.content
    error = await inter.wait_message(lambda m: bool(m.embeds), timeout=60)
    assert "audio" in str(error.embeds).lower() and error.kind == "followup" and error.ephemeral
    assert inter.deleted == ["@original"], "the public place-in-line message must not outlive the error"


async def test_heartbeats_continue_while_rating(harness: Harness) -> None:
    fake = harness.fake
    data = song_bytes(20.0, seed=7, format="mp3")
    before = len(fake.heartbeats)
    inter = await fake.slash_command("rate", {"file": fake.add_attachment("long.mp3", data, "audio/mpeg")})
    await rated(inter)
    beats = fake.heartbeats[before:]
    assert fake.connected
    # The loop never stalled longer than two heartbeat intervals while the song was processed.
    gaps = [b - a for a, b in zip([inter.dispatched_at, *beats], beats, strict=False)]
    assert all(gap < 2.5 * fake.heartbeat_interval for gap in gaps), gaps


async def test_owner_sync_command(harness: Harness) -> None:
    fake = harness.fake
    before = len(fake.channel_messages)
    mention = f"<@{fake.bot_user_id}> sync"
    stranger = fake.make_message(content=mention, author_id=fake.user_id)
    stranger["guild_id"] = str(fake.guild_id)
    stranger["mentions"] = [fake.bot_user()]
    await fake.dispatch("MESSAGE_CREATE", stranger)
    owner = fake.make_message(content=mention, author_id=fake.owner_id)
    owner["guild_id"] = str(fake.guild_id)
    owner["mentions"] = [fake.bot_user()]
    await fake.dispatch("MESSAGE_CREATE", owner)
    for _ in range(100):
        if len(fake.channel_messages) > before:
            break
        await asyncio.sleep(0.05)
    replies = fake.channel_messages[before:]
    assert len(replies) == 1, "only the owner gets an answer"
    assert replies[0].content.startswith("Synced 5 commands")


async def test_top_in_a_dm_says_servers_only(harness: Harness) -> None:
    inter = await harness.fake.slash_command("top", guild_id=None)
    assert "only in servers" in await immediate_error(inter)  # and no ERROR: no_errors_logged


async def test_empty_history_names_what_rate_takes(harness: Harness) -> None:
    fake = harness.fake
    reply = await (await fake.slash_command("history", user_id=fake._next_id())).wait_reply(timeout=5)
    assert reply.ephemeral
    text = str(reply.embeds)
    assert "a search" not in text and "audio file" in text and "YouTube link" in text


def unpathed(text: str) -> str:
    """``text`` without path separators (Discord keeps none in a file name; a URL's last part has none)."""
    return text.replace("/", "⁄").replace("\\", "⧵")


def file_name(hostile: Hostile, suffix: str) -> tuple[str, Hostile, Hostile]:
    """``hostile`` as an upload's file name, how it reads as a title (``title_from_filename``: underscores
    and invisible characters as spaces) and as itself."""
    name = unpathed(hostile.name) + suffix
    return name, Hostile(name, title_from_filename(name)), Hostile(name, unpathed(hostile.reads_as) + suffix)


async def test_outside_names_read_as_written_in_rate_history_and_top(
    harness: Harness, tmp_path: Path
) -> None:
    fake = harness.fake
    user = fake._next_id()
    # Hostile tags too: the file's artist and album feed the taste model and Fantano's review, never markdown.
    tagged = tagged_file(tmp_path, "mp3", seconds=6.0, artist=HOSTILE[1].name, album=HOSTILE[0].name,
                         title=HOSTILE[2].name)
    data = tagged.read_bytes()
    for hostile in HOSTILE:
        name, title, _ = file_name(hostile, ".mp3")
        guild = fake._next_id()  # a server of its own, so /top lists this song
        message = await rated(await fake.slash_command(
            "rate", {"file": fake.add_attachment(name, data, "audio/mpeg")}, user_id=user, guild_id=guild))
        assert_rating(message, cached=hostile is not HOSTILE[0])
        assert_shown(embed_text(message.embeds[0]), title)
        history = await (await fake.slash_command("history", user_id=user)).wait_reply(timeout=5)
        assert_shown(embed_text(history.embeds[0]), title)
        top = await (await fake.slash_command("top", user_id=user, guild_id=guild)).wait_reply(timeout=5)
        assert_shown(embed_text(top.embeds[0]), title)
        text_name, _, itself = file_name(hostile, ".txt")
        refused = await fake.slash_command(
            "rate", {"file": fake.add_attachment(text_name, b"not audio", "text/plain")}, user_id=user)
        assert "doesn't look like audio" in await immediate_error(refused)
        assert refused.response is not None
        assert_shown(embed_text(refused.response.data["embeds"][0]), itself)


async def test_outside_titles_of_links_read_as_written(harness: Harness) -> None:
    fake, media = harness.fake, harness.media
    user = fake._next_id()
    data = song_bytes(5.0, seed=21, format="ogg")
    for hostile in HOSTILE:
        # A direct link's title is its file's name, as yt-dlp reads it from the URL (a site's own title
        # would need an extractor the test configuration does not allow).
        url = media.add(f"{unpathed(hostile.name)}.ogg", data, "audio/ogg")
        title = Hostile(unpathed(hostile.name), unpathed(hostile.reads_as))
        message = await rated(await fake.slash_command("rate", {"url": url}, user_id=user))
        assert_shown(embed_text(message.embeds[0]), title)
        history = await (await fake.slash_command("history", user_id=user)).wait_reply(timeout=5)
        assert_shown(embed_text(history.embeds[0]), title)
