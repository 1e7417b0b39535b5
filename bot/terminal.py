"""What the command line prints: plain text (no Discord markdown in a terminal) and JSON.

The words are the bot's own (``bot.voice``); names are printed as they are, on one line each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import voice
from bot.store import SongRecord
from sources.text import one_line

if TYPE_CHECKING:
    from bot.album import RatedAlbum


def rating_text(song: SongRecord, *, cached: bool, thresholds: Sequence[float] = ()) -> str:
    """The verdict as plain text, for ``needlebot rate``: the same words as the embed.

    Parameters
    ----------
    song : SongRecord
        The rated song.
    cached : bool
        The rating came from the cache.
    thresholds : tuple[float, ...]
        The nine calibration thresholds it was scored with; without them the verdict has no
        light/decent/strong.

    Returns
    -------
    str
        Title, score and verdict, quip, genres (if any) and the footer, one per line.
    """
    rating = song.rating
    words = voice.verdict(rating.score, rating.expected, thresholds)
    lines = [
        f"{one_line(song.title)}: {rating.score}/10, {words}",
        voice.quip(song.key, rating.score),
        *filter(None, [voice.evidence_text(rating)]),
    ]
    if rating.genres:
        lines.append(f"Sounds like: {voice.genres_text(rating)}")
    if heard := voice.heard_tags(rating):
        lines.append(f"I hear: {', '.join(heard)}")
    lines.append(voice.footer_text(song.seconds, song.truncated, cached))
    return "\n".join(lines)


def rating_json(song: SongRecord, *, cached: bool, thresholds: Sequence[float] = ()) -> dict[str, Any]:
    """The verdict as JSON-safe data, for ``needlebot rate --json``.

    Parameters
    ----------
    song, cached, thresholds
        As for `rating_text`.

    Returns
    -------
    dict[str, Any]
        Title, key, url, artist and album (None when unknown), the rating's fields (``tags`` among them),
        verdict, quip, seconds, truncated, cached, and the sections
        (start and end in seconds of the file, score, top genre).
    """
    rating = song.rating
    return {
        "title": song.title,
        "key": song.key,
        "url": song.url,
        "artist": song.artist,
        "album": song.album,
        **rating.to_dict(),
        "verdict": voice.verdict(rating.score, rating.expected, thresholds),
        "quip": voice.quip(song.key, rating.score),
        "seconds": song.seconds,
        "truncated": song.truncated,
        "cached": cached,
        "sections": [
            {
                "start": section.start_s,
                "end": section.end_s,
                "score": section.rating.score,
                "genre": section.rating.genres[0][0] if section.rating.genres else None,
            }
            for section in song.sections
        ],
    }


def album_text(rated: RatedAlbum) -> str:
    """The album verdict as plain text, for ``needlebot album``: the same words as the embed.

    Parameters
    ----------
    rated : RatedAlbum
        What ``bot.embeds.album_embed`` shows on Discord.

    Returns
    -------
    str
        Lines: title, verdict, one line per track (score and video, or the error), review, footer.
    """
    lines = [voice.album_title(rated.album), *filter(None, [voice.out_of_time(rated)])]
    lines.append("No score" if rated.score is None else f"{rated.score}/10")
    lines += voice.album_verdict(rated)
    if rated.score is not None:
        lines += ["", voice.quip(rated.album.release_id, rated.score)]
    lines.append("")
    for result in rated.results:
        mark = f"{result.song.rating.score:>2}" if result.song is not None else "--"
        what = result.video_url if result.song is not None else result.error
        number = voice.track_number(rated.album, result)
        lines.append(f"{mark}  {number}. {one_line(result.track.title)}  ({what})")
    if rated.fantano is not None:
        review = rated.fantano
        lines += ["", f"Fantano's actual review: {review.score}/10"]
        lines += voice.fantano_picks(review.favourites, review.least_favourite).splitlines()
    lines += ["", voice.album_footer(rated)]
    return "\n".join(lines)


def album_json(rated: RatedAlbum) -> dict[str, Any]:
    """The album verdict as JSON-safe data, for ``needlebot album --json``.

    Parameters
    ----------
    rated : RatedAlbum
        As for `album_text`.

    Returns
    -------
    dict[str, Any]
        Album fields, score (1..10 or None), expected (0..10), verdict, picks, one dict per track and
        Fantano's review.
    """
    album = rated.album
    review = rated.fantano
    words = None if rated.score is None else voice.verdict(rated.score, rated.expected, rated.thresholds)
    return {
        "artist": album.artist,
        "album": album.title,
        "year": album.year,
        "release_id": album.release_id,
        "tracklist_source": album.source,
        "cover_url": album.cover_url,
        "score": rated.score,
        "expected": rated.expected,
        "verdict": words,
        "favourites": [rated.results[i].track.title for i in rated.favourites],
        "least_favourite": None if rated.least is None else rated.results[rated.least].track.title,
        "tracks": [
            {
                "title": r.track.title,
                "disc": r.track.disc,
                "position": r.track.position,
                "video_title": r.video_title,
                "video_url": r.video_url,
                "score": None if r.song is None else r.song.rating.score,
                "expected": None if r.song is None else r.song.rating.expected,
                "error": r.error,
                "cached": r.cached,
            }
            for r in rated.results
        ],
        "complete": rated.complete,
        "cached": rated.cached,
        "note": album.note,
        "fantano": None if review is None else {
            "score": review.score,
            "favourites": list(review.favourites),
            "least_favourite": review.least_favourite,
        },
    }
