"""Verdicts, quips and embeds: Fantano's register, deterministic quips, and Discord's embed limits."""

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from bot import embeds, terminal, voice
from bot.album import RatedAlbum, TrackResult
from bot.embeds import error_embed, history_embed, rating_embed, top_embed
from bot.store import AlbumRecord, HistoryRow, SongRecord, StoredTrack
from bot.voice import OPENERS, SIGN_OFFS, quip, verdict
from model.calibration import calibrate
from model.scorer import Rating, SectionRating
from sources.fantano import FantanoReview
from tests.support.markup import HOSTILE, Hostile, assert_shown, embed_text

# t_k = k + 0.5, so score s covers expected in [s - 0.5, s + 0.5).
THRESHOLDS = [k + 0.5 for k in range(1, 10)]
WHEN = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)


def _rating(score: int = 7, expected: float = 7.1, genres=(("hiphop", 0.62), ("jazz", 0.2), ("rock", 0.03))):
    distribution = np.full(11, 0.02)
    distribution[score] = 0.8
    return Rating(score=score, expected=expected, distribution=tuple(distribution / distribution.sum()),
                  genres=tuple(genres))


def _embed(*, cached=False, picture="rating.png", thresholds=THRESHOLDS, **overrides):
    fields = dict(key="video123", title="Some Artist - Some Song", url="https://www.youtube.com/watch?v=video123",
                  rating=_rating(), seconds=205.0, truncated=False, picture=b"\x89PNG")
    fields.update(overrides)
    return rating_embed(SongRecord(**fields), cached=cached, picture=picture, thresholds=thresholds)


# --- verdicts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("score", "offset", "expected_words"),
    [(1, 0.0, "NOT GOOD"), (10, 0.0, "CLASSIC"), (10, 0.4, "CLASSIC")]
    + [(s, -0.4, f"light {s}") for s in range(2, 10)]
    + [(s, 0.0, f"decent {s}") for s in range(2, 10)]
    + [(s, 0.4, f"strong {s}") for s in range(2, 10)],
)
def test_verdict_for_every_score_and_band_third(score: int, offset: float, expected_words: str) -> None:
    assert verdict(score, score + offset, THRESHOLDS) == expected_words


def test_verdict_agrees_with_the_real_calibration() -> None:
    # Uneven bands like a real model card's: the number in the verdict is the calibrated score.
    thresholds = np.array([3.1, 4.0, 4.8, 5.5, 6.0, 6.4, 6.9, 7.6, 7.9])
    for expected in np.linspace(2.0, 9.0, 301):
        score = int(calibrate(np.array([expected]), thresholds)[0])
        words = verdict(score, float(expected), thresholds)
        if 2 <= score <= 9:
            qualifier, number = words.split()
            assert number == str(score)
            assert qualifier in ("light", "decent", "strong")
    # Just above a threshold is the bottom of its band, just below the next one the top.
    assert verdict(7, 6.41, thresholds) == "light 7"
    assert verdict(7, 6.89, thresholds) == "strong 7"


def test_verdict_without_thresholds_is_just_the_number() -> None:
    assert verdict(7, 6.4) == "7"
    assert verdict(1) == "NOT GOOD"


def test_verdict_clamps_an_expected_score_outside_its_band() -> None:
    # A cached rating can predate the current card's thresholds.
    assert verdict(5, 0.0, THRESHOLDS) == "light 5"
    assert verdict(5, 10.0, THRESHOLDS) == "strong 5"


@pytest.mark.parametrize("score", [0, 11])
def test_verdict_rejects_scores_outside_one_to_ten(score: int) -> None:
    with pytest.raises(ValueError):
        verdict(score)


# --- quips --------------------------------------------------------------------------------------------

def test_there_are_many_quips_in_every_band() -> None:
    assert sum(len(lines) for lines in OPENERS.values()) >= 40
    assert all(len(lines) >= 10 for lines in OPENERS.values())
    assert all("opinion" in sign_off for sign_off in SIGN_OFFS)


