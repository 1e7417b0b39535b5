"""/album through the real bot and the fake Discord, tracks served by the loopback media server.

One bot runs for the whole module; each test rates its own album, so the cache state it sees is its own.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import dask_backend, terminal
from bot.album import AlbumService, make_album_service
from bot.dask_backend import DaskBackend
from bot.progress import EDIT_FAILED
from bot.service import Requester, link_key
from bot.store import AlbumRecord, StoredTrack
from sources import fantano, youtube
from sources.albums import GIVE_BOTH
from tests.fakes.discord import FakeInteraction, SentMessage
from tests.fakes.genius import FakeAlbum
from tests.fakes.media import FeedItem, MediaServer, song_bytes
from tests.fakes.musicbrainz import FakeMusicBrainz, FakeRelease
from tests.support import markup
from tests.support.harness import GENIUS_TOKEN, LOOPBACK_SOURCES, album_sources, bot_harness
from tests.support.harness import Harness as BotHarness
from tests.support.markup import HOSTILE, Hostile, assert_shown
from tests.support.serving import write_config
from tests.test_bot import DEFERRED, immediate_error, rows
from tests.test_cli import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")

GENIUS_ONLY = FakeAlbum("Fallback Band", "Fallback Album", ("Alpha", "Beta"))
REVIEWED = ("Reviewed Band", "Reviewed Album")  # in the test's copy of Fantano's table, with these picks:
HOSTILE_PICKS = tuple(h for h in HOSTILE if "|" not in h.name)[:6]  # "|" separates picks in the table


@dataclasses.dataclass
class Catalogue:
    """The albums the fake MusicBrainz knows and the search feeds the media server serves.

    A track's search (``[sources] search``, an RSS feed per query) finds one video titled
    "ARTIST - TRACK (Official Audio)" whose audio is a synthesized song.
    """

    media: MediaServer
    mb: FakeMusicBrainz

    def add_album(
        self, artist: str, title: str, tracks: list[str], *, seed: int, missing: tuple[str, ...] = (),
        broken: tuple[str, ...] = (), seconds: float = 5.0, discs: tuple[int, ...] = (),
        slow: tuple[str, ...] = (), delay_s: float = 0.0, genres: tuple[tuple[str, int], ...] = (),
    ) -> str:
        """Register an album and return its MusicBrainz id; ``missing`` tracks have no video, ``broken``
        ones a 404, ``slow`` ones answer their first request after 12 s (later ones at once), and every
        other track's audio answers each request after ``delay_s``; ``genres`` are its release group's
        (name, votes)."""
        mbid = f"mb-{len(self.mb.releases)}"
        media: dict[int, list[tuple[str, float]]] = {}
        for i, track in enumerate(tracks):
            media.setdefault(discs[i] if discs else 1, []).append((track, 200.0))
            self.add_track(artist, track, self.audio(mbid, i), seed=seed * 100 + i, missing=track in missing,
                           broken=track in broken, seconds=seconds, slow=track in slow, delay_s=delay_s)
        discs_in_order = [media[d] for d in sorted(media)]
        self.mb.releases.append(FakeRelease(mbid, title, artist, "2016-05-01", discs_in_order, genres=genres))
        return mbid

    def add_track(
        self, artist: str, track: str, name: str, *, seed: int, missing: bool = False, broken: bool = False,
        seconds: float = 5.0, slow: bool = False, delay_s: float = 0.0,
    ) -> None:
        items = [] if missing else [FeedItem(name, f"{artist} - {track} (Official Audio)", 200.0)]
        self.media.add_feed(f"search/{artist} {track}.rss", items)
        if not missing and not broken:
            data = song_bytes(seconds, seed=seed)
            if slow:
                self.media.add(name, data, "audio/wav", delay_s=12.0, delayed=1)
            else:
                self.media.add(name, data, "audio/wav", delay_s=delay_s)

    @staticmethod
    def audio(mbid: str, number: int) -> str:
        return f"{mbid}-{number}.wav"


@dataclasses.dataclass
class Harness(BotHarness):
    """The shared harness, and the catalogue of albums this module's tests add."""

    catalogue: Catalogue


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory, media: MediaServer) -> AsyncIterator[Harness]:
    directory = tmp_path_factory.mktemp("album")
    # The bundled table, and his review of an album whose picks are hostile names.
    table = directory / "fantano_scores.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        f.write(fantano.BUNDLED.read_text(encoding="utf-8"))
        picks = fantano.PICK_SEPARATOR.join(h.name for h in HOSTILE_PICKS[:-1])
        csv.writer(f, lineterminator="\n").writerow(
            [*REVIEWED, 2016, 7, picks, HOSTILE_PICKS[-1].name, "2016-06-01", "art pop"])
    # Room in line for three albums at once (the harness's own max_queue holds a burst of single songs).
    albums = {"concurrency": 3, "max_tracks": 6}
    async with bot_harness(directory, media, jobs={"max_queue": 60}, albums=albums,
                           sources={"fantano_scores": str(table)}, genius_albums=[GENIUS_ONLY]) as running:
        await running.bot.tree.sync()  # global commands too, as for a user-installed app
        await running.bot.jobs.warm()  # numba compiled: no test's first track pays for it
        parts = {f.name: getattr(running, f.name) for f in dataclasses.fields(running)}
        yield Harness(**parts, catalogue=Catalogue(media, running.musicbrainz))
    assert running.fake.unknown_routes == []
    assert GENIUS_TOKEN not in running.log_text(), "the Genius token reached a log"


