"""Load (issue 9, section 5): 40 /rate requests from 10 users at once, through the fake Discord.

Marked ``load`` and left out of the default run (it takes about a minute on two busy cores); run it
with ``pytest -m load tests/test_load.py``; the RELIABILITY.md generator does, and reports its figures.

Each user sends 4 songs: ``per_user = 4`` lets them all through the fair queue (the shipped default of
1 would refuse 30 of the 40 at once, which tests/test_jobs.py covers, and measure little). Nothing
here is timed against a limit: the figures (the queue's peak, each user's waits, the event loop's
worst stall, peak memory) are recorded; the test asserts only what cannot flake: every request gets
an answer, a rating or a clear refusal, and every rating is stored once.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from model.decode import AUDIO_SUFFIXES
from tests.fakes.discord import FakeDiscord, FakeInteraction, SentMessage
from tests.fakes.media import CONTENT_TYPES, song_bytes
from tests.reliability_parts import record_load
from tests.serving import LoopWatch, serve_bot
from tests.test_bot import assert_rating, rows

pytestmark = [pytest.mark.load, pytest.mark.asyncio]

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
REQUESTS, USERS, WORKERS, PER_USER = 40, 10, 2, 4


def songs(count: int, real_dir: Path) -> list[tuple[str, bytes, str]]:
    """``count`` distinct songs as (file name, bytes, content type): the real recordings first."""
    real = sorted(p for p in real_dir.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    chosen = [(p.name, p.read_bytes(), CONTENT_TYPES[p.suffix.lower()[1:]]) for p in real]
    generated = [
        (f"load song {n}.wav", song_bytes(6.0, seed=500 + n), "audio/wav") for n in range(count - len(chosen))
    ]
    return (chosen + generated)[:count]


async def final_answer(inter: FakeInteraction) -> SentMessage:
    """The request's last word: a refusal given at once, or the rating or error that ends it."""
    return await inter.wait_for(
        lambda i: i.response_message or next((m for m in i.messages if m.embeds), None),
        timeout=900,
        what="answer",
    )


async def measure_load(data_dir: Path, real_dir: Path = SHARED_AUDIO) -> dict[str, Any]:
    """Send the burst and return its figures (the keys `tests.reliability_parts.load_section` reads).

    The real recordings are used when ``real_dir`` exists (the shared data); generated songs fill the rest.
    """
    burst = songs(REQUESTS, real_dir)
    overrides = {"jobs": {"workers": WORKERS, "per_user": PER_USER, "max_queue": REQUESTS}}
    async with FakeDiscord() as fake, serve_bot(fake, data_dir, overrides) as bot:
        await bot.jobs.warm()  # measured is the service, not the one-time compilation
        users = [fake.user_id + 100 + n for n in range(USERS)]
        attachments = [fake.add_attachment(name, data, kind) for name, data, kind in burst]
        started = time.perf_counter()
        async with LoopWatch(bot) as watch:
            inters = await asyncio.gather(
                *(
                    fake.slash_command("rate", {"file": attachment}, user_id=users[n % USERS])
                    for n, attachment in enumerate(attachments)
                )
            )
            answers = await asyncio.gather(*(final_answer(inter) for inter in inters))
        seconds = time.perf_counter() - started
        rated = [a for a in answers if a.embeds and a.files]
        stored = rows(bot.settings.storage.database_path, "SELECT COUNT(*) FROM ratings")[0][0]
    waits: dict[int, list[float]] = defaultdict(list)
    for n, answer in enumerate(answers):
        waits[n % USERS].append(answer.at)
    return {
        "requests": REQUESTS,
        "users": USERS,
        "real": sum(1 for name, _, _ in burst if not name.startswith("load song")),
        "workers": WORKERS,
        "per_user": PER_USER,
        "answered": len(answers),
        "rated": len(rated),
        "refused": len(answers) - len(rated),
        "stored": stored,
        "seconds": seconds,
        "queue_peak": watch.queue_peak,
        "worst_stall_ms": watch.worst_stall * 1000,
        "rss_bot_peak": watch.rss_bot_peak,
        "rss_workers_peak": watch.rss_workers_peak,
        "waits": {
            f"user {user + 1}": {"mean": statistics.fmean(w), "max": max(w)}
            for user, w in sorted(waits.items())
        },
        "_answers": answers,
    }


async def test_forty_requests_from_ten_users_are_all_answered(tmp_path: Path) -> None:
    figures = await measure_load(tmp_path)
    answers: list[SentMessage] = figures.pop("_answers")
    assert figures["answered"] == REQUESTS
    for answer in answers:
        if answer.files:
            assert_rating(answer, cached=False)
        else:  # a refusal: private, and it says why
            assert answer.ephemeral and (answer.content or answer.embeds)
    assert figures["stored"] == figures["rated"], "each rating stored exactly once"
    assert figures["queue_peak"] > 0, "40 songs on 2 workers: some must have waited in line"
    assert figures["rss_workers_peak"] > 0 and figures["rss_bot_peak"] > 0
    record_load(figures)
