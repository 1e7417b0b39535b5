"""Tracklists: the real aiohttp MusicBrainz client and lyricsgenius against fakes on 127.0.0.1.

MusicBrainz requests are spaced one second apart by the client (the fake answers 503 otherwise), so
this module takes about a second per MusicBrainz request it makes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import lyricsgenius
import pytest

from sources.albums import AlbumNotFoundError, Track, Tracklist, TracklistError, TracklistOptions
from sources.failures import TryAgainLater
from sources.genius import GeniusTracklists
from sources.musicbrainz import choose_release
from sources.names import normalize_title
from sources.tracklists import find_tracklist
from tests.fakes.genius import FakeAlbum, FakeGenius
from tests.fakes.musicbrainz import JPEG, FakeMusicBrainz, FakeRelease

TOKEN = "s3cret-genius-token"
LONG_ALBUM = FakeAlbum("Swans", "To Be Kind", tuple(f"Track {i}" for i in range(1, 56)))
ALBUMS = [
    FakeAlbum("Tyler, The Creator", "IGOR", ("IGOR'S THEME", "EARFQUAKE", "I THINK")),
    FakeAlbum("Death Grips", "The Money Store", ("Get Got", "The Fever (Aye Aye)", "Lost Boys")),
    FakeAlbum("Björk", "Vespertine (Deluxe Edition)", ("Hidden Place", "Cocoon")),
    LONG_ALBUM,
]


@pytest.fixture(scope="module")
def genius() -> Iterator[FakeGenius]:
    with FakeGenius(TOKEN, ALBUMS) as fake:
        yield fake


def test_tracklist_in_order_with_the_token_sent(genius: FakeGenius) -> None:
    before = len(genius.authorizations)
    result = GeniusTracklists(TOKEN, api_root=genius.api_root).tracklist("Death Grips", "The Money Store")
    assert result.tracks == (
        Track("Get Got", 1, 1, None), Track("The Fever (Aye Aye)", 2, 1, None), Track("Lost Boys", 3, 1, None)
    )  # fmt: skip
    assert (result.artist, result.album, result.source) == ("Death Grips", "The Money Store", "genius")
    sent = genius.authorizations[before:]
    assert sent and all(a == f"Bearer {TOKEN}" for a in sent)


def test_match_ignores_case_punctuation_and_accents(genius: FakeGenius) -> None:
    client = GeniusTracklists(TOKEN, api_root=genius.api_root)
    assert client.tracklist("tyler the creator", "igor").tracks[1].title == "EARFQUAKE"
    # The review names the plain album; Genius only has the deluxe edition.
    assert _titles(client.tracklist("Bjork", "Vespertine")) == ("Hidden Place", "Cocoon")


def test_tracklist_is_paginated(genius: FakeGenius) -> None:
    before = genius.hits("tracks")
    result = GeniusTracklists(TOKEN, api_root=genius.api_root).tracklist("Swans", "To Be Kind")
    assert _titles(result) == LONG_ALBUM.tracks
    assert [t.position for t in result.tracks] == list(range(1, 56))
    assert genius.hits("tracks") - before == 2  # 55 tracks at 50 per page


def test_unknown_album_is_a_clear_error(genius: FakeGenius) -> None:
    client = GeniusTracklists(TOKEN, api_root=genius.api_root)
    with pytest.raises(AlbumNotFoundError, match="Genius has no album “Nope” by Death Grips"):
        client.tracklist("Death Grips", "Nope")
    with pytest.raises(AlbumNotFoundError):
        client.tracklist("Someone Else", "The Money Store")  # right title, wrong artist


def test_wrong_token_is_a_clear_error_without_the_token(
    genius: FakeGenius, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-value-123"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TracklistError, match="refused the access token") as info:
        GeniusTracklists(wrong, api_root=genius.api_root).tracklist("Death Grips", "The Money Store")
    assert genius.hits("unauthorized") >= 1
    assert wrong not in str(info.value) and wrong not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert wrong not in caplog.text


def test_api_root_does_not_leak_to_other_clients(genius: FakeGenius) -> None:
    GeniusTracklists(TOKEN, api_root=genius.api_root)
    assert lyricsgenius.Genius(TOKEN).API_ROOT == "https://api.genius.com/"
    assert lyricsgenius.Genius(TOKEN).PUBLIC_API_ROOT == "https://genius.com/api/"


def test_unreachable_genius_is_a_clear_error() -> None:
    with FakeGenius(TOKEN, []) as gone:
        root = gone.api_root
    with pytest.raises(TracklistError, match="couldn't reach Genius"):
        GeniusTracklists(TOKEN, api_root=root, timeout=2).tracklist("A", "B")


def test_empty_token_or_names_are_refused(genius: FakeGenius) -> None:
    with pytest.raises(TracklistError, match="GENIUS_ACCESS_TOKEN"):
        GeniusTracklists("  ")
    with pytest.raises(AlbumNotFoundError, match="both an artist and an album"):
        GeniusTracklists(TOKEN, api_root=genius.api_root).tracklist(" ", "IGOR")


@pytest.mark.parametrize(
    ("a", "b"),
    [("Tyler, The Creator", "tyler the creator"), ("Simon & Garfunkel", "Simon and Garfunkel"),
     ("Björk", "bjork"), ("  The  Fever (Aye Aye) ", "the fever aye aye")],
)  # fmt: skip
def test_normalize_title(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)
    assert normalize_title(a) != normalize_title(a + " 2")


def _titles(tracklist: Tracklist) -> tuple[str, ...]:
    return tuple(t.title for t in tracklist.tracks)


# MusicBrainz ------------------------------------------------------------------------------------------

AGENT = "NeedleBotTests/1.0 ( tests@example.org )"
MONEY_STORE = [("Get Got", 171.8), ("The Fever (Aye Aye)", 187.0), ("Lost Boys", 186.4)]
RELEASES = [
    # Listed deluxe first, with the higher search score: the original must still win.
    FakeRelease("mb-deluxe", "The Money Store (Deluxe Edition)", "Death Grips", "2013-05-01",
                [[*MONEY_STORE, ("Bonus Beat", 120.0)]]),
    FakeRelease("mb-original", "The Money Store", "Death Grips", "2012-04-24", [MONEY_STORE]),
    FakeRelease("mb-compilation", "The Money Store", "Death Grips", "2011-01-01", [MONEY_STORE[:1]],
                secondary_types=("Compilation",)),
    FakeRelease("mb-single", "The Money Store", "Death Grips", "2010-01-01", [MONEY_STORE[:1]],
                primary_type="Single"),
    FakeRelease("mb-twodisc", "Mellon Collie and the Infinite Sadness", "The Smashing Pumpkins", "1995-10-23",
                [[("Mellon Collie and the Infinite Sadness", 172.5), ("Tonight, Tonight", 254.0)],
                 [("Where Boys Fear to Tread", 262.9), ("Farewell and Goodnight", 262.0)]]),
    FakeRelease("mb-sigur", "Ágætis byrjun", "Sigur Rós", "1999-06-12",
                [[("Intro", 96.0), ("Svefn-g-englar", 604.0), ("Starálfur", 406.6)]], cover=False),
    FakeRelease("mb-dark", "Taken Down", "Dark Band", "2001-01-01", [[("Gone", 200.0)]], darkened=True),
]  # fmt: skip


def _options(mb: FakeMusicBrainz, **kwargs: object) -> TracklistOptions:
    return TracklistOptions(
        musicbrainz_url=mb.url,
        coverart_url=mb.url,
        user_agent=AGENT,
        timeout=5.0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def mb() -> Iterator[FakeMusicBrainz]:
    with FakeMusicBrainz(RELEASES) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_two_disc_album_in_order_with_lengths_and_cover(
    mb: FakeMusicBrainz, session: aiohttp.ClientSession
) -> None:
    result = await find_tracklist(
        "the smashing pumpkins", "Mellon Collie and the Infinite Sadness", _options(mb), session
    )
    assert result == Tracklist(
        artist="The Smashing Pumpkins",
        album="Mellon Collie and the Infinite Sadness",
        tracks=(
            Track("Mellon Collie and the Infinite Sadness", 1, 1, 172.5),
            Track("Tonight, Tonight", 2, 1, 254.0),
            Track("Where Boys Fear to Tread", 3, 2, 262.9),
            Track("Farewell and Goodnight", 4, 2, 262.0),
        ),
        release_id="mb-twodisc",
        year=1995,
        cover_url=f"{mb.url}/release/mb-twodisc/front-500",
        source="musicbrainz",
    )
    searched, looked_up = mb.hits()
    assert searched.path == "/ws/2/release/" and searched.query["fmt"] == "json"
    assert searched.query["query"] == (
        'release:"Mellon Collie and the Infinite Sadness"'
        ' AND (artist:"the smashing pumpkins" OR artistname:"the smashing pumpkins")'
    )
    assert looked_up.path == "/ws/2/release/mb-twodisc"
    assert looked_up.query == {"inc": "recordings+artist-credits+release-groups+genres", "fmt": "json"}
    assert {r.user_agent for r in mb.hits()} == {AGENT}
    async with session.get(result.cover_url) as cover:  # type: ignore[arg-type]
        assert cover.status == 200 and cover.content_type == "image/jpeg" and await cover.read() == JPEG
        assert [r.status for r in cover.history] == [307]  # the Cover Art Archive redirects to archive.org


async def test_original_album_chosen_over_deluxe_compilation_and_single(
    mb: FakeMusicBrainz, session: aiohttp.ClientSession
) -> None:
    result = await find_tracklist("Death Grips", "the money store", _options(mb), session)
    assert (result.release_id, result.album, result.year) == ("mb-original", "The Money Store", 2012)
    assert _titles(result) == ("Get Got", "The Fever (Aye Aye)", "Lost Boys")
    # Asking for the deluxe edition by name gets it.
    deluxe = await find_tracklist("Death Grips", "The Money Store (Deluxe Edition)", _options(mb), session)
    assert deluxe.release_id == "mb-deluxe" and deluxe.tracks[-1] == Track("Bonus Beat", 4, 1, 120.0)


async def test_non_ascii_titles_and_no_cover(mb: FakeMusicBrainz, session: aiohttp.ClientSession) -> None:
    result = await find_tracklist("Sigur Rós", "Ágætis byrjun", _options(mb), session)
    assert (result.artist, result.album) == ("Sigur Rós", "Ágætis byrjun")
    assert _titles(result) == ("Intro", "Svefn-g-englar", "Starálfur")
    assert result.cover_url is None  # the release says the Cover Art Archive has no front image
    # A darkened release's images were taken down: no cover is asked for, even where "front" says true.
    assert (await find_tracklist("Dark Band", "Taken Down", _options(mb), session)).cover_url is None
    folded = await find_tracklist("sigur ros", "Ágætis Byrjun", _options(mb), session)
    assert folded.release_id == result.release_id


async def test_requests_are_spaced_one_second_even_when_concurrent(
    mb: FakeMusicBrainz, session: aiohttp.ClientSession
) -> None:
    await asyncio.gather(
        find_tracklist("Death Grips", "The Money Store", _options(mb), session),
        find_tracklist("Sigur Rós", "Ágætis byrjun", _options(mb), session),
    )
    hits = mb.hits()
    assert len(hits) == 4 and all(r.status == 200 for r in hits)  # the fake 503s anything faster
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(hits))


async def test_a_503_is_retried_once(mb: FakeMusicBrainz, session: aiohttp.ClientSession) -> None:
    mb.fail_next = 1
    result = await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert result.source == "musicbrainz"
    assert [r.status for r in mb.hits()] == [503, 200, 200]


async def test_musicbrainz_down_falls_back_to_genius(
    mb: FakeMusicBrainz, genius: FakeGenius, session: aiohttp.ClientSession
) -> None:
    mb.unavailable = True
    options = _options(mb, genius_url=genius.api_root, genius_token=TOKEN)
    result = await find_tracklist("Death Grips", "The Money Store", options, session)
    assert result.source == "genius" and _titles(result) == ("Get Got", "The Fever (Aye Aye)", "Lost Boys")
    assert [r.status for r in mb.hits()] == [503, 503]  # one retry, then the next provider
    # Without a Genius token, Genius is not asked and the user hears that MusicBrainz is busy.
    before = genius.hits()
    with pytest.raises(TracklistError, match="MusicBrainz is busy") as info:
        await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert not isinstance(info.value, AlbumNotFoundError)
    assert genius.hits() == before


async def test_unknown_album_is_asked_of_every_provider(
    mb: FakeMusicBrainz, genius: FakeGenius, session: aiohttp.ClientSession
) -> None:
    before = genius.hits("search")
    options = _options(mb, genius_url=genius.api_root, genius_token=TOKEN)
    with pytest.raises(AlbumNotFoundError, match="couldn't find the album “Nope” by Death Grips"):
        await find_tracklist("Death Grips", "Nope", options, session)
    assert genius.hits("search") - before == 1
    assert len(mb.hits()) == 1  # the search found nothing: no release lookup
    with pytest.raises(AlbumNotFoundError, match="both an artist and an album"):
        await find_tracklist("  ", "IGOR", options, session)


async def test_provider_order_comes_from_options(
    mb: FakeMusicBrainz, genius: FakeGenius, session: aiohttp.ClientSession
) -> None:
    options = _options(
        mb, providers=("genius", "musicbrainz"), genius_url=genius.api_root, genius_token=TOKEN
    )
    assert (await find_tracklist("Death Grips", "The Money Store", options, session)).source == "genius"
    assert mb.hits() == []


async def test_user_agent_without_contact_is_refused(
    mb: FakeMusicBrainz, session: aiohttp.ClientSession
) -> None:
    options = TracklistOptions(musicbrainz_url=mb.url, user_agent="python-requests/2.32", timeout=5.0)
    with pytest.raises(TracklistError, match=r"MusicBrainz answered with an error \(403\)"):
        await find_tracklist("Death Grips", "The Money Store", options, session)
    assert [r.user_agent for r in mb.hits()] == ["python-requests/2.32"]


async def test_unreachable_musicbrainz_is_a_clear_error(session: aiohttp.ClientSession) -> None:
    with FakeMusicBrainz([]) as gone:
        url = gone.url
    options = TracklistOptions(musicbrainz_url=url, user_agent=AGENT, timeout=2.0)
    with pytest.raises(TracklistError, match="couldn't reach MusicBrainz"):
        await find_tracklist("Death Grips", "The Money Store", options, session)


def test_options_never_show_the_genius_token() -> None:
    assert TOKEN not in repr(TracklistOptions(genius_token=TOKEN))


def test_the_rate_limit_holds_across_threads_and_event_loops(mb: FakeMusicBrainz) -> None:
    # training collect runs one asyncio.run per worker thread: they share the one-per-second budget.
    async def lookup(album: str, artist: str) -> Tracklist:
        async with aiohttp.ClientSession() as client:
            return await find_tracklist(artist, album, _options(mb), client)

    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(asyncio.run, lookup("The Money Store", "Death Grips")),
            pool.submit(asyncio.run, lookup("Ágætis byrjun", "Sigur Rós")),
        ]
        assert {job.result().release_id for job in jobs} == {"mb-original", "mb-sigur"}
    hits = mb.hits()
    assert len(hits) == 4 and all(r.status == 200 for r in hits)
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(hits))


# Shapes the real web service sends (see tests/fakes/musicbrainz.py for where each was checked).


async def test_null_lengths_partial_dates_empty_media_and_hidden_tracks(
    session: aiohttp.ClientSession,
) -> None:
    spirit_phone = FakeRelease(
        "mb-spirit", "Spirit Phone", "Lemon Demon", "2016",
        [[("Lifetime Achievement Award", 232.0), ("Cabinet Man", None)], [], [("When He Died", 230.4)]],
        formats=("Enhanced CD", None, "CD"), pregap=("Sexy DVD", 88.0), data_tracks=(("Bonus Video", 200.0),),
    )  # fmt: skip
    undated = FakeRelease("mb-undated", "Demo Tape", "Lemon Demon", "", [[("Tape Hiss", 61.0)]], status=None)
    with FakeMusicBrainz([spirit_phone, undated]) as mb:
        result = await find_tracklist("Lemon Demon", "Spirit Phone", _options(mb), session)
        # The pregap's hidden track and the data track are not part of the tracklist; the empty second
        # medium keeps its number.
        assert result.tracks == (
            Track("Lifetime Achievement Award", 1, 1, 232.0),
            Track("Cabinet Man", 2, 1, None),
            Track("When He Died", 3, 3, 230.4),
        )
        assert result.year == 2016
        found = await find_tracklist("Lemon Demon", "Demo Tape", _options(mb), session)
        assert (found.release_id, found.year, _titles(found)) == ("mb-undated", None, ("Tape Hiss",))


async def test_collaboration_credit_is_matched_whole_or_by_one_of_its_artists(
    session: aiohttp.ClientSession,
) -> None:
    throne = FakeRelease(
        "mb-throne", "Watch the Throne", "Kanye West & JAY‐Z", "2011-08-08",
        [[("No Church in the Wild", 272.0)]], credit=(("Kanye West", " & "), ("JAY‐Z", "")),
    )  # fmt: skip
    with FakeMusicBrainz([throne]) as mb:
        result = await find_tracklist("Kanye West & Jay-Z", "Watch the Throne", _options(mb), session)
        assert (result.release_id, result.artist) == ("mb-throne", "Kanye West & JAY‐Z")
        # A joint album asked for by either of its artists is that album (issue 17).
        for one in ("Kanye West", "Jay-Z"):
            found = await find_tracklist(one, "Watch the Throne", _options(mb), session)
            assert (found.release_id, found.artist) == ("mb-throne", "Kanye West & JAY‐Z")
    # The artist's own album of the same title wins over a collaboration.
    solo = FakeRelease("mb-solo", "Watch the Throne", "Kanye West", "2012-01-01", [[("Alone", 200.0)]])
    with FakeMusicBrainz([throne, solo]) as mb:
        found = await find_tracklist("Kanye West", "Watch the Throne", _options(mb), session)
        assert found.release_id == "mb-solo"


# As the real service writes them: the credit under the name printed on the release, and the artist's
# own name and sort name beside it.
VARIANT = FakeRelease(
    "mb-variant", "Vultures 1", "¥$", "2024-02-10", [[("Stars", 113.0)]],
    credit=(("¥$", ""),), artists=(("¥$", "¥$"),),
)  # fmt: skip
CREDITED_AS = FakeRelease(
    "mb-ye", "Donda 2", "Ye", "2022-02-23", [[("True Love", 160.0)]],
    credit=(("Ye", ""),), artists=(("Kanye West", "West, Kanye"),),
)  # fmt: skip
FEATURING = FakeRelease(
    "mb-feat", "Love Me More", "Mitski feat. Some Guest", "2022-02-04", [[("Love Me More", 212.0)]],
    credit=(("Mitski", " feat. "), ("Some Guest", "")),
)  # fmt: skip
SORTED = FakeRelease(
    "mb-sorted", "async", "坂本龍一", "2017-03-29", [[("andata", 275.0)]],
    artists=(("坂本龍一", "Sakamoto, Ryuichi"),),
)  # fmt: skip


@pytest.mark.parametrize(
    ("artist", "album", "mbid"),
    [
        ("Kanye West", "Donda 2", "mb-ye"),  # credited under a variant: found by the artist's own name
        ("ye", "Donda 2", "mb-ye"),  # and by the name as printed
        ("Mitski", "Love Me More", "mb-feat"),  # a "feat." credit, by its main artist
        ("Some Guest", "Love Me More", "mb-feat"),  # and by its guest
    ],
)
async def test_each_credited_artist_answers_to_its_own_names(
    session: aiohttp.ClientSession, artist: str, album: str, mbid: str
) -> None:
    with FakeMusicBrainz([VARIANT, CREDITED_AS, FEATURING, SORTED]) as mb:
        found = await find_tracklist(artist, album, _options(mb), session)
    assert found.release_id == mbid


async def test_a_sort_name_matches_as_written_and_turned(session: aiohttp.ClientSession) -> None:
    # Search documents as the service sends them (the search itself matches the printed credit).
    with FakeMusicBrainz([SORTED]) as mb:
        query = {"query": 'release:"async" AND artist:"坂本龍一"', "fmt": "json"}
        async with session.get(f"{mb.url}/ws/2/release/", params=query, headers={"User-Agent": AGENT}) as r:
            releases = (await r.json())["releases"]
    for asked in ("Sakamoto, Ryuichi", "Ryuichi Sakamoto", "坂本龍一"):
        assert (choose_release(releases, asked, "async") or {}).get("id") == "mb-sorted", asked
    assert choose_release(releases, "Sakamoto", "async") is None


async def test_release_group_genres_come_most_voted_first(session: aiohttp.ClientSession) -> None:
    tagged = FakeRelease(
        "mb-tagged", "Tagged", "Genre Band", "2020-01-01", [[("One", 100.0)]],
        genres=(("shoegaze", 2), ("dream pop", 5), ("noise pop", 1)),
    )  # fmt: skip
    with FakeMusicBrainz([tagged, VARIANT]) as mb:
        found = await find_tracklist("Genre Band", "Tagged", _options(mb), session)
        assert found.genres == ("dream pop", "shoegaze", "noise pop")
        untagged = await find_tracklist("¥$", "Vultures 1", _options(mb), session)
        assert untagged.genres == ()


async def test_old_search_documents_still_match(mb: FakeMusicBrainz, session: aiohttp.ClientSession) -> None:
    mb.old_search = True  # string scores; credits naming only the artist itself
    result = await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert (result.release_id, result.artist) == ("mb-original", "Death Grips")


async def test_videos_and_data_track_placeholders_are_not_rated(session: aiohttp.ClientSession) -> None:
    careless = FakeRelease(
        "mb-cd-dvd", "Careless", "Some Band", "2021-09-15",
        [[("Careless", 256.0), ("[data track]", 30.0)], [("Careless (Music Video)", 249.0)]],
        formats=("CD", "DVD-Video"),
    )  # fmt: skip
    with FakeMusicBrainz([careless]) as mb:
        result = await find_tracklist("Some Band", "Careless", _options(mb), session)
    assert result.tracks == (Track("Careless", 1, 1, 256.0),)


async def test_the_original_is_found_among_many_reissues(session: aiohttp.ClientSession) -> None:
    tracks = [[("Airbag", 284.0), ("Paranoid Android", 387.0)]]
    reissues = [
        FakeRelease(f"mb-reissue-{n}", "OK Computer", "Radiohead", f"{2000 + n}", tracks) for n in range(30)
    ]
    original = FakeRelease("mb-1997", "OK Computer", "Radiohead", "1997-05-21", tracks)
    with FakeMusicBrainz([*reissues, original]) as mb:  # the search server lists the original last
        result = await find_tracklist("Radiohead", "OK Computer", _options(mb), session)
    assert (result.release_id, result.year) == ("mb-1997", 1997)


async def test_release_without_status_preferred_over_a_bootleg(session: aiohttp.ClientSession) -> None:
    tracks = [[("Everything in Its Right Place", 251.0)]]
    releases = [
        FakeRelease("mb-bootleg", "Kid A", "Radiohead", "2000-09-01", tracks, status="Bootleg"),
        FakeRelease("mb-unset", "Kid A", "Radiohead", "2000-10-02", tracks, status=None),
    ]
    with FakeMusicBrainz(releases) as mb:
        assert (await find_tracklist("Radiohead", "Kid A", _options(mb), session)).release_id == "mb-unset"


async def test_retry_after_is_waited_for(mb: FakeMusicBrainz, session: aiohttp.ClientSession) -> None:
    mb.fail_next, mb.retry_after = 1, 2
    result = await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert result.release_id == "mb-original"
    busy, retried, _ = mb.hits()
    assert (busy.status, retried.status) == (503, 200) and retried.at - busy.at >= 2.0


async def test_a_long_retry_after_fails_at_once(mb: FakeMusicBrainz, session: aiohttp.ClientSession) -> None:
    mb.fail_next, mb.retry_after = 1, 120
    with pytest.raises(TracklistError, match="MusicBrainz is busy") as info:
        await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert isinstance(info.value, TryAgainLater) and "asked me to wait 2 minutes" in str(info.value)
    assert [r.status for r in mb.hits()] == [503]  # retrying sooner than asked would only be refused
    # Respected: until it passes, the next album is refused without asking MusicBrainz again.
    with pytest.raises(TracklistError, match="asked me to wait 2 minutes"):
        await find_tracklist("Radiohead", "Kid A", _options(mb), session)
    assert [r.status for r in mb.hits()] == [503]


async def test_a_429_is_busy_for_now_and_its_retry_after_waited_for(
    mb: FakeMusicBrainz, session: aiohttp.ClientSession
) -> None:
    mb.busy_status, mb.fail_next, mb.retry_after = 429, 1, 2
    result = await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    busy, retried, _ = mb.hits()
    assert (busy.status, retried.status) == (429, 200) and retried.at - busy.at >= 2.0
    assert result.release_id == "mb-original"
    mb.unavailable = True
    with pytest.raises(TracklistError, match="MusicBrainz is busy") as info:
        await find_tracklist("Death Grips", "The Money Store", _options(mb), session)
    assert isinstance(info.value, TryAgainLater), "a 429 says nothing about the album"
