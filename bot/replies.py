"""What the bot says: verdict words, quips, and the Discord embeds for ratings, errors and lists.

Verdicts follow theneedledrop's register. The integer score comes from the model's calibration, which
cuts the expected score into ten bands at nine thresholds (``card["calibration"]["thresholds"]``); where
the expected score sits inside its band picks the qualifier:

=========  ====================  ====================  ====================
score      lower third of band   middle third          upper third
=========  ====================  ====================  ====================
1          NOT GOOD              NOT GOOD              NOT GOOD
2 .. 9     light N               decent N              strong N
10         CLASSIC               CLASSIC               CLASSIC
=========  ====================  ====================  ====================

Without the thresholds (or for a band of zero width) the qualifier is dropped and the verdict is just
the number. Quips pair an opener that fits the score band with a sign-off in the spirit of "Y'all know
this is just my opinion, right?", both picked from sha256 of a song key, so a song always gets the same
line and different songs usually get different ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord

from bot.progress import place_text
from bot.store import AlbumRecord, HistoryRow, SongRecord
from model.scorer import GENRE_MIN_SHARE, Rating, genre_display_name

if TYPE_CHECKING:
    from bot.album import RatedAlbum, TrackResult
    from sources.fantano import FantanoReview

# Discord's embed limits (characters).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_LIMIT = 6000
URL_LIMIT = 2048  # a bad embed url makes Discord reject the whole message, so pass only sane http(s) ones
LIST_TITLE_CHARS = 80  # per row of /history and /top

ERROR_COLOUR = discord.Colour(0xED4245)
LIST_COLOUR = discord.Colour(0x5865F2)
BAND_COLOURS: tuple[tuple[int, discord.Colour], ...] = (  # (highest score in band, colour)
    (3, discord.Colour(0xED4245)),  # red
    (5, discord.Colour(0xE67E22)),  # orange
    (7, discord.Colour(0xFEE75C)),  # yellow, like the flannel
    (9, discord.Colour(0x57F287)),  # green
    (10, discord.Colour(0xF0B232)),  # gold: CLASSIC
)

OPENERS: dict[str, tuple[str, ...]] = {
    "low": (
        "This one did not grab me. At all.",
        "I tried, I really tried, and the sounds just kept happening.",
        "Not much in the way of hooks, not much in the way of ideas, lots in the way of time passing.",
        "The mix is a swamp and nobody brought boots.",
        "It's not offensive, it's just... there. For a while.",
        "There might be a good song buried in here. I couldn't find the shovel.",
        "Some of these sounds were definitely choices.",
        "I respect the ambition way more than the execution.",
        "My ears would like to file a formal complaint.",
        "This is the kind of track that makes the skip button feel heroic.",
        "I'm not mad, I'm just disappointed.",
        "Flat, foggy, and somehow both too long and not enough.",
    ),
    "mid": (
        "Some cool moments, some moments where I checked how much was left.",
        "It's fine. It's fine! It's... fine.",
        "Feels like a transition record: one foot in the old sound, one foot somewhere new.",
        "Decent ideas, pretty safe execution.",
        "The production is clean; the songwriting could use a little dirt under its fingernails.",
        "A couple of hooks land, a couple miss the boat entirely.",
        "I can see who this is for, and that's cool, even if it's not fully me.",
        "Not bad, not great, very listenable while doing the dishes.",
        "There's a better track hiding in here, trying to get out.",
        "Pleasant, polished, and a little too comfortable.",
        "A few more risks and we'd be talking about a whole different score.",
        "Lukewarm, but the kind of lukewarm you can still sip.",
    ),
    "high": (
        "Now THIS is what I'm talking about.",
        "The grooves are tight, the textures are lush, and it knows exactly what it wants to be.",
        "Really solid stuff: the kind of track I'll actually come back to.",
        "Great layering, great dynamics, great energy. Great, great, great.",
        "Some small nitpicks, but overall? This slaps.",
        "The hooks on this are infectious in the best possible way.",
        "Creative, confident, and it doesn't overstay its welcome.",
        "Loads of personality on this one, and the production backs it up.",
        "I was nodding along before I even realized it.",
        "This one rewards a second listen. And a third.",
        "Not perfect, but it's swinging for the fences and mostly connecting.",
        "Tasteful, punchy, and just weird enough.",
    ),
    "top": (
        "Okay, I'm kind of blown away here.",
        "This is a genuinely transcendent listening experience.",
        "Every sound on here feels intentional, and every moment earns its place.",
        "Bold, fresh, and incredibly well put together.",
        "I'd be lying if I said I didn't get chills.",
        "The kind of track that reminds me why I do this.",
        "Moments like this are why I keep pressing play on new music.",
        "Masterful production, killer dynamics, and not a wasted second.",
        "I'm going to be thinking about this one for a while.",
        "Forget the nitpicks; this is special.",
        "An absolute feast for the ears.",
        "Instant favourite territory, right here.",
    ),
}
SIGN_OFFS: tuple[str, ...] = (
    "Y'all know this is just my opinion, right?",
    "But hey, that's just my opinion.",
    "Love it? Hate it? Why? It's just my opinion, y'all.",
    "Take it or leave it: it's just my opinion.",
    "Agree? Disagree? It's only my opinion, y'all.",
    "As always, this is just my opinion, right?",
    "Your ears may vary. Just my opinion.",
    "Forever and always, just my opinion.",
)


def verdict(score: int, expected: float | None = None, thresholds: Sequence[float] | None = None) -> str:
    """The verdict words for a score, e.g. "strong 7", "NOT GOOD", "CLASSIC" (see the module table).

    Parameters
    ----------
    score : int
        Calibrated score 1..10.
    expected : float, optional
        The model's expected score (0..10) before calibration.
    thresholds : Sequence[float], optional
        The nine calibration thresholds t_1..t_9; score s covers expected in [t_(s-1), t_s).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        ``score`` is outside 1..10, or there are not nine thresholds.
    """
    if not 1 <= score <= 10:
        raise ValueError(f"score must be 1..10, got {score}")
    if score == 1:
        return "NOT GOOD"
    if score == 10:
        return "CLASSIC"
    position = _band_position(score, expected, thresholds)
    if position is None:
        return str(score)
    qualifier = "light" if position < 1 / 3 else "strong" if position >= 2 / 3 else "decent"
    return f"{qualifier} {score}"


def _band_position(score: int, expected: float | None, thresholds: Sequence[float] | None) -> float | None:
    """Where `expected` sits in score's band, 0 (bottom) .. 1 (top); None when unknown."""
    if expected is None or thresholds is None:
        return None
    if len(thresholds) != 9:
        raise ValueError(f"expected 9 calibration thresholds, got {len(thresholds)}")
    low, high = float(thresholds[score - 2]), float(thresholds[score - 1])
    if high <= low:
        return None
    # A cached rating may predate the current thresholds, so clamp rather than trust it lies inside.
    return min(max((expected - low) / (high - low), 0.0), 1.0)