@pytest.mark.parametrize("score", range(1, 11))
def test_quips_are_deterministic_varied_short_and_signed_off(score: int) -> None:
    keys = [f"song-{i}" for i in range(200)]
    quips = [quip(key, score) for key in keys]
    assert len(set(quips)) >= 30
    assert [quip(key, score) for key in keys] == quips
    for text in quips:
        assert any(text.endswith(sign_off) for sign_off in SIGN_OFFS)
        assert len(text) < 200


def test_quips_fit_the_score_band() -> None:
    assert any(quip("x", 2).startswith(line) for line in OPENERS["low"])
    assert any(quip("x", 9).startswith(line) for line in OPENERS["top"])
    assert not any(quip("x", 9).startswith(line) for line in OPENERS["low"])


# --- the rating embed ---------------------------------------------------------------------------------

def test_rating_embed_shows_score_verdict_quip_genres_picture_and_link() -> None:
    embed = _embed()
    assert embed.title == "Some Artist - Some Song"
    assert embed.url == "https://www.youtube.com/watch?v=video123"
    assert embed.description.startswith("# 7/10\n")
    assert "I'm feeling a **decent 7**." in embed.description
    assert quip("video123", 7) in embed.description
    assert embed.image.url == "attachment://rating.png"
    (field,) = embed.fields
    assert field.name == "Sounds like"
    assert "**hip hop** to me (62%)" in field.value
    assert "jazz (20%)" in field.value
    assert "rock" not in field.value  # 3% is noise
    assert embed.footer.text == "analysed 3 min 25 s"
    json.dumps(embed.to_dict())  # what discord.py sends must be JSON


def test_the_genre_line_names_fantanos_mean_for_the_top_genre() -> None:
    rating = dataclasses.replace(_rating(), genre_means=(6.04, 6.8, 6.4))
    (field,) = _embed(rating=rating).fields
    assert field.value.startswith("**hip hop** to me (62%), a genre Melon averages 6.0 on\nwith a bit of")
    (field,) = _embed().fields  # cached before the means were kept: just the genre
    assert "Melon" not in field.value


def test_text_and_json_carry_the_genre_means_and_the_sections() -> None:
    rating = dataclasses.replace(_rating(), genre_means=(6.04, 6.8, 6.4))
    sections = (SectionRating(1.0, 31.0, _rating(5, 5.0)), SectionRating(31, 70.5, _rating(8, 8, genres=())))
    song = SongRecord("k", "T", None, rating, 69.5, False, b"png", sections)
    text = terminal.rating_text(song, cached=False, thresholds=THRESHOLDS)
    assert "Sounds like: hip hop to me (62%), a genre Melon averages 6.0 on" in text
    assert "*" not in text, "no Discord markdown in a terminal"
    data = json.loads(json.dumps(terminal.rating_json(song, cached=False, thresholds=THRESHOLDS)))
    assert data["score"] == 7 and data["genre_means"] == [6.04, 6.8, 6.4]
    assert data["sections"] == [
        {"start": 1.0, "end": 31.0, "score": 5, "genre": "hiphop"},
        {"start": 31.0, "end": 70.5, "score": 8, "genre": None},
    ]


def test_special_verdicts_and_colours_follow_the_score() -> None:
    assert "**NOT GOOD**" in _embed(rating=_rating(1, 1.0)).description
    assert "**CLASSIC**" in _embed(rating=_rating(10, 9.6)).description
    colours = {_embed(rating=_rating(s, float(s))).colour for s in (2, 5, 7, 9, 10)}
    assert len(colours) == 5


@pytest.mark.parametrize(
    ("cached", "truncated", "seconds", "footer"),
    [
        (True, False, 42.4, "analysed 42 s · from the cache"),
        (False, True, 900.0, "analysed the first 15 min only"),
        (True, True, 900.0, "analysed the first 15 min only · from the cache"),
    ],
)
def test_footer_says_cached_and_truncated(cached: bool, truncated: bool, seconds: float, footer: str) -> None:
    assert _embed(cached=cached, truncated=truncated, seconds=seconds).footer.text == footer


