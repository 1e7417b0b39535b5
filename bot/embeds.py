"""What Discord shows: the embeds for ratings, albums, errors and lists, Discord's limits, and ``shown``.

Every piece of outside text (MusicBrainz, Genius, YouTube titles and uploaders, file tags and names,
Fantano's table) goes through :func:`shown` before it is put in an embed or a message: anyone can add a
release to MusicBrainz, so a track called ``[click](https://evil.example)`` must read as that text, not
as a link. The words come from ``bot.voice``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot import voice
from bot.store import AlbumRecord, HistoryRow, SongRecord
from sources.text import clip, one_line

if TYPE_CHECKING:
    from bot.album import RatedAlbum, TrackResult
    from sources.fantano import FantanoReview

# Discord's limits: embeds (characters), autocomplete, and edits of one response.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_LIMIT = 6000
URL_LIMIT = 2048  # a bad embed url makes Discord reject the whole message, so pass only sane http(s) ones
CHOICES = 25  # Discord shows at most 25 autocomplete choices
CHOICE_CHARS = 100  # ... each at most 100 characters long
# Seconds an autocomplete may take: it cannot be deferred, and Discord drops an answer after 3 s from
# when the user typed (the gateway's delivery comes out of that too).
CHOICES_SECONDS = 2.0
EDIT_INTERVAL = 1.5  # seconds between two edits of one response: Discord rate-limits webhook edits

# Our own lengths, so one long name cannot crowd out the rest.
LIST_TITLE_CHARS = 80  # per row of /history and /top
TRACK_TITLE_CHARS = 60
VIDEO_TITLE_CHARS = 40
REASON_CHARS = 90

ERROR_COLOUR = discord.Colour(0xED4245)
LIST_COLOUR = discord.Colour(0x5865F2)
BAND_COLOURS: tuple[tuple[int, discord.Colour], ...] = (  # (highest score in band, colour)
    (3, discord.Colour(0xED4245)),  # red
    (5, discord.Colour(0xE67E22)),  # orange
    (7, discord.Colour(0xFEE75C)),  # yellow, like the flannel
    (9, discord.Colour(0x57F287)),  # green
    (10, discord.Colour(0xF0B232)),  # gold: CLASSIC
)

# Characters that mean something to Discord's markdown anywhere in a line: emphasis, code, spoilers,
# quotes, headers, masked links ([text](url)), and <...> (mentions, channels, timestamps, autolinks).
_MARKUP = re.compile(r"[\\*_~`|>#<\[\]()]")
# What means something only at the start of a line: a list item or subtext ("- a", "-# a", "+ a", "1. a");
# escaped as "\-", "\+", "1\.".
_LINE_MARKER = re.compile(r"^(\d*)([-+.])")
# Invisible characters that could split what the reader sees from what Discord parses, or turn a name
# around (bidirectional overrides); the joiners that emoji and some scripts need stay.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062"
                                    "\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"))


def shown(text: str, limit: int | None = None) -> str:
    """Outside text as Discord must show it: one line, read as written, with no markdown of its own.

    Parameters
    ----------
    text : str
        A name from outside (a title, an artist, a file name, a pick, a tag).
    limit : int, optional
        Cut to this many visible characters (before escaping, so the reader sees ``limit`` of them).

    Returns
    -------
    str
        Every markdown character escaped with a backslash (Discord shows ``\\[`` as ``[``), invisible
        and direction-changing characters removed, whitespace runs as one space. The result may be longer
        than ``limit``: clip the whole text it goes into to Discord's limit as well (a cut can only drop
        characters, never unescape one).
    """
    text = one_line(text.translate(_INVISIBLE))
    if limit is not None:
        text = clip(text, limit)
    text = _MARKUP.sub(r"\\\g<0>", text)
    return _LINE_MARKER.sub(r"\1\\\2", text)


def _bold(text: str) -> str:
    return f"**{text}**"


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


def place_text(position: int) -> str:
    """What a waiting user reads in the thinking message: "⏳ You're **3rd** in line.".

    Parameters
    ----------
    position : int
        Place in line, 1-based; 0 when the job is running.

    Returns
    -------
    str
        One line of Discord markdown.
    """
    return voice.place_text(position, bold=_bold)


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
    line = voice.verdict_line(voice.verdict(rating.score, rating.expected, thresholds), bold=_bold)
    description = f"# {rating.score}/10\n{line}\n\n{voice.quip(song.key, rating.score)}"
    if basis := voice.evidence_text(rating):
        description += f"\n\n*{basis}*"
    embed = discord.Embed(
        title=clip(shown(song.title or "Untitled", TITLE_LIMIT) or "Untitled", TITLE_LIMIT),
        url=_safe_url(song.url),
        description=clip(description, DESCRIPTION_LIMIT),
        colour=score_colour(rating.score),
    )
    if rating.genres:
        genres = voice.genres_text(rating, bold=_bold, name=shown)
        embed.add_field(name="Sounds like", value=clip(genres, FIELD_VALUE_LIMIT), inline=False)
    if heard := ", ".join(shown(tag) for tag in voice.heard_tags(rating)):
        embed.add_field(name="I hear", value=clip(heard, FIELD_VALUE_LIMIT), inline=False)
    if review is not None:
        _add_review(embed, review, album=True)
    embed.set_footer(text=clip(voice.footer_text(song.seconds, song.truncated, cached), FOOTER_LIMIT))
    if picture:
        embed.set_image(url=f"attachment://{picture}")
    return embed


def _add_review(embed: discord.Embed, review: FantanoReview, *, album: bool) -> None:
    """Fantano's own score and picks as a field; ``album`` names the album (a song's reply needs it)."""
    title = f" for *{shown(review.album)}*" if album else ""
    picks = voice.fantano_picks(review.favourites, review.least_favourite, name=shown)
    value = f"**{review.score}/10**{title}\n{picks}"
    embed.add_field(name="Fantano's actual review", value=clip(value, FIELD_VALUE_LIMIT), inline=False)


def _safe_url(url: str | None) -> str | None:
    if url and url.startswith(("https://", "http://")) and len(url) <= URL_LIMIT and url.isprintable() \
            and " " not in url:  # fmt: skip
        return url
    return None


def error_embed(message: str, *, title: str = "Hmm, that didn't work") -> discord.Embed:
    """A short red embed for a user-facing error.

    Parameters
    ----------
    message : str
        What went wrong and what the user can do, in plain text as the command line prints it too. It
        often quotes outside text (the album asked for, MusicBrainz's title for it, a video's title), so
        every line of it is shown through :func:`shown`, read as written.
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
        description=clip("\n".join(shown(line) for line in message.splitlines()), DESCRIPTION_LIMIT),
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
    return _list_embed(rows, title=f"{shown(user_name)}'s latest ratings", empty=empty)


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
    return _list_embed(rows, title=f"Top rated in {shown(guild_name)}", empty=empty)


