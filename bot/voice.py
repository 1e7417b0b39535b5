"""The bot's voice: verdict words, quips, Fantano's picks as he writes them, what a rating rests on.

No Discord here: the embeds (``bot.embeds``) and the command line (``bot.terminal``) both speak with these
words, each in its own markup; outside text (titles, picks) reaches these functions already rendered by the
caller's ``name``.

Verdicts follow theneedledrop's register. The integer score comes from the model's calibration
(``model.calibration``); nine thresholds on the expected score (``card["calibration"]["thresholds"]``)
cut it into ten bands, and where the expected score sits inside the score's band (clamped to it, when the
integer was read off the whole distribution) picks the qualifier:

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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from model.scorer import GENRE_MIN_SHARE, Rating, genre_display_name
from sources.text import one_line

if TYPE_CHECKING:
    from bot.album import RatedAlbum, TrackResult
    from bot.store import AlbumRecord

Markup = Callable[[str], str]
"""How a reader's medium renders a piece of text: bold words, or a name from outside (escaped on Discord)."""


def _plain(text: str) -> str:
    return text


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
    if expected is None or thresholds is None or len(thresholds) == 0:
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


def verdict_line(words: str, *, bold: Markup = _plain, album: bool = False) -> str:
    """The verdict as a sentence: "I'm feeling a strong 7." ("... on this one." for an album), "CLASSIC.".

    Parameters
    ----------
    words : str
        What :func:`verdict` said.
    bold : Markup
        Renders the verdict words in bold (plain by default).
    album : bool
        The verdict is an album's.

    Returns
    -------
    str
    """
    if words in ("NOT GOOD", "CLASSIC"):
        return f"{bold(words)}."
    return f"I'm feeling a {bold(words)}{' on this one' if album else ''}."


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


def fantano_picks(favourites: Sequence[str], least: str | None, *, name: Markup = one_line) -> str:
    """Picks written the way Fantano writes them: ``FAV TRACKS: A, B`` / ``LEAST FAV TRACK: C``.

    Parameters
    ----------
    favourites : Sequence[str]
        Favourite track titles, in Fantano's order.
    least : str or None
        Least favourite track title, if any.
    name : Markup
        Renders one title (outside text); by default on one line as it is.

    Returns
    -------
    str
        Up to two lines in upper case; empty when there are no picks.
    """
    lines = []
    if favourites:
        lines.append("FAV TRACKS: " + ", ".join(name(t.upper()) for t in favourites))
    if least:
        lines.append("LEAST FAV TRACK: " + name(least.upper()))
    return "\n".join(lines)


def genres_text(rating: Rating, *, bold: Markup = _plain, name: Markup = _plain) -> str:
    """The genres heard, e.g. "hip hop to me (62%), a genre Melon averages 6.0 on" and the runners-up.

    The average is Fantano's mean score for the top genre; it is said only when it lies within a point
    of the score (not "averages 6.2" beside a 5), so the words never argue with the number (the taste
    model's score rests on more than the genre). Ratings cached before genre means were kept say only the
    genre.

    Parameters
    ----------
    rating : Rating
        A rating with at least one genre.
    bold : Markup
        Renders the top genre in bold.
    name : Markup
        Renders a genre's name.

    Returns
    -------
    str
        One line, and a second for the runners-up when there are any.
    """
    (top, top_p), *rest = rating.genres
    text = f"{bold(name(genre_display_name(top)))} to me ({top_p:.0%})"
    if rating.genre_means and abs(rating.genre_means[0] - rating.score) < 1:
        text += f", a genre Melon averages {rating.genre_means[0]:.1f} on"
    others = [f"{name(genre_display_name(label))} ({p:.0%})" for label, p in rest if p >= GENRE_MIN_SHARE]
    if others:
        text += "\nwith a bit of " + ", ".join(others)
    return text


HEARD_TAGS = 3  # the reply names at most this many heard tags (model.tagger), each at least HEARD_MIN_P
HEARD_MIN_P = 0.1  # musicnn's MSD tags rarely pass 0.5; 0.1 keeps what it clearly hears (BENCHMARKS.md)