def test_rating_embed_without_picture_genres_or_link() -> None:
    embed = _embed(picture=None, url=None, rating=_rating(genres=()))
    assert embed.image.url is None
    assert embed.url is None
    assert embed.fields == []


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "https://x/" + "a" * 3000, ""])
def test_links_discord_would_reject_are_left_out(url: str) -> None:
    assert _embed(url=url).url is None


def test_huge_inputs_stay_within_discord_limits() -> None:
    genres = (("x" * 5000, 0.5), ("y" * 5000, 0.3), ("z" * 5000, 0.2))
    embed = _embed(title="An Absurdly Long Title " * 5000, rating=_rating(genres=genres), key="k" * 10_000)
    assert len(embed.title) == embeds.TITLE_LIMIT
    assert embed.title.endswith("…")
    assert len(embed.description) <= embeds.DESCRIPTION_LIMIT
    assert all(len(f.value) <= embeds.FIELD_VALUE_LIMIT for f in embed.fields)
    assert len(embed) <= embeds.TOTAL_LIMIT


def test_blank_title_becomes_untitled() -> None:
    assert _embed(title=" \n\t ").title == "Untitled"


# --- errors and lists ---------------------------------------------------------------------------------

def test_error_embed_is_red_short_and_bounded() -> None:
    embed = error_embed("That link isn't a YouTube video. Paste a youtube.com or youtu.be link.")
    assert embed.title == "Hmm, that didn't work"
    assert error_embed("x", title="I couldn't rate that").title == "I couldn't rate that"
    assert embed.colour == embeds.ERROR_COLOUR
    assert "youtu.be" in embed.description
    assert len(error_embed("!" * 10_000)) <= embeds.TOTAL_LIMIT


@pytest.fixture
def away_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A host clock away from UTC, so reading a naive time as local time would show."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("away_from_utc")
def test_history_lists_numbered_rows_with_links_and_relative_times() -> None:
    rows = [
        HistoryRow("First *Song*", 8, "https://youtu.be/aaa", WHEN),
        HistoryRow("Second [Song]", 3, None, datetime(2024, 3, 9, 12, 0)),
    ]
    embed = history_embed(rows, "fantanofan")
    assert "fantanofan" in embed.title
    first, second = embed.description.split("\n")
    unix = int(WHEN.timestamp())
    assert first == f"1. **8/10** [First \\*Song\\*](https://youtu.be/aaa) · <t:{unix}:R>"
    # A naive datetime from the store is UTC, not the host's local time.
    assert second == f"2. **3/10** Second \\[Song\\] · <t:{unix}:R>"


def test_top_names_the_guild() -> None:
    embed = top_embed([HistoryRow("Song", 10, None, WHEN)], "The Server")
    assert embed.title == "Top rated in The Server"
    assert embed.description.startswith("1. **10/10** Song")


def test_empty_lists_are_friendly() -> None:
    assert "/rate" in history_embed([], "someone").description
    assert "/rate" in top_embed([], "The Server").description


def test_long_lists_are_cut_with_a_note() -> None:
    rows = [HistoryRow("T" * 500, 7, "https://youtu.be/" + "v" * 50, WHEN) for _ in range(300)]
    embed = history_embed(rows, "n" * 1000)
    assert len(embed.description) <= embeds.DESCRIPTION_LIMIT
    assert len(embed) <= embeds.TOTAL_LIMIT
    lines = embed.description.split("\n")
    assert lines[-1] == f"…and {300 - (len(lines) - 1)} more"
    assert all(len(line) < 250 for line in lines)  # titles clipped per row


# --- albums -----------------------------------------------------------------------------------------

def _album(titles=("Intro", "Single", "Outro")):
    tracks = tuple(StoredTrack(title, 1, n, 200.0) for n, title in enumerate(titles, start=1))
    return AlbumRecord("musicbrainz:x", "Some Artist", "Some Album", 2020, None, "musicbrainz", tracks, "")


@pytest.mark.parametrize(
    ("place", "words"), [(1, "**1st**"), (2, "**2nd**"), (3, "**3rd**"), (11, "**11th**"), (22, "**22nd**")]
)
def test_album_progress_says_its_place_in_line_while_it_waits(place: int, words: str) -> None:
    embed = embeds.album_progress_embed(_album(), [], place)
    bar, waits, blank = embed.description.split("\n")
    assert bar == "▱" * voice.PROGRESS_CELLS + " 0/3" and blank == ""
    assert waits == f"⏳ You're {words} in line. {voice.ALBUM_WAITS}"