def _list_embed(rows: Iterable[HistoryRow], *, title: str, empty: str) -> discord.Embed:
    lines = [_list_line(i, row) for i, row in enumerate(rows, start=1)]
    embed = discord.Embed(title=clip(title, TITLE_LIMIT), colour=LIST_COLOUR)
    embed.description = _join_within(lines, DESCRIPTION_LIMIT) if lines else empty
    return embed


def _list_line(number: int, row: HistoryRow) -> str:
    title = _linked(row.title, row.url, LIST_TITLE_CHARS)
    return f"{number}. **{row.score}/10** {title} · {_timestamp(row.rated_at)}"


def _linked(title: str, url: str | None, limit: int) -> str:
    """``title`` (shown, at most ``limit`` characters) as a masked link to ``url`` when it is a sane one."""
    text = shown(title or "Untitled", limit) or "Untitled"
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
    lines = [voice.progress_bar(len(done), len(album.tracks))]
    if place is not None:
        lines.append(f"{place_text(place)} {voice.ALBUM_WAITS}")
    lines += ["", *_track_lines(album, sorted(done, key=lambda r: r.number))]
    embed = discord.Embed(
        title=clip(f"Listening to {shown(album.artist)} - {shown(album.title)}…", TITLE_LIMIT),
        description=_join_within(lines, DESCRIPTION_LIMIT),
        colour=LIST_COLOUR,
    )
    if url := _safe_url(album.cover_url):
        embed.set_thumbnail(url=url)
    return embed


def album_embed(rated: RatedAlbum) -> discord.Embed:
    """The final reply to /album: score, picks, quip, the per-track table, the art, Fantano's own review.

    Parameters
    ----------
    rated : RatedAlbum
        The album with every track's result, its score, picks and the thresholds it was scored with.

    Returns
    -------
    discord.Embed
        The verdict embed, within Discord's size limits.
    """
    album = rated.album
    head = list(filter(None, [voice.out_of_time(rated)]))
    head.append("# No score" if rated.score is None else f"# {rated.score}/10")
    head += voice.album_verdict(rated, bold=_bold, name=shown)
    if rated.score is not None:
        head += ["", voice.quip(album.release_id, rated.score)]
    embed = discord.Embed(
        title=clip(voice.album_title(album, name=shown), TITLE_LIMIT),
        description=_join_within([*head, "", *_track_lines(album, rated.results)], DESCRIPTION_LIMIT),
        colour=score_colour(rated.score) if rated.score is not None else LIST_COLOUR,
    )
    if url := _safe_url(album.cover_url):
        embed.set_thumbnail(url=url)
    if rated.fantano is not None:
        _add_review(embed, rated.fantano, album=False)
    embed.set_footer(text=clip(voice.album_footer(rated), FOOTER_LIMIT))
    return embed


def _track_lines(album: AlbumRecord, results: Iterable[TrackResult]) -> list[str]:
    lines = []
    for result in results:
        title = shown(result.track.title, TRACK_TITLE_CHARS)
        number = voice.track_number(album, result)
        if result.song is not None:
            video = _linked(result.video_title or "video", result.video_url, VIDEO_TITLE_CHARS)
            lines.append(f"`{result.song.rating.score:>2}` {number}. {title} · {video}")
        else:
            reason = shown(result.error or "failed", REASON_CHARS)
            lines.append(f"`--` {number}. ~~{title}~~ · {reason}")
    return lines