@pytest.fixture(autouse=True)
def no_errors_logged(request: pytest.FixtureRequest) -> Iterator[None]:
    harness: Harness = request.getfixturevalue("harness")
    start = len(harness.logs)
    yield
    errors = [r for r in harness.logs[start:] if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def is_final(message: SentMessage) -> bool:
    return bool(message.embeds) and "Listening to" not in message.embeds[0].get("title", "")


async def album_reply(inter: FakeInteraction, timeout: float = 120) -> SentMessage:  # noqa: ASYNC109
    response = await inter.wait_response(timeout=3)
    assert response.type == DEFERRED and not response.ephemeral
    assert response.at < 3.0
    return await inter.wait_message(is_final, timeout=timeout)


def text_of(message: SentMessage) -> str:
    (embed,) = message.embeds
    return "\n".join(
        [embed.get("title", ""), embed.get("description", ""), str(embed.get("fields", "")),
         embed.get("footer", {}).get("text", "")]
    )


async def test_album_edits_progress_then_answers_from_the_cache(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    tracks = ["Ultralight Beam", "Father Stretch My Hands", "Famous", "Feedback", "Highlights"]
    # Each track takes over 1 s (its audio answers after 0.5 s, and is fetched twice), so the album lasts
    # past the first edit interval however fast the machine.
    mbid = catalogue.add_album("Kanye West", "The Life of Pablo", tracks, seed=1, delay_s=0.5)
    inter = await fake.slash_command("album", {"artist": "Kanye West", "title": "The Life of Pablo"})
    final = await album_reply(inter)
    progress = [m for m in inter.messages if not is_final(m)]
    assert progress, "no progress edit was sent"
    assert all(m.kind == "edit" for m in inter.messages)
    assert "▰" in progress[0].embeds[0]["description"] and "/5" in progress[0].embeds[0]["description"]
    times = [0.0] + [m.at for m in progress]  # from the defer; the final reply goes at once
    assert all(b - a >= 1.4 for a, b in itertools.pairwise(times)), times
    assert inter.messages[-1] is final

    text = text_of(final)
    (embed,) = final.embeds
    assert embed["title"] == "Kanye West - The Life of Pablo (2016)"
    assert embed["thumbnail"]["url"] == f"{catalogue.mb.url}/release/{mbid}/front-500"
    score = int(embed["description"].split("/10")[0].split()[-1].strip("#* "))
    assert 1 <= score <= 10
    fav = next(line for line in text.splitlines() if line.startswith("FAV TRACKS: "))
    least = next(line for line in text.splitlines() if line.startswith("LEAST FAV TRACK: "))
    assert fav == fav.upper() and least == least.upper()
    picked = fav.removeprefix("FAV TRACKS: ").split(", ")
    assert len(picked) == 1 and picked[0] in {t.upper() for t in tracks}
    assert least.removeprefix("LEAST FAV TRACK: ") not in picked
    lines = text.splitlines()
    for number, track in enumerate(tracks, start=1):
        (line,) = [line for line in lines if f"{number}. {track} · [" in line]
        url = catalogue.media.url(catalogue.audio(mbid, number - 1))
        assert line.startswith("`") and line.endswith(f"({url})")
    assert "5 of 5 tracks rated · tracklist from musicbrainz" in text and "from the cache" not in text
    # Fantano reviewed it (the bundled table): his score and picks stand beside ours.
    (field,) = embed["fields"]
    assert field["name"] == "Fantano's actual review"
    assert field["value"].startswith("**6/10**\nFAV TRACKS: REAL FRIENDS, NO MORE PARTIES IN L.A.,")
    assert field["value"].endswith("\nLEAST FAV TRACK: FADE")
    assert len(rows(harness.database, "SELECT song_key FROM album_tracks WHERE song_key IS NOT NULL")) >= 5

    hits, asked = catalogue.media.hits(), len(catalogue.mb.hits())
    again = await fake.slash_command("album", {"artist": "kanye  west", "title": "THE LIFE OF PABLO"})
    cached = await album_reply(again, timeout=5)
    assert cached.at < 1.0 and len(again.messages) == 1, "a cached album answers at once, in one edit"
    assert "from the cache" in text_of(cached)
    assert text_of(cached).split("\n")[:3] == text.split("\n")[:3]
    assert (catalogue.media.hits(), len(catalogue.mb.hits())) == (hits, asked), "no search, no tracklist"


async def test_failures_are_listed_and_half_is_enough(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    tracks = ["Opener", "Gone Missing", "Broken Link", "Closer"]
    catalogue.add_album("Half Band", "Half Album", tracks, seed=2, missing=("Gone Missing",),
                        broken=("Broken Link",))
    inter = await fake.slash_command("album", {"artist": "Half Band", "title": "Half Album"})
    final = await album_reply(inter)
    text = text_of(final)
    assert "2 of 4 tracks rated" in text and "/10" in text
    assert "~~Gone Missing~~ · I found no video of “Gone Missing” by Half Band." in text
    assert "~~Broken Link~~ · That video is unavailable" in text

    catalogue.add_album("Worse Band", "Worse Album", tracks, seed=3, missing=("Opener", "Gone Missing"),
                        broken=("Broken Link",))
    inter = await fake.slash_command("album", {"artist": "Worse Band", "title": "Worse Album"})
    final = await album_reply(inter)
    text = text_of(final)
    assert "No score" in text and "1 of 4" in text and "/10" not in text
    assert rows(harness.database, "SELECT count(*) FROM album_ratings r JOIN albums a USING (release_id)"
                                  " WHERE a.artist = 'Worse Band'") == [(0,)]


async def test_a_track_that_failed_for_now_is_tried_again(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    tracks = ["First Try", "Flaky Host", "Last Try"]
    mbid = catalogue.add_album("Flaky Band", "Flaky Album", tracks, seed=4)
    flaky = catalogue.audio(mbid, 1)
    data = song_bytes(5.0, seed=401)
    catalogue.media.add(flaky, data, "audio/wav", status=503)
    inter = await fake.slash_command("album", {"artist": "Flaky Band", "title": "Flaky Album"})
    text = text_of(await album_reply(inter))
    assert "2 of 3 tracks rated" in text and "~~Flaky Host~~ · The video host answered with error 503" in text

    # A network failure says nothing about the track: asking again tries it again instead of the cache.
    catalogue.media.add(flaky, data, "audio/wav")
    again = await fake.slash_command("album", {"artist": "Flaky Band", "title": "Flaky Album"})
    text = text_of(await album_reply(again))
    assert "3 of 3 tracks rated" in text and "~~Flaky Host~~" not in text


async def test_a_track_past_the_job_time_limit_is_tried_again(harness: Harness) -> None:
    bot, fake, catalogue = harness.bot, harness.fake, harness.catalogue
    tracks = ["Quick Take", "Long Take"]
    mbid = catalogue.add_album("Timeout Band", "Timeout Album", tracks, seed=16)
    late = catalogue.audio(mbid, 1)
    data = song_bytes(5.0, seed=1601)
    # Every request for it waits past the job's time limit: the worker is stopped mid-download. The
    # limit leaves the quick track room on a loaded machine.
    catalogue.media.add(late, data, "audio/wav", delay_s=15.0)
    limit, bot.jobs.timeout = bot.jobs.timeout, 8.0
    try:
        inter = await fake.slash_command("album", {"artist": "Timeout Band", "title": "Timeout Album"})
        text = text_of(await album_reply(inter))
    finally:
        bot.jobs.timeout = limit
    assert "1 of 2 tracks rated" in text and "~~Long Take~~ · That took longer than 8 seconds" in text

    # The limit says nothing about the song (the machine was slow): asked again, it is rated.
    catalogue.media.add(late, data, "audio/wav")
    again = await fake.slash_command("album", {"artist": "Timeout Band", "title": "Timeout Album"})
    text = text_of(await album_reply(again))
    assert "2 of 2 tracks rated" in text and "~~Long Take~~" not in text and "/10" in text


async def test_an_album_rated_while_the_workers_are_offline_is_rated_once_they_are_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, fake, catalogue = harness.bot, harness.fake, harness.catalogue
    catalogue.add_album("Offline Band", "Offline Album", ["Unplugged", "Powered Down"], seed=17)
    # The cluster the operator configured is down: no scheduler answers at its address.
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", 0.5)
    local, bot.jobs.backend = bot.jobs.backend, DaskBackend("tcp://127.0.0.1:9", capacity=2)
    try:
        inter = await fake.slash_command("album", {"artist": "Offline Band", "title": "Offline Album"})
        text = text_of(await album_reply(inter))
    finally:
        offline, bot.jobs.backend = bot.jobs.backend, local
        await offline.close()
    assert "No score" in text and "0 of 2 tracks rated" in text
    assert text.count("audio workers are offline") == 2, text

    again = await fake.slash_command("album", {"artist": "Offline Band", "title": "Offline Album"})
    text = text_of(await album_reply(again))
    assert "2 of 2 tracks rated" in text and "workers are offline" not in text and "/10" in text
    assert rows(harness.database, "SELECT count(*) FROM album_tracks WHERE error LIKE '%offline%'") == [(0,)]


async def test_the_album_genres_are_taste_evidence_for_its_tracks(harness: Harness) -> None:
    bot, catalogue = harness.bot, harness.catalogue
    # The same audio on two albums by artists he never reviewed; one album's release group is tagged.
    catalogue.add_album("Tagged Band", "Tagged Album", ["Tagged Song"], seed=19, genres=(("rock", 4),))
    catalogue.add_album("Untagged Band", "Untagged Album", ["Untagged Song"], seed=19)
    requester = Requester(user_id=harness.fake.user_id + 1900)
    tagged = await bot.albums.rate_album("Tagged Band", "Tagged Album", requester)
    untagged = await bot.albums.rate_album("Untagged Band", "Untagged Album", requester)
    assert tagged.album.genres == ("rock",) and untagged.album.genres == ()
    (with_genre,), (without,) = ([r.song.rating for r in a.rated] for a in (tagged, untagged))
    assert (with_genre.evidence, without.evidence) == ("some", "little")
    assert with_genre.distribution != without.distribution
    # Kept with the album: asked again, the stored album still has them.
    again = await bot.albums.rate_album("tagged band", "TAGGED ALBUM", requester)
    assert again.cached and again.album.genres == ("rock",)


async def test_non_ascii_names_and_their_ascii_spelling(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    catalogue.add_album("Björk", "Médulla", ["Öll Birtan", "Vökuró"], seed=10)
    inter = await fake.slash_command("album", {"artist": "Björk", "title": "Médulla"})
    text = text_of(await album_reply(inter))
    assert text.startswith("Björk - Médulla (2016)") and "2. Vökuró · [" in text
    asked = len(catalogue.mb.hits())
    again = await fake.slash_command("album", {"artist": "bjork", "title": "MEDULLA"})
    assert "from the cache" in text_of(await album_reply(again)) and len(catalogue.mb.hits()) == asked


async def test_genius_answers_when_musicbrainz_is_down(harness: Harness) -> None:
    catalogue = harness.catalogue
    for i, track in enumerate(GENIUS_ONLY.tracks):
        catalogue.add_track(GENIUS_ONLY.artist, track, f"genius-{i}.wav", seed=1100 + i)
    catalogue.mb.unavailable = True
    try:
        inter = await harness.fake.slash_command(
            "album", {"artist": GENIUS_ONLY.artist, "title": GENIUS_ONLY.name}
        )
        text = text_of(await album_reply(inter))
    finally:
        catalogue.mb.unavailable = False
    assert "2 of 2 tracks rated · tracklist from genius" in text
    assert "1. Alpha · [" in text and "2. Beta · [" in text
    assert [r.status for r in catalogue.mb.hits()][-2:] == [503, 503]


async def test_unknown_album_is_explained(harness: Harness) -> None:
    inter = await harness.fake.slash_command("album", {"artist": "Nobody", "title": "Nothing"})
    await inter.wait_response(timeout=3)
    message = await inter.wait_followup(timeout=10)
    assert "I couldn't find the album “Nothing” by Nobody." in str(message.embeds)


async def test_long_albums_are_cut_and_two_discs_keep_their_order(harness: Harness) -> None:
    catalogue = harness.catalogue
    tracks = [f"Side {i}" for i in range(8)]
    catalogue.add_album("Long Band", "Double Album", tracks, seed=4, discs=(1, 1, 1, 1, 2, 2, 2, 2))
    final = await album_reply(
        await harness.fake.slash_command("album", {"artist": "Long Band", "title": "Double Album"})
    )
    text = text_of(final)
    assert "Rated the first 6 of 8 tracks (my limit per album)." in text
    assert "6 of 6 tracks rated" in text
    assert text.index("1-4. Side 3") < text.index("2-5. Side 4") < text.index("2-6. Side 5")
    assert "Side 6" not in text


async def test_an_interrupted_album_resumes_from_the_tracks_already_rated(harness: Harness) -> None:
    bot, catalogue = harness.bot, harness.catalogue
    tracks = [f"Resume {i}" for i in range(5)]
    mbid = catalogue.add_album("Crash Band", "Crash Album", tracks, seed=5)
    two_done = asyncio.Event()

    def progress(album: AlbumRecord, done: object, place: int | None) -> None:
        if len(done) >= 2:  # type: ignore[arg-type]
            two_done.set()

    requester = Requester(user_id=harness.fake.user_id + 500)
    first = asyncio.create_task(bot.albums.rate_album("Crash Band", "Crash Album", requester, progress))
    await asyncio.wait_for(two_done.wait(), 60)
    first.cancel()  # as if the bot were killed here
    with pytest.raises(asyncio.CancelledError):
        await first
    rated_before = rows(
        harness.database,
        "SELECT song_key FROM album_tracks WHERE song_key IS NOT NULL"
        f" AND release_id = 'musicbrainz:{mbid}'",
    )
    assert len(rated_before) >= 2
    hits = {i: catalogue.media.hits(catalogue.audio(mbid, i)) for i in range(5)}

    rated = await bot.albums.rate_album("Crash Band", "Crash Album", requester)
    assert len(rated.rated) == 5 and rated.score is not None
    again = [r for r in rated.results if r.cached]
    assert len(again) >= 2
    for result in again:
        number = result.number
        assert catalogue.media.hits(catalogue.audio(mbid, number)) == hits[number]


async def test_a_single_song_is_not_stuck_behind_an_album(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    catalogue.add_album("Big Band", "Big Album", [f"Big {i}" for i in range(6)], seed=9, seconds=8.0)
    album = await fake.slash_command("album", {"artist": "Big Band", "title": "Big Album"},
                                     user_id=fake.user_id + 700)
    await album.wait_response(timeout=3)
    url = catalogue.media.add_song("someone-else.wav", seconds=8.0, seed=999)
    single = await fake.slash_command("rate", {"url": url}, user_id=fake.user_id + 701)
    rated = await single.wait_followup(timeout=60)
    final = await album_reply(album)
    assert "6 of 6 tracks rated" in text_of(final)
    # At most `concurrency` album tracks are ahead of the single song in the pool, not the whole album.
    assert single.dispatched_at + rated.at < album.dispatched_at + final.at


async def test_an_album_behind_other_users_songs_shows_its_place_in_line(harness: Harness) -> None:
    bot, fake, catalogue = harness.bot, harness.fake, harness.catalogue
    tracks = ["Queue One", "Queue Two", "Queue Three"]
    # Each track takes over 2 s (its audio answers after 1 s, and is fetched twice), so when the album's
    # turn comes, its third track waits behind its own two running ones past the next edit.
    catalogue.add_album("Queue Band", "Queue Album", tracks, seed=13, delay_s=1.0)
    release = asyncio.Event()

    async def other_user(n: int) -> None:
        async with bot.jobs.slot(fake.user_id + 800 + n):
            await release.wait()

    # Two users' songs hold both workers and a third user's song waits, ahead of the album.
    others = [asyncio.create_task(other_user(n)) for n in range(3)]
    await asyncio.sleep(0)  # each enters the queue at its first step
    assert (bot.jobs.queue.running, bot.jobs.queue.waiting) == (2, 1)
    inter = await fake.slash_command("album", {"artist": "Queue Band", "title": "Queue Album"})

    def description(message: SentMessage) -> str:
        return message.embeds[0]["description"] if message.embeds else ""

    waiting = await inter.wait_message(lambda m: "in line" in description(m), timeout=15)
    assert description(waiting).startswith("▱" * 12 + " 0/3\n⏳ You're **2nd** in line. My workers are busy")
    release.set()
    await asyncio.gather(*others)
    final = await album_reply(inter, timeout=60)
    assert "3 of 3 tracks rated" in text_of(final) and "in line" not in text_of(final)
    later = inter.messages[inter.messages.index(waiting) + 1 : -1]
    assert later, "no progress edit after the album's turn came"
    # The album's own tracks waiting behind its running ones are progress, not a place in line.
    assert all("in line" not in description(m) and "/3" in description(m) for m in later), later
    times = [0.0] + [m.at for m in inter.messages[:-1]]  # from the defer; the final reply goes at once
    assert all(b - a >= 1.4 for a, b in itertools.pairwise(times)), times


async def test_one_album_at_a_time_per_user(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    user = fake.user_id + 1000
    catalogue.add_album("Patient Band", "First Album", ["Wait One", "Wait Two"], seed=14, delay_s=1.0)
    asked = {"artist": "Patient Band", "title": "First Album"}
    first = await fake.slash_command("album", asked, user_id=user)
    await first.wait_response(timeout=3)
    second = await fake.slash_command("album", {"artist": "Patient Band", "title": "Other"}, user_id=user)
    refused = await second.wait_reply(timeout=3)
    assert second.response is not None and second.response.type == 4, "answered at once, no defer"
    assert refused.ephemeral and "one album at a time" in str(refused.embeds)
    # Someone else's album is not held up by it.
    catalogue.add_album("Other Band", "Their Album", ["Theirs"], seed=15)
    theirs = await fake.slash_command("album", {"artist": "Other Band", "title": "Their Album"},
                                      user_id=user + 1)
    assert "1 of 1 tracks rated" in text_of(await album_reply(theirs))
    assert "2 of 2 tracks rated" in text_of(await album_reply(first))
    again = await fake.slash_command("album", asked, user_id=user)
    assert "from the cache" in text_of(await album_reply(again, timeout=10)), "free to ask once it is done"


async def test_track_searches_never_hold_up_the_default_executor(harness: Harness) -> None:
    # More blocked searches than asyncio's default executor has threads: were they run there, a host name
    # lookup (discord.py's and aiohttp's go through that executor) would wait for them all.
    loop = asyncio.get_running_loop()
    blocking = min(32, (os.cpu_count() or 1) + 4) + 1  # ThreadPoolExecutor's default size, plus one
    bot = harness.bot
    entered: list[str] = []
    searching, release = asyncio.Event(), threading.Event()

    def find_track(artist: str, title: str, seconds: float | None) -> youtube.VideoInfo:
        entered.append(title)
        if len(entered) == bot.settings.albums.searches:
            loop.call_soon_threadsafe(searching.set)
        release.wait(60)
        raise youtube.NoResultsError(f"no video of {title}")

    tracks = tuple(StoredTrack(f"Search {n}", 1, n, None) for n in range(1, blocking + 1))

    async def resolve(artist: str, title: str) -> AlbumRecord:
        return AlbumRecord("test:searches", artist, title, None, None, "test", tracks, "")

    wide = dataclasses.replace(bot.settings.albums, concurrency=blocking, max_tracks=blocking)
    service = AlbumService(bot.service, wide, resolve, find_track)
    album = asyncio.create_task(service.rate_album("Search Band", "Search Album", Requester(user_id=77)))
    try:
        await asyncio.wait_for(searching.wait(), 10)
        lookup = loop.run_in_executor(None, socket.getaddrinfo, "localhost", 80)
        assert await asyncio.wait_for(lookup, 10), "the lookup waited behind the searches"
        assert len(entered) == bot.settings.albums.searches, "searches beyond [albums] searches ran at once"
    finally:
        release.set()
    rated = await album
    assert [r.error for r in rated.results] == [f"no video of {t.title}" for t in tracks]


async def test_out_of_time_says_what_was_done_and_resumes(harness: Harness) -> None:
    bot, catalogue = harness.bot, harness.catalogue
    # One slow track only: with two workers the quick one always gets a worker while the slow one waits
    # for its download there.
    catalogue.add_album("Late Band", "Late Album", ["Quick", "Slow"], seed=8, slow=("Slow",))
    hurried = dataclasses.replace(bot.settings.albums, time_budget_seconds=10)
    service = make_album_service(dataclasses.replace(bot.settings, albums=hurried), bot.service)
    requester = Requester(user_id=harness.fake.user_id + 600)
    rated = await service.rate_album("Late Band", "Late Album", requester)
    assert not rated.complete and rated.tried == 1
    assert rated.score is not None, "half the tracks were rated: enough for a score"
    text = terminal.album_text(rated)
    assert "Time ran out after 1 of 2 tracks. Ask again and I'll pick up where I stopped." in text
    assert "not rated in time" in text

    rated = await bot.albums.rate_album("Late Band", "Late Album", requester)
    assert rated.complete and len(rated.rated) == 2 and rated.score is not None
    assert [r.cached for r in rated.results] == [True, False]


async def test_autocomplete_offers_albums_fantano_reviewed(harness: Harness) -> None:
    fake = harness.fake
    inter = await fake.slash_command("album", {"artist": "kany"}, focused="artist")
    response = await inter.wait_response(timeout=3)
    assert response.type == 8 and not response.ephemeral
    names = [c["name"] for c in response.data["choices"]]
    assert names[0] == "Kanye West" and all("kany" in n.casefold() for n in names)
    inter = await fake.slash_command("album", {"artist": "kanye west", "title": "life of"}, focused="title")
    names = [c["name"] for c in (await inter.wait_response(timeout=3)).data["choices"]]
    assert names == ["The Life of Pablo"]
    inter = await fake.slash_command("album", {"artist": ""}, focused="artist")
    assert len((await inter.wait_response(timeout=3)).data["choices"]) == 25


async def test_autocomplete_offers_albums_users_rated(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    catalogue.add_album("Autocomplete Artist", "First Record", ["One", "Two"], seed=6)
    await album_reply(
        await fake.slash_command("album", {"artist": "Autocomplete Artist", "title": "First Record"})
    )
    inter = await fake.slash_command("album", {"artist": "autoc"}, focused="artist")
    response = await inter.wait_response(timeout=3)
    assert response.type == 8
    assert {"name": "Autocomplete Artist", "value": "Autocomplete Artist"} in response.data["choices"]

    inter = await fake.slash_command(
        "album", {"artist": "Autocomplete Artist", "title": "fir"}, focused="title"
    )
    assert (await inter.wait_response(timeout=3)).data["choices"] == [
        {"name": "First Record", "value": "First Record"}
    ]
    inter = await fake.slash_command("album", {"artist": "Someone Else", "title": "fir"}, focused="title")
    assert (await inter.wait_response(timeout=3)).data["choices"] == []


async def test_commands_are_user_installable_except_top(harness: Harness) -> None:
    commands = {c["name"]: c for c in harness.fake.synced_commands[None]}
    for name in ("rate", "album", "history", "Rate this song"):
        assert sorted(commands[name]["integration_types"]) == [0, 1], name
        assert sorted(commands[name]["contexts"]) == [0, 1, 2], name
    assert commands["top"]["contexts"] == [0]
    with pytest.raises(ValueError, match="not offered"):
        await harness.fake.slash_command("top", guild_id=None)


@pytest.mark.parametrize(
    ("where", "kwargs"),
    [
        ("a DM with the bot", {"guild_id": None}),
        ("a group DM through the user's install", {"guild_id": None, "private_channel": True,
                                                   "user_install": True}),
        ("a server that never added the bot", {"guild_id": 1234567890, "user_install": True}),
    ],
)
async def test_album_works_where_the_bot_was_not_added(harness: Harness, where: str, kwargs: dict) -> None:
    catalogue = harness.catalogue
    title = f"Anywhere {where}"
    mbid = catalogue.add_album("Travelling Band", title, ["Road", "Home"], seed=7)
    inter = await harness.fake.slash_command("album", {"artist": "Travelling Band", "title": title}, **kwargs)
    final = await album_reply(inter)
    assert "2 of 2 tracks rated" in text_of(final), where
    history = await (await harness.fake.slash_command("history", **kwargs)).wait_reply(timeout=5)
    # The generic extractor titles a song after its file name.
    assert history.ephemeral and f"[{mbid}-1]" in history.embeds[0]["description"]


async def test_youtube_music_metadata_names_the_album() -> None:
    # The fields yt-dlp fills for a YouTube Music track ("artists" lists every credit, main one first).
    info = youtube._info_from(
        {"id": "abc", "title": "Alright", "artists": ["Kendrick Lamar", "Pharrell"],
         "artist": "Kendrick Lamar, Pharrell", "album": "To Pimp a Butterfly", "duration": 219},
        "https://music.youtube.com/watch?v=abc",
    )
    assert (info.artist, info.album) == ("Kendrick Lamar", "To Pimp a Butterfly")
    plain = youtube._info_from({"id": "x", "title": "a vlog"}, "https://www.youtube.com/watch?v=x")
    assert (plain.artist, plain.album) == (None, None)


async def test_rate_shows_fantanos_score_of_the_album_a_song_is_from(harness: Harness) -> None:
    media, service = harness.catalogue.media, harness.bot.service
    media.add("vlog.wav", song_bytes(5.0, seed=77), "audio/wav")
    inter = await harness.fake.slash_command("rate", {"url": media.url("vlog.wav")})
    (plain,) = (await inter.wait_followup(timeout=60)).embeds
    assert plain["title"].startswith("vlog") and "/10" in plain["description"], plain
    assert all(f["name"] != "Fantano's actual review" for f in plain["fields"]), "he never reviewed a vlog"
    # A link whose video named its album (as YouTube Music's do; the generic extractor on loopback names
    # none), rated before: /rate answers from the store, through the same reply as a fresh rating.
    song = await service.store.find_song(link_key(media.url("vlog.wav")))
    assert song is not None and service.review_of(song) is None
    url = media.url("alright.wav")
    from_album = dataclasses.replace(
        song, key=link_key(url), url=url, artist="Kendrick Lamar", album="To Pimp A Butterfly"
    )
    await service.store.record(from_album, user_id=1, guild_id=None, cached=False)
    inter = await harness.fake.slash_command("rate", {"url": url})
    (embed,) = (await inter.wait_followup(timeout=30)).embeds
    (field,) = [f for f in embed["fields"] if f["name"] == "Fantano's actual review"]
    assert field["value"].startswith("**10/10** for *To Pimp A Butterfly*\nFAV TRACKS: ")


async def test_needlebot_album_cli(harness: Harness, tmp_path: Path) -> None:
    catalogue = harness.catalogue
    catalogue.add_album("Command Band", "Terminal Album", ["Prompt", "Exit Code"], seed=12)
    write_config(
        tmp_path / "config.toml",
        {
            "sources": LOOPBACK_SOURCES | album_sources(catalogue.media.base_url, catalogue.mb.url),
            "storage": {"data_dir": "data"},
        },
    )

    def run(*output: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "NEEDLEBOT_CONFIG")}
        environ["PYTHONPATH"] = str(ROOT)
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "album", "command band", "terminal album", *output],
            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300,
        )

    first = await asyncio.to_thread(run, "--json")
    assert first.returncode == 0, first.stderr
    assert "▰" * 12 + " 2/2" in first.stderr
    data = json.loads(first.stdout)
    assert (data["artist"], data["album"]) == ("Command Band", "Terminal Album")
    assert data["tracklist_source"] == "musicbrainz"
    assert 1 <= data["score"] <= 10 and data["complete"] and not data["cached"]
    assert [t["title"] for t in data["tracks"]] == ["Prompt", "Exit Code"]
    for track in data["tracks"]:
        assert track["video_url"].startswith(catalogue.media.base_url) and track["error"] is None
    assert data["favourites"] and data["least_favourite"] not in data["favourites"]

    second = await asyncio.to_thread(run, "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["cached"] and again["score"] == data["score"]

    text = await asyncio.to_thread(run)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "Command Band - Terminal Album (2016)" and lines[1] == f"{data['score']}/10"
    assert "*" not in text.stdout and "#" not in text.stdout, "Discord markdown in a terminal"
    assert "XNNPACK" not in text.stdout + text.stderr + first.stderr, "LiteRT's INFO line in the terminal"


async def test_hostile_musicbrainz_names_read_as_written(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    title = Hostile("**Loud** Album <@123>")
    albums = [HOSTILE[i : i + 6] for i in range(0, len(HOSTILE), 6)]
    for n, names in enumerate(albums):
        catalogue.add_album(f"Hostile Band {n}", f"{title.name} {n}", [h.name for h in names], seed=30 + n)
    asks = [await fake.slash_command("album", {"artist": f"Hostile Band {n}", "title": f"{title.name} {n}"},
                                     user_id=fake.user_id + 700 + n) for n in range(len(albums))]
    for n, (inter, names) in enumerate(zip(asks, albums, strict=True)):
        final = await album_reply(inter)
        text = "\n".join(markup.embed_text(m.embeds[0]) for m in inter.messages)  # progress and answer
        assert_shown(text, Hostile(f"{title.name} {n}"))
        for hostile in names:
            assert_shown(text, hostile)  # the track, and the video found for it ("ARTIST - TRACK (...)")
        visible = markup.Reading.of(markup.embed_text(final.embeds[0])).visible
        picks = [line.split(": ", 1)[1] for line in visible.splitlines() if "FAV TRACK" in line]
        picked = [h for h in names if any(h.reads_as.upper() in line for line in picks)]
        assert len(picks) == 2 and len(picked) >= 2, picks
        for hostile in picked:
            assert_shown(markup.embed_text(final.embeds[0]), hostile, upper=True)


@pytest.mark.parametrize(("artist", "title"), [("   ", "Some Album"), ("Some Band", " \t ")])
async def test_a_blank_artist_or_title_is_refused_before_deferring(
    harness: Harness, artist: str, title: str
) -> None:
    asked = len(harness.catalogue.mb.hits())
    inter = await harness.fake.slash_command("album", {"artist": artist, "title": title},
                                             user_id=harness.fake.user_id + 950)
    assert GIVE_BOTH in await immediate_error(inter)
    assert len(harness.catalogue.mb.hits()) == asked, "MusicBrainz was asked"


async def test_hostile_names_in_an_album_error_read_as_written(harness: Harness) -> None:
    # The error quotes what was asked (not found) or MusicBrainz's own title (no tracks), to that user alone.
    fake, catalogue = harness.fake, harness.catalogue
    empty = Hostile("[no tracks](https://evil.example/empty) **Empty**")
    catalogue.add_album("Hostile Empty Band", empty.name, [], seed=60)
    asks = [(HOSTILE[0], {"artist": "Nobody At All", "title": HOSTILE[0].name}),
            (HOSTILE[1], {"artist": HOSTILE[1].name, "title": "Nothing At All"}),
            (empty, {"artist": "Hostile Empty Band", "title": empty.name})]
    for n, (hostile, options) in enumerate(asks):
        inter = await fake.slash_command("album", options, user_id=fake.user_id + 900 + n)
        await inter.wait_response(timeout=3)
        message = await inter.wait_followup(timeout=20)
        assert message.ephemeral and inter.shown_to_channel() == []
        assert_shown(markup.embed_text(message.embeds[0]), hostile)


async def test_a_refused_final_edit_answers_in_a_followup_that_says_so(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    # Each track takes over 1 s, so a progress edit shows before the answer is refused.
    catalogue.add_album("Refused Band", "Refused Album", ["One", "Two", "Three"], seed=40, delay_s=0.5)

    def answer(body: dict) -> bool:
        return any("Listening to" not in e.get("title", "") for e in body.get("embeds") or [])

    with fake.refusing_edits(answer) as refused:  # as Discord does once the message was deleted
        inter = await fake.slash_command(
            "album", {"artist": "Refused Band", "title": "Refused Album"}, user_id=fake.user_id + 800
        )
        message = await inter.wait_message(lambda m: m.kind == "followup", timeout=120)
    assert len(refused) == 1, "the answer was not sent as an edit first"
    assert any(m.kind == "edit" for m in inter.messages), "no progress was shown before the answer"
    assert message.content == EDIT_FAILED and not message.ephemeral, "the answer is public, like the edit"
    (embed,) = message.embeds
    assert embed["title"] == "Refused Band - Refused Album (2016)"
    assert "3 of 3 tracks rated" in text_of(message)
    assert not any(m.kind == "edit" and is_final(m) for m in inter.messages)


async def test_fantanos_hostile_picks_read_as_written(harness: Harness) -> None:
    fake, catalogue = harness.fake, harness.catalogue
    catalogue.add_album(*REVIEWED, [h.name for h in HOSTILE_PICKS], seed=50)
    inter = await fake.slash_command("album", {"artist": REVIEWED[0], "title": REVIEWED[1]},
                                     user_id=fake.user_id + 900)
    final = await album_reply(inter)
    (field,) = final.embeds[0]["fields"]
    assert field["name"] == "Fantano's actual review" and field["value"].startswith("**7/10**\nFAV TRACKS: ")
    for hostile in HOSTILE_PICKS:
        assert_shown(field["value"], hostile, upper=True)