def test_album_progress_without_a_place_shows_the_tracks_done() -> None:
    album = _album()
    song = SongRecord(key="k", title="Some Artist - Single", url="https://youtu.be/abc", rating=_rating(),
                      seconds=200.0, truncated=False, picture=b"")
    video = "Single (Official Audio)", "https://youtu.be/abc"
    done = [TrackResult(1, album.tracks[1], song, *video, None, cached=False)]
    embed = embeds.album_progress_embed(album, done, None)
    assert "in line" not in embed.description
    assert embed.description.split("\n") == [
        "▰▰▰▰▱▱▱▱▱▱▱▱ 1/3", "", "` 7` 2. Single · [Single \\(Official Audio\\)](https://youtu.be/abc)"
    ]


# --- outside text -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_the_checker_sees_live_markdown(hostile: Hostile) -> None:
    import discord

    if "@everyone" not in hostile.name:  # plain text: nothing to escape, only mentions (off everywhere)
        with pytest.raises(AssertionError):
            assert_shown(f"**7/10**\n{hostile.name}", hostile)
    if "(feat. [x]" in hostile.name:  # escape_markdown escapes only the first "[": the second link lives
        with pytest.raises(AssertionError, match="a live link"):
            assert_shown(f"**7/10**\n{discord.utils.escape_markdown(hostile.name)}", hostile)
    assert_shown(f"**7/10**\n{embeds.shown(hostile.name)}", hostile)


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_outside_text_reads_as_written_in_every_embed(hostile: Hostile) -> None:
    name = hostile.name
    assert_shown(embed_text(_embed(title=name).to_dict()), hostile)
    row = HistoryRow(name, 7, "https://www.youtube.com/watch?v=x", WHEN)
    assert_shown(embed_text(history_embed([row], name).to_dict()), hostile)
    assert_shown(embed_text(top_embed([row], name).to_dict()), hostile)
    assert_shown(embed_text(history_embed([dataclasses.replace(row, url=None)], "me").to_dict()), hostile)

    tracks = tuple(StoredTrack(f"{name} {n}", 1, n, 200.0) for n in (1, 2, 3))
    album = AlbumRecord("musicbrainz:x", name, name, 2020, None, "musicbrainz", tracks, "")
    song = SongRecord("k", name, "https://youtu.be/abc", _rating(), 200.0, False, b"")
    results = (TrackResult(0, tracks[0], song, name, "https://youtu.be/abc", None, cached=False),
               TrackResult(1, tracks[1], dataclasses.replace(song, rating=_rating(3, 3.0)), name,
                           "https://youtu.be/abd", None, cached=False),
               TrackResult(2, tracks[2], None, name, None, f"Something about {name}", cached=False))
    progress = embed_text(embeds.album_progress_embed(album, results, 2).to_dict())
    for number in (1, 3):
        assert_shown(progress, Hostile(f"{name} {number}", f"{hostile.reads_as} {number}"))
    review = FantanoReview(name, name, 2020, 6, (f"{name} 1", name), name)
    rated = RatedAlbum(album, results, 6, 6.0, (0,), 1, True, False, tuple(THRESHOLDS), review)
    text = embed_text(embeds.album_embed(rated).to_dict())
    assert_shown(text, hostile)
    assert_shown(text, Hostile(f"{name} 1", f"{hostile.reads_as} 1"), upper=True)  # FAV TRACKS
    assert_shown(text, Hostile(f"{name} 2", f"{hostile.reads_as} 2"), upper=True)  # LEAST FAV TRACK
    assert_shown(text, hostile, upper=True)  # Fantano's own picks
    assert "FAV TRACKS: " in text and "LEAST FAV TRACK: " in text
    review_of_song = embeds.rating_embed(song, cached=False, picture=None, review=review)
    assert_shown(embed_text(review_of_song.to_dict()), hostile)
    assert len(review_of_song) <= embeds.TOTAL_LIMIT
