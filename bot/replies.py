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

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import discord

from bot.store import HistoryRow, SongRecord
from model.scorer import GENRE_MIN_SHARE, Rating, genre_display_name

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
    song: SongRecord, *, cached: bool, picture: str | None, thresholds: Sequence[float] | None = None
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

    Returns
    -------
    discord.Embed
        Within Discord's embed limits whatever the title and genres.
    """
    rating = song.rating
    words = verdict(rating.score, rating.expected, thresholds)
    line = f"**{words}**." if words in ("NOT GOOD", "CLASSIC") else f"I'm feeling a **{words}**."
    description = f"# {rating.score}/10\n{line}\n\n{quip(song.key, rating.score)}"
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
    embed.set_footer(text=clip(_footer_text(song.seconds, song.truncated, cached), FOOTER_LIMIT))
    if picture:
        embed.set_image(url=f"attachment://{picture}")
    return embed


def _safe_url(url: str | None) -> str | None:
    if url and url.startswith(("https://", "http://")) and len(url) <= URL_LIMIT and " " not in url:
        return url
    return None


def _genres_text(rating: Rating) -> str:
    """The genres heard, e.g. "**hip hop** to me (62%), a genre Melon averages 6.0 on" and the runners-up.

    The average is Fantano's mean score for the top genre (the evidence the score rests on); ratings
    cached before genre means were kept say only the genre.
    """
    (top, top_p), *rest = rating.genres
    text = f"**{_genre_name(top)}** to me ({top_p:.0%})"
    if rating.genre_means:
        text += f", a genre Melon averages {rating.genre_means[0]:.1f} on"
    others = [f"{_genre_name(label)} ({p:.0%})" for label, p in rest if p >= GENRE_MIN_SHARE]
    if others:
        text += "\nwith a bit of " + ", ".join(others)
    return text


def _genre_name(label: str) -> str:
    return discord.utils.escape_markdown(genre_display_name(label))


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
    title = clip(" ".join(row.title.split()) or "Untitled", LIST_TITLE_CHARS)
    # escape_markdown only escapes "[" where it looks like a link; inside link text either bracket breaks it.
    text = discord.utils.escape_markdown(title).replace("\\[", "[").replace("[", "\\[").replace("]", "\\]")
    url = _safe_url(row.url)
    if url:
        text = f"[{text}]({url.replace('(', '%28').replace(')', '%29')})"
    return f"{number}. **{row.score}/10** {text} · {_timestamp(row.rated_at)}"


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
    ]
    if rating.genres:
        lines.append(f"Sounds like: {_genres_text(rating)}")
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
        Title, key, url, the rating's fields, verdict, quip, seconds, truncated, cached, and the sections
        (start and end in seconds of the file, score, top genre).
    """
    rating = song.rating
    return {
        "title": song.title,
        "key": song.key,
        "url": song.url,
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