def heard_tags(rating: Rating) -> list[str]:
    """The tagger's top tags in lower case, e.g. ["rock", "guitar"]; none when nothing is heard clearly.

    Parameters
    ----------
    rating : Rating
        Its ``tags``, best first.

    Returns
    -------
    list[str]
    """
    return [tag.lower() for tag, p in rating.tags[:HEARD_TAGS] if p >= HEARD_MIN_P]


def footer_text(seconds: float, truncated: bool, cached: bool) -> str:
    """How much was heard and whether it came from the cache: "analysed 3 min 25 s · from the cache".

    Parameters
    ----------
    seconds : float
        Seconds of audio analysed.
    truncated : bool
        The song was longer and only its start was analysed.
    cached : bool
        The rating came from the cache.

    Returns
    -------
    str
    """
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


def place_text(position: int, *, bold: Markup = _plain) -> str:
    """What a waiting user reads: "⏳ You're 3rd in line." (0: the song's turn has come).

    Parameters
    ----------
    position : int
        Place in line, 1-based; 0 when the job is running.
    bold : Markup
        Renders the place in bold.

    Returns
    -------
    str
        One line.
    """
    if position == 0:
        return "🎧 Your turn: listening now…"
    if position % 100 in (11, 12, 13):
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"⏳ You're {bold(f'{position}{suffix}')} in line."


PROGRESS_CELLS = 12
ALBUM_WAITS = "My workers are busy with other people's songs; yours start when one is free."


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


def album_title(album: AlbumRecord, *, name: Markup = one_line) -> str:
    """"Artist - Title (year)" on one line.

    Parameters
    ----------
    album : AlbumRecord
    name : Markup
        Renders the artist and the title (outside text); by default on one line as they are.

    Returns
    -------
    str
    """
    year = f" ({album.year})" if album.year else ""
    return f"{name(album.artist)} - {name(album.title)}{year}"


def out_of_time(rated: RatedAlbum) -> str | None:
    """What is said when the time budget ran out before every track was tried; None when it did not.

    Parameters
    ----------
    rated : RatedAlbum

    Returns
    -------
    str or None
    """
    if rated.complete:
        return None
    return (
        f"⏱ Time ran out after {rated.tried} of {len(rated.results)} tracks."
        " Ask again and I'll pick up where I stopped."
    )


def album_verdict(rated: RatedAlbum, *, bold: Markup = _plain, name: Markup = one_line) -> list[str]:
    """What is said under an album's score: the verdict line and the picks, or why there is no score.

    Parameters
    ----------
    rated : RatedAlbum
        The album with every track's result, its score, picks and thresholds.
    bold : Markup
        Renders the verdict words in bold.
    name : Markup
        Renders a track's title (outside text).

    Returns
    -------
    list[str]
        Lines.
    """
    if rated.score is None:
        return [f"I could only rate {len(rated.rated)} of {len(rated.results)} tracks; I need at least half."]
    words = verdict(rated.score, rated.expected, rated.thresholds)
    favourites = [rated.results[i].track.title for i in rated.favourites]
    least = None if rated.least is None else rated.results[rated.least].track.title
    return [verdict_line(words, bold=bold, album=True), fantano_picks(favourites, least, name=name)]


def track_number(album: AlbumRecord, result: TrackResult) -> str:
    """The track's number as the reader looks for it: "4", or "2-4" on an album of several discs.

    Parameters
    ----------
    album : AlbumRecord
    result : TrackResult

    Returns
    -------
    str
    """
    multi_disc = any(t.disc != album.tracks[0].disc for t in album.tracks)
    return f"{result.track.disc}-{result.track.position}" if multi_disc else str(result.track.position)


def album_footer(rated: RatedAlbum) -> str:
    """How many tracks were rated, where the tracklist came from, the cache, and the album's note.

    Parameters
    ----------
    rated : RatedAlbum

    Returns
    -------
    str
        One line, and the note on a second when there is one.
    """
    parts = [f"{len(rated.rated)} of {len(rated.results)} tracks rated"]
    parts.append(f"tracklist from {rated.album.source}")
    if rated.cached:
        parts.append("from the cache")
    footer = " · ".join(parts)
    return f"{footer}\n{rated.album.note}" if rated.album.note else footer
