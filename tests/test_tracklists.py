"""GeniusTracklists runs the real lyricsgenius client against a fake Genius on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import lyricsgenius
import pytest

from bot.sources.tracklists import (
    AlbumNotFoundError,
    GeniusTracklists,
    TracklistError,
    normalize_title,
)
from tests.fakes.genius import FakeAlbum, FakeGenius

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
    assert result.tracks == ("Get Got", "The Fever (Aye Aye)", "Lost Boys")
    assert (result.artist, result.album) == ("Death Grips", "The Money Store")
    sent = genius.authorizations[before:]
    assert sent and all(a == f"Bearer {TOKEN}" for a in sent)


def test_match_ignores_case_punctuation_and_accents(genius: FakeGenius) -> None:
    client = GeniusTracklists(TOKEN, api_root=genius.api_root)
    assert client.tracklist("tyler the creator", "igor").tracks[1] == "EARFQUAKE"
    # The review names the plain album; Genius only has the deluxe edition.
    assert client.tracklist("Bjork", "Vespertine").tracks == ("Hidden Place", "Cocoon")


def test_tracklist_is_paginated(genius: FakeGenius) -> None:
    before = genius.hits("tracks")
    result = GeniusTracklists(TOKEN, api_root=genius.api_root).tracklist("Swans", "To Be Kind")
    assert result.tracks == LONG_ALBUM.tracks
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
