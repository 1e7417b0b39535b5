"""Load (issue 9, section 5): 40 /rate requests from 10 users at once, through the fake Discord.

Each user sends 4 songs: ``per_user = 4`` lets them all through the fair queue (the shipped default of
1 would refuse 30 of the 40 at once, which tests/test_jobs.py covers, and measure little). The real
recordings of the shared data are used when present, generated songs fill the rest. Nothing is timed
against a limit: `measure_load` records the figures (the queue's peak, each user's waits, the event
loop's worst stall, peak memory) and asserts only what cannot flake: every request gets an answer, a
rating or a private refusal, and every rating is stored once. tests/test_load.py runs it
(``pytest -m load``); `load` renders it for RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from model.decode import AUDIO_SUFFIXES
from tests.fakes.discord import FakeInteraction, SentMessage
from tests.fakes.media import CONTENT_TYPES, MediaServer, song_bytes
from tests.support.harness import Harness, bot_harness
from tests.support.serving import LoopWatch
from tests.test_bot import assert_rating, rows

SHARED_AUDIO = Path(__file__).resolve().parents[3] / "shared" / "data" / "audio"
REQUESTS, USERS, WORKERS, PER_USER = 40, 10, 2, 4


@dataclass
class LoadFigures:
    """What the burst measured; times in seconds, memory in bytes."""

    real: int  # requests carrying a real recording
    answered: int = 0
    rated: int = 0
    refused: int = 0
    stored: int = 0  # ratings rows written
    seconds: float = 0.0  # from the first request to the last answer
    queue_peak: int = 0  # jobs waiting at once
    worst_stall: float = 0.0  # the event loop's longest lateness
    rss_bot_peak: int = 0  # this process: the bot, and here the fake Discord and the test too
    rss_workers_peak: int = 0  # the audio workers together
    waits: dict[int, list[float]] = field(default_factory=dict)  # user -> dispatch-to-answer times


def songs(count: int, real_dir: Path = SHARED_AUDIO) -> list[tuple[str, bytes, str]]:
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


async def measure_load(directory: Path, media: MediaServer) -> LoadFigures:
    """Send the burst to a bot of its own (in ``directory``), check every answer, return the figures."""
    burst = songs(REQUESTS)
    figures = LoadFigures(real=sum(not name.startswith("load song") for name, _, _ in burst))
    jobs = {"workers": WORKERS, "per_user": PER_USER, "max_queue": REQUESTS}
    async with bot_harness(directory, media, jobs=jobs, max_audio_seconds=900.0) as harness:
        await harness.bot.jobs.warm()  # measured is the service, not the one-time compilation
        fake = harness.fake
        users = [fake.user_id + 100 + n for n in range(USERS)]
        attachments = [fake.add_attachment(name, data, kind) for name, data, kind in burst]
        started = time.perf_counter()
        async with LoopWatch(harness.bot) as watch:
            inters = await asyncio.gather(
                *(
                    fake.slash_command("rate", {"file": attachment}, user_id=users[n % USERS])
                    for n, attachment in enumerate(attachments)
                )
            )
            answers = await asyncio.gather(*(final_answer(inter) for inter in inters))
        figures.seconds = time.perf_counter() - started
        figures.stored = rows(harness.database, "SELECT COUNT(*) FROM ratings")[0][0]
    figures.answered = len(answers)
    for n, answer in enumerate(answers):
        figures.waits.setdefault(n % USERS + 1, []).append(answer.at)
        if answer.files:
            assert_rating(answer, cached=False)
            figures.rated += 1
        else:  # a refusal: private, and it says why
            assert answer.ephemeral and (answer.content or answer.embeds), answer
            figures.refused += 1
    figures.queue_peak, figures.worst_stall = watch.queue_peak, watch.worst_stall
    figures.rss_bot_peak, figures.rss_workers_peak = watch.rss_bot_peak, watch.rss_workers_peak
    assert figures.answered == REQUESTS, "a request went unanswered"
    assert figures.stored == figures.rated, "a rating was not stored exactly once"
    return figures


async def load(harness: Harness) -> str:
    """The RELIABILITY.md section: the burst on a bot of its own (``per_user = 4``, room for 40)."""
    with tempfile.TemporaryDirectory() as directory:
        f = await measure_load(Path(directory), harness.media)
    mb = 1e6
    waits = ", ".join(
        f"{user}: {statistics.fmean(w):.1f} / {max(w):.1f}" for user, w in sorted(f.waits.items())
    )
    return "\n".join(
        [
            "## Load",
            "",
            f"{REQUESTS} `/rate` uploads from {USERS} users ({PER_USER} each) sent at once through the"
            f" fake Discord: {f.real} real recordings from the shared data, {REQUESTS - f.real} generated"
            f" 6-s songs; {WORKERS} workers, `per_user = {PER_USER}` (the shipped default, 1, would refuse"
            " 3 of each user's 4 at once). Recorded, not asserted: no figure here has a pass mark.",
            "",
            "| Figure | Value |",
            "|---|---|",
            f"| Answered | {f.answered} of {REQUESTS}: {f.rated} ratings, {f.refused} refusals |",
            f"| Ratings stored | {f.stored} |",
            f"| Whole burst, first request to last answer | {f.seconds:.1f} s |",
            f"| Queue peak (jobs waiting at once) | {f.queue_peak} |",
            f"| Worst event-loop stall (lateness of a 10-ms sleep; the loop also runs the fake Discord)"
            f" | {f.worst_stall * 1000:.0f} ms |",
            f"| Peak RSS, bot process (with the fake Discord and the test) | {f.rss_bot_peak / mb:.0f} MB |",
            f"| Peak RSS, the {WORKERS} audio workers together | {f.rss_workers_peak / mb:.0f} MB |",
            "",
            f"Waiting time per user, dispatch to answer, mean / longest of their {PER_USER} (s): {waits}.",
        ]
    )