def quip(key: str, score: int) -> str:
    """A deterministic quip: an opener that fits the score band plus an "it's my opinion" sign-off.

    Parameters
    ----------
    key : str
        Anything stable per song (content hash, video id); the same key always gets the same quip.
    score : int
        Calibrated score 1..10, which picks the band of openers.

    Returns
    -------
    str
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    openers = OPENERS[_band(score)]
    opener = openers[int.from_bytes(digest[:8], "big") % len(openers)]
    sign_off = SIGN_OFFS[int.from_bytes(digest[8:16], "big") % len(SIGN_OFFS)]
    return f"{opener} {sign_off}"


def _band(score: int) -> str:
    if score <= 3:
        return "low"
    if score <= 6:
        return "mid"
    return "high" if score <= 8 else "top"


def score_colour(score: int) -> discord.Colour:
    """The embed colour for a score: red, orange, yellow, green, gold.

    Parameters
    ----------
    score : int
        Calibrated score 1..10.

    Returns
    -------
    discord.Colour
    """
    return next(colour for top, colour in BAND_COLOURS if score <= top)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut.

    Parameters
    ----------
    text : str
    limit : int
        Maximum length in characters (Discord counts characters, not bytes).

    Returns
    -------
    str
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rating_embed(
    song: SongRecord,
    *,
    cached: bool,
    picture: str | None,
    thresholds: Sequence[float] | None = None,
    review: FantanoReview | None = None,
) -> discord.Embed:
    """The reply to /rate.

    Parameters
    ----------
    song : SongRecord
        The rated song: its title, link (http/https only; anything else is left out), rating, key (which
        picks the quip) and the seconds analysed.
    cached : bool
        The rating came from the cache (said in the footer).
    picture : str, optional
        File name of the attached rating picture, shown as the embed image.
    thresholds : Sequence[float], optional
        The model card's nine calibration thresholds; without them the verdict has no light/decent/strong.
    review : FantanoReview, optional
        Fantano's own review of the album the song is from, shown beside ours.

    Returns
    -------
    discord.Embed
        Within Discord's embed limits whatever the title and genres.
    """
    rating = song.rating
    words = verdict(rating.score, rating.expected, thresholds)
    line = f"**{words}**." if words in ("NOT GOOD", "CLASSIC") else f"I'm feeling a **{words}**."
    description = f"# {rating.score}/10\n{line}\n\n{quip(song.key, rating.score)}"
    if basis := evidence_text(rating):
        description += f"\n\n*{basis}*"
    embed = discord.Embed(
        title=clip(" ".join(song.title.split()) or "Untitled", TITLE_LIMIT),
        url=_safe_url(song.url),
        description=clip(description, DESCRIPTION_LIMIT),
        colour=score_colour(rating.score),
    )
    if rating.genres:
        embed.add_field(
            name="Sounds like", value=clip(_genres_text(rating), FIELD_VALUE_LIMIT), inline=False
        )
    if heard := _heard_text(rating):
        embed.add_field(name="I hear", value=clip(heard, FIELD_VALUE_LIMIT), inline=False)
    if review is not None:
        _add_review(embed, review, album=True)
    embed.set_footer(text=clip(_footer_text(song.seconds, song.truncated, cached), FOOTER_LIMIT))
    if picture:
        embed.set_image(url=f"attachment://{picture}")
    return embed


# model.taste.strength -> what the reply says about the evidence; "strong" and "some" need no excuse.
EVIDENCE_WORDS = {
    "little": "I've got little to go on here: just the sound, so I'm staying near my usual scores.",
    "review": "Melon reviewed this album, so his score anchors mine.",
}


def evidence_text(rating: Rating) -> str | None:
    """What the rating rests on, in words, when the reader should know (little evidence, his own review).

    Parameters
    ----------
    rating : Rating
        Its ``evidence`` (model.taste.strength); "" for ratings older than the taste model.

    Returns
    -------
    str or None
        One sentence, or None when there is nothing to say.
    """
    return EVIDENCE_WORDS.get(rating.evidence)


def _add_review(embed: discord.Embed, review: FantanoReview, *, album: bool) -> None:
    """Fantano's own score and picks as a field; ``album`` names the album (a song's reply needs it)."""
    title = f" for *{discord.utils.escape_markdown(review.album)}*" if album else ""
    value = f"**{review.score}/10**{title}\n" + fantano_picks(review.favourites, review.least_favourite)
    embed.add_field(name="Fantano's actual review", value=clip(value, FIELD_VALUE_LIMIT), inline=False)


def _safe_url(url: str | None) -> str | None:
    if url and url.startswith(("https://", "http://")) and len(url) <= URL_LIMIT and " " not in url:
        return url
    return None


def _genres_text(rating: Rating) -> str:
    """The genres heard, e.g. "**hip hop** to me (62%), a genre Melon averages 6.0 on" and the runners-up.

    The average is Fantano's mean score for the top genre; it is said only when it lies within a point
    of the score (not "averages 6.2" beside a 5), so the words never argue with the number (the taste
    model's score rests on more than the genre). Ratings cached before genre means were kept say only the
    genre.
    """
    (top, top_p), *rest = rating.genres
    text = f"**{_genre_name(top)}** to me ({top_p:.0%})"
    if rating.genre_means and abs(rating.genre_means[0] - rating.score) < 1:
        text += f", a genre Melon averages {rating.genre_means[0]:.1f} on"
    others = [f"{_genre_name(label)} ({p:.0%})" for label, p in rest if p >= GENRE_MIN_SHARE]
    if others:
        text += "\nwith a bit of " + ", ".join(others)
    return text


def _genre_name(label: str) -> str:
    return discord.utils.escape_markdown(genre_display_name(label))


HEARD_TAGS = 3  # the reply names at most this many heard tags (model.tagger), each at least HEARD_MIN_P
HEARD_MIN_P = 0.1  # musicnn's MSD tags rarely pass 0.5; 0.1 keeps what it clearly hears (BENCHMARKS.md)


def _heard_text(rating: Rating) -> str:
    """The tagger's top tags, e.g. "rock, guitar, male vocalists"; "" when none is heard clearly."""
    # Tag names come from the bundled card, outside text all the same: escaped with what exists today
    # (discord.utils.escape_markdown) until the shared escaping helper lands.
    return ", ".join(discord.utils.escape_markdown(tag.lower())
                     for tag, p in rating.tags[:HEARD_TAGS] if p >= HEARD_MIN_P)  # fmt: skip


def _footer_text(seconds: float, truncated: bool, cached: bool) -> str:
    analysed = _duration(seconds)
    parts = [f"analysed the first {analysed} only" if truncated else f"analysed {analysed}"]
    if cached:
        parts.append("from the cache")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    """ "42 s", "3 min 25 s", "15 min"."""
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    if minutes == 0:
        return f"{secs} s"
    return f"{minutes} min" if secs == 0 else f"{minutes} min {secs} s"


def error_embed(message: str, *, title: str = "Hmm, that didn't work") -> discord.Embed:
    """A short red embed for a user-facing error.

    Parameters
    ----------
    message : str
        What went wrong and what the user can do.
    title : str
        The default fits every command's errors (cooldowns, permissions too); pass e.g.
        ``"I couldn't rate that"`` where the failure is a rating's.

    Returns
    -------
    discord.Embed
        Within Discord's limits however long ``message`` is.
    """
    return discord.Embed(
        title=clip(title, TITLE_LIMIT),
        description=clip(message, DESCRIPTION_LIMIT),
        colour=ERROR_COLOUR,
    )


def history_embed(rows: Iterable[HistoryRow], user_name: str) -> discord.Embed:
    """A user's latest ratings, as /history shows them (only to that user).

    Parameters
    ----------
    rows : Iterable[HistoryRow]
        Newest first, as `Store.history` returns them.
    user_name : str
        The user's display name, for the title.

    Returns
    -------
    discord.Embed
        Numbered rows with links and relative times; a friendly line when there are none.
    """
    empty = "Nothing here yet. Rate something with `/rate`: attach an audio file or paste a YouTube link."
    return _list_embed(rows, title=f"{user_name}'s latest ratings", empty=empty)


def top_embed(rows: Iterable[HistoryRow], guild_name: str) -> discord.Embed:
    """A server's best-rated songs, as /top shows them.

    Parameters
    ----------
    rows : Iterable[HistoryRow]
        Best first, as `Store.top` returns them.
    guild_name : str
        The server's name, for the title.

    Returns
    -------
    discord.Embed
        Numbered rows with links and relative times; a friendly line when there are none.
    """
    empty = "Nobody here has rated anything yet. Be the first with `/rate`!"
    return _list_embed(rows, title=f"Top rated in {guild_name}", empty=empty)


def _list_embed(rows: Iterable[HistoryRow], *, title: str, empty: str) -> discord.Embed:
    lines = [_list_line(i, row) for i, row in enumerate(rows, start=1)]
    embed = discord.Embed(title=clip(title, TITLE_LIMIT), colour=LIST_COLOUR)
    embed.description = _join_within(lines, DESCRIPTION_LIMIT) if lines else empty
    return embed


def _list_line(number: int, row: HistoryRow) -> str:
    return f"{number}. **{row.score}/10** {_linked(row.title, row.url)} · {_timestamp(row.rated_at)}"


def _linked(title: str, url: str | None) -> str:
    """``title`` (one line, clipped, markdown-escaped) as a markdown link to ``url`` when it is a sane one."""
    title = clip(" ".join(title.split()) or "Untitled", LIST_TITLE_CHARS)
    # escape_markdown only escapes "[" where it looks like a link; inside link text either bracket breaks it.
    text = discord.utils.escape_markdown(title).replace("\\[", "[").replace("[", "\\[").replace("]", "\\]")
    url = _safe_url(url)
    return f"[{text}]({url.replace('(', '%28').replace(')', '%29')})" if url else text


def _timestamp(when: datetime) -> str:
    # The store keeps UTC; a naive value would otherwise be read as the host's local time.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return discord.utils.format_dt(when, "R")


def _join_within(lines: Sequence[str], limit: int) -> str:
    """Lines joined by newlines, dropping the tail (with a note) so the text fits in `limit`."""
    budget = limit - len("\n…and 99999 more")
    kept: list[str] = []
    used = 0
    for line in lines:
        used += len(line) + 1
        if used > budget:
            kept.append(f"…and {len(lines) - len(kept)} more")
            break
        kept.append(line)
    return "\n".join(kept)


def rating_text(song: SongRecord, *, cached: bool, thresholds: Sequence[float] | None = None) -> str:
    """The verdict as plain text, for the ``needlebot rate`` CLI: the same words as the embed.

    Parameters
    ----------
    song : SongRecord
        The rated song.
    cached : bool
        The rating came from the cache.
    thresholds : Sequence[float], optional
        The model card's nine calibration thresholds; without them the verdict has no light/decent/strong.

    Returns
    -------
    str
        Title, score and verdict, quip, genres (if any) and the footer, one per line.
    """
    rating = song.rating
    lines = [
        f"{song.title}: {rating.score}/10, {verdict(rating.score, rating.expected, thresholds)}",
        quip(song.key, rating.score),
        *filter(None, [evidence_text(rating)]),
    ]
    if rating.genres:
        lines.append(f"Sounds like: {_genres_text(rating)}")
    if heard := _heard_text(rating):
        lines.append(f"I hear: {heard}")
    lines.append(_footer_text(song.seconds, song.truncated, cached))
    return "\n".join(lines)


def rating_json(
    song: SongRecord, *, cached: bool, thresholds: Sequence[float] | None = None
) -> dict[str, Any]:
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
        "verdict": verdict(rating.score, rating.expected, thresholds),
        "quip": quip(song.key, rating.score),
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


PROGRESS_CELLS = 12
ALBUM_WAITS = "My workers are busy with other people's songs; yours start when one is free."
TRACK_TITLE_CHARS = 60
VIDEO_TITLE_CHARS = 40
REASON_CHARS = 90


def progress_bar(done: int, total: int) -> str:
    """``▰▰▰▱▱▱… 3/12``: ``PROGRESS_CELLS`` cells filled in proportion to ``done`` of ``total``.

    Parameters
    ----------
    done : int
        Items finished.
    total : int
        Items in all; 0 shows a full bar.

    Returns
    -------
    str
        The bar and the ``done/total`` count.
    """
    filled = round(PROGRESS_CELLS * done / total) if total else PROGRESS_CELLS
    return "▰" * filled + "▱" * (PROGRESS_CELLS - filled) + f" {done}/{total}"


def fantano_picks(favourites: Sequence[str], least: str | None) -> str:
    """Picks written the way Fantano writes them: ``FAV TRACKS: A, B`` / ``LEAST FAV TRACK: C``.

    Parameters
    ----------
    favourites : Sequence[str]
        Favourite track titles, in Fantano's order.
    least : str or None
        Least favourite track title, if any.

    Returns
    -------
    str
        Up to two lines in upper case; empty when there are no picks.
    """
    lines = []
    if favourites:
        lines.append("FAV TRACKS: " + ", ".join(" ".join(t.split()).upper() for t in favourites))
    if least:
        lines.append("LEAST FAV TRACK: " + " ".join(least.split()).upper())
    return "\n".join(lines)


def album_progress_embed(album: AlbumRecord, done: Sequence[TrackResult], place: int | None) -> discord.Embed:
    """The reply to /album while it runs: a progress bar, the album's place in line, the tracks done so far.

    Parameters
    ----------
    album : AlbumRecord
        The album being rated.
    done : Sequence[TrackResult]
        Tracks finished so far, in any order.
    place : int or None
        The album's place in line (1-based) while other users' songs hold every worker; None otherwise.

    Returns
    -------
    discord.Embed
        The progress embed, within Discord's size limits.
    """
    lines = [progress_bar(len(done), len(album.tracks))]
    if place is not None:
        lines.append(f"{place_text(place)} {ALBUM_WAITS}")
    lines += ["", *_track_lines(album, sorted(done, key=lambda r: r.number))]
    embed = discord.Embed(
        title=clip(f"Listening to {album.artist} - {album.title}…", TITLE_LIMIT),
        description=_join_within(lines, DESCRIPTION_LIMIT),
        colour=LIST_COLOUR,
    )
    if url := _safe_url(album.cover_url):
        embed.set_thumbnail(url=url)
    return embed


def album_embed(rated: RatedAlbum, thresholds: Sequence[float] | None = None) -> discord.Embed:
    """The final reply to /album: score, picks, quip, the per-track table, the art, Fantano's own review.

    ``thresholds`` are the model's album thresholds, for the verdict's light/decent/strong.

    Parameters
    ----------
    rated : RatedAlbum
        The album with every track's result, its score and picks.
    thresholds : Sequence[float], optional
        Nine album thresholds on expected score (0..10); None drops the light/decent/strong qualifier.

    Returns
    -------
    discord.Embed
        The verdict embed, within Discord's size limits.
    """
    album = rated.album
    head = _album_head(rated, thresholds)
    embed = discord.Embed(
        title=clip(_album_title(album), TITLE_LIMIT),
        description=_join_within([*head, "", *_track_lines(album, rated.results)], DESCRIPTION_LIMIT),
        colour=score_colour(rated.score) if rated.score is not None else LIST_COLOUR,
    )
    if url := _safe_url(album.cover_url):
        embed.set_thumbnail(url=url)
    if rated.fantano is not None:
        _add_review(embed, rated.fantano, album=False)
    embed.set_footer(text=clip(_album_footer(rated), FOOTER_LIMIT))
    return embed


def album_text(rated: RatedAlbum, thresholds: Sequence[float] | None = None) -> str:
    """The album verdict as plain text, for ``needlebot album``: the same words as the embed.

    Parameters
    ----------
    rated : RatedAlbum
        The album with every track's result, its score and picks.
    thresholds : Sequence[float], optional
        Nine album thresholds on expected score (0..10), as for :func:`album_embed`.

    Returns
    -------
    str
        Lines: title, verdict, one line per track (score and video, or the error), review, footer.
    """
    lines = [_album_title(rated.album), *_album_head(rated, thresholds), ""]
    for result in rated.results:
        mark = f"{result.song.rating.score:>2}" if result.song is not None else "--"
        what = result.video_url if result.song is not None else result.error
        lines.append(f"{mark}  {_track_number(rated.album, result)}. {result.track.title}  ({what})")
    if rated.fantano is not None:
        review = rated.fantano
        lines += ["", f"Fantano's actual review: {review.score}/10"]
        lines += fantano_picks(review.favourites, review.least_favourite).splitlines()
    lines += ["", _album_footer(rated)]
    return "\n".join(lines)


def album_json(rated: RatedAlbum, thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """The album verdict as JSON-safe data, for ``needlebot album --json``.

    Parameters
    ----------
    rated : RatedAlbum
        The album with every track's result, its score and picks.
    thresholds : Sequence[float], optional
        Nine album thresholds on expected score (0..10), as for :func:`album_embed`.

    Returns
    -------
    dict[str, Any]
        Album fields, score (1..10 or None), expected (0..10), verdict, picks, one dict per track and
        Fantano's review.
    """
    album = rated.album
    review = rated.fantano
    return {
        "artist": album.artist,
        "album": album.title,
        "year": album.year,
        "release_id": album.release_id,
        "tracklist_source": album.source,
        "cover_url": album.cover_url,
        "score": rated.score,
        "expected": rated.expected,
        "verdict": None if rated.score is None else verdict(rated.score, rated.expected, thresholds),
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


def _album_title(album: AlbumRecord) -> str:
    year = f" ({album.year})" if album.year else ""
    return " ".join(f"{album.artist} - {album.title}{year}".split())


def _album_head(rated: RatedAlbum, thresholds: Sequence[float] | None) -> list[str]:
    """Score, verdict, picks and quip; or why there is no score."""
    lines = []
    if not rated.complete:
        lines.append(
            f"⏱ Time ran out after {rated.tried} of {len(rated.results)} tracks."
            " Ask again and I'll pick up where I stopped."
        )
    if rated.score is None:
        lines += [
            "# No score",
            f"I could only rate {len(rated.rated)} of {len(rated.results)} tracks; I need at least half.",
        ]
        return lines
    words = verdict(rated.score, rated.expected, thresholds)
    line = f"**{words}**." if words in ("NOT GOOD", "CLASSIC") else f"I'm feeling a **{words}** on this one."
    favourites = [rated.results[i].track.title for i in rated.favourites]
    least = None if rated.least is None else rated.results[rated.least].track.title
    lines += [f"# {rated.score}/10", line, fantano_picks(favourites, least)]
    lines += ["", quip(rated.album.release_id, rated.score)]
    return lines


def _track_lines(album: AlbumRecord, results: Iterable[TrackResult]) -> list[str]:
    lines = []
    for result in results:
        title = discord.utils.escape_markdown(clip(" ".join(result.track.title.split()), TRACK_TITLE_CHARS))
        number = _track_number(album, result)
        if result.song is not None:
            video = _linked(clip(result.video_title or "video", VIDEO_TITLE_CHARS), result.video_url)
            lines.append(f"`{result.song.rating.score:>2}` {number}. {title} · {video}")
        else:
            reason = discord.utils.escape_markdown(clip(result.error or "failed", REASON_CHARS))
            lines.append(f"`--` {number}. ~~{title}~~ · {reason}")
    return lines


def _track_number(album: AlbumRecord, result: TrackResult) -> str:
    multi_disc = any(t.disc != album.tracks[0].disc for t in album.tracks)
    return f"{result.track.disc}-{result.track.position}" if multi_disc else str(result.track.position)


def _album_footer(rated: RatedAlbum) -> str:
    parts = [f"{len(rated.rated)} of {len(rated.results)} tracks rated"]
    parts.append(f"tracklist from {rated.album.source}")
    if rated.cached:
        parts.append("from the cache")
    footer = " · ".join(parts)
    return f"{footer}\n{rated.album.note}" if rated.album.note else footer
