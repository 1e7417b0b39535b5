"""Input that is not really a song, and hostile input, through the real bot and the fake Discord.

The cases are the table in tests/reliability/bad_input.py (it also feeds RELIABILITY.md). One bot runs for
the whole module; the security checks (secrets, private temporary directories, parameterized SQL) share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import discord
import pytest
import pytest_asyncio

from tests.fakes.media import MediaServer, song_bytes
from tests.reliability.bad_input import CASES, SQL_TITLE, Case, run_case
from tests.support.harness import Harness, bot_harness

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory, media: MediaServer) -> AsyncIterator[Harness]:
    async with bot_harness(tmp_path_factory.mktemp("bad-input"), media) as running:
        yield running
    assert running.fake.unknown_routes == []


@pytest.fixture(autouse=True)
def no_errors_logged(harness: Harness) -> Iterator[None]:
    start = len(harness.logs)
    yield
    errors = [r.getMessage() for r in harness.logs[start:] if r.levelno >= logging.ERROR]
    assert not errors, errors


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_case(harness: Harness, case: Case) -> None:
    outcome = await run_case(harness, case)
    assert outcome.problems == [], f"{case.what}: the user saw {outcome.text!r}"


async def test_hostile_titles_come_back_intact_from_history_and_top(harness: Harness) -> None:
    # Names with quotes, SQL and emoji go through the real store as parameters: the tables stay intact, and
    # /history and /top (of a user and a server of their own, so only these songs are listed) show them as
    # given. Each is a cache hit of a song from the table, so this costs no audio work.
    fake = harness.fake
    user, guild = fake._next_id(), fake._next_id()
    hostile = {"'; DROP TABLE songs; --": 108, 'O\'Brien "live"': 107, "🎸 riff 🔥": 106}
    for title, seed in hostile.items():
        data = song_bytes(5.0, seed=seed, format="ogg" if seed == 106 else "wav")
        attachment = fake.add_attachment(f"{title}.wav", data, "audio/wav")
        inter = await fake.slash_command("rate", {"file": attachment}, user_id=user, guild_id=guild)
        assert not (await inter.wait_reply(timeout=60)).ephemeral
    url = harness.media.url(f"{SQL_TITLE}.wav")
    linked = await fake.slash_command("rate", {"url": url}, user_id=user, guild_id=guild)
    await linked.wait_reply(timeout=60)
    tables = {name for (name,) in harness.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= {"songs", "ratings"}
    assert harness.rows("SELECT count(*) FROM ratings WHERE user_id = ?", (user,)) == [(4,)]
    history = await (await fake.slash_command("history", user_id=user, guild_id=guild)).wait_reply(timeout=5)
    top = await (await fake.slash_command("top", user_id=user, guild_id=guild)).wait_reply(timeout=5)
    for title in [*hostile, SQL_TITLE]:
        shown = discord.utils.escape_markdown(title)
        assert shown in history.embeds[0]["description"], title
        assert shown in top.embeds[0]["description"], title


async def test_secrets_never_reach_logs_or_replies(harness: Harness) -> None:
    # Runs after the table: every log record and every reply of the module so far.
    replies = []
    for inter in harness.fake.interactions:
        replies.append(str(inter.response.data) if inter.response else "")
        replies += [m.content + str(m.embeds) for m in inter.messages]
    text = harness.log_text() + "\n".join(replies)
    assert len(harness.logs) > 100 and len(replies) >= len(CASES)
    for secret in harness.secrets():
        assert secret not in text


async def test_temporary_directories_are_private(harness: Harness) -> None:
    # A link's audio is downloaded into a folder of its own inside the worker's folder: both mode 0700.
    url = harness.media.add_song("observed.wav", seconds=20.0, seed=160)
    inter = await harness.fake.slash_command("rate", {"url": url})
    modes: dict[str, int] = {}
    while not inter.messages:  # the job's folder lives while the song is downloaded and featurized
        # Folders come and go while they are listed (rglob walks into one that is gone) and statted.
        with contextlib.suppress(FileNotFoundError):
            for path in harness.scratch.rglob("needlebot-*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_dir():
                        modes[str(path.relative_to(harness.scratch))] = stat.S_IMODE(path.stat().st_mode)
        await asyncio.sleep(0.002)
    jobs = [name for name in modes if not Path(name).name.startswith("needlebot-worker-")]
    assert jobs, f"no job folder seen: {modes}"
    assert set(modes.values()) == {0o700}, {name: oct(mode) for name, mode in modes.items()}


async def test_busy_is_private(harness: Harness) -> None:
    queue = harness.bot.jobs.queue  # no room in line at all: every song is told "busy"
    saved, queue.max_waiting = queue.max_waiting, 0
    try:
        fake = harness.fake
        inter = await fake.slash_command(
            "rate", {"file": fake.add_attachment("busy.wav", song_bytes(5.0, seed=161), "audio/wav")}
        )
        reply = await inter.wait_reply(timeout=10)
    finally:
        queue.max_waiting = saved
    assert "a lot of songs" in str(reply.embeds)
    assert reply.ephemeral and inter.shown_to_channel() == []


async def test_a_song_that_cannot_start_before_its_token_expires_is_dropped_privately(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Interactions of the fake Discord expire after 15 minutes, as Discord's do: keeping all but 2 s of
    # them in reserve makes a song that is still waiting 2 s after its command too late.
    bot, fake = harness.bot, harness.fake
    jobs = dataclasses.replace(bot.settings.jobs, answer_reserve_seconds=15 * 60 - 2.0)
    monkeypatch.setattr(bot, "settings", dataclasses.replace(bot.settings, jobs=jobs))
    release = asyncio.Event()

    async def other_user(n: int) -> None:
        async with bot.jobs.slot(fake.user_id + 900 + n):
            await release.wait()

    others = [asyncio.create_task(other_user(n)) for n in range(2)]  # both workers busy
    try:
        await asyncio.sleep(0)
        attachment = fake.add_attachment("late.wav", song_bytes(5.0, seed=162), "audio/wav")
        inter = await fake.slash_command("rate", {"file": attachment})
        reply = await inter.wait_message(lambda m: m.ephemeral, timeout=30)
        assert bot.jobs.queue.waiting == 0, "the dropped song gave up its place"
    finally:
        release.set()
        await asyncio.gather(*others)
    assert "couldn't get to it in time" in str(reply.embeds)
    assert reply.ephemeral and inter.shown_to_channel() == [], "told privately"


async def test_file_names_never_become_paths(harness: Harness) -> None:
    # Fresh audio under hostile names, so each is decoded (not a cache hit): the bot names every file it
    # writes itself, so nothing named after the upload appears anywhere under its directories.
    fake = harness.fake
    names = {"../../etc/passwd.mp3": "passwd", "/tmp/needle-evil.mp3": "needle-evil", "nul\0x.mp3": "nul x"}
    for seed, (name, title) in enumerate(names.items(), start=170):
        attachment = fake.add_attachment(name, song_bytes(5.0, seed=seed, format="mp3"), "audio/mpeg")
        reply = await (await fake.slash_command("rate", {"file": attachment})).wait_reply(timeout=60)
        assert reply.files and reply.embeds[0]["title"].startswith(title), reply.embeds
    written = [p.name for p in harness.scratch.parent.rglob("*")]
    assert not [n for n in written if "passwd" in n or "evil" in n or "\0" in n], written
    assert not await asyncio.to_thread(Path("/tmp/needle-evil.mp3").exists)


async def test_an_unexpected_error_after_the_defer_is_private_and_logged(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug, not bad input: the one path whose message is not a UserFacingError's. The only injected
    # fault of the module, since no real input reaches it.
    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(harness.bot.service, "rate_upload", broken)
    fake = harness.fake
    start = len(harness.logs)
    attachment = fake.add_attachment("bug.wav", song_bytes(5.0, seed=180), "audio/wav")
    inter = await fake.slash_command("rate", {"file": attachment})
    reply = await inter.wait_reply(timeout=10)
    assert "Something went wrong on my side" in str(reply.embeds) and "a bug" not in str(reply.embeds)
    assert reply.ephemeral and inter.shown_to_channel() == []
    errors = [r for r in harness.logs[start:] if r.levelno >= logging.ERROR]
    (error,) = errors  # logged once, with the traceback the owner needs
    assert error.getMessage() == "command rate failed"
    assert error.exc_info and isinstance(error.exc_info[1].original, RuntimeError)
    harness.logs[start:] = [r for r in harness.logs[start:] if r not in errors]  # expected: consumed
