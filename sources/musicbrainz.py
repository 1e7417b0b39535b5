"""Album tracklists from MusicBrainz's JSON web service (``/ws/2``), asynchronously on aiohttp.

Why not ``musicbrainzngs``: its last release was in 2020, it blocks (so every call would need a thread),
and it speaks the XML service. We need two read-only calls, both plain JSON, and aiohttp is already
installed with discord.py and already drives the bot's event loop:

1. ``GET /ws/2/release/?query=release:"T" AND artist:"A"&fmt=json`` (Lucene search, with scores);
2. ``GET /ws/2/release/<mbid>?inc=recordings+artist-credits+release-groups+genres&fmt=json`` (media ->
   tracks with title, position and length in ms; the release group with its genres and their votes).

MusicBrainz's rules are kept here: at most one request per second from this process (one limiter
shared by every caller, threads and event loops included, spacing each request from the previous
answer), a User-Agent naming the app and a contact, and a 503 (the rate limit, or an overloaded server)
retried once after a pause, as long as its Retry-After asks for when a user can still wait. Cover art is
not fetched: the release says whether the Cover Art Archive has a front image, and the Tracklist carries
its URL.

The documents are read as the real service writes them (checked against MusicBrainz's serializer and
search index code; tests/fakes/musicbrainz.py lists the sources): search results leave out unset and
empty values (``status``, ``date``, ``joinphrase``...), lookups send them as null (``length``,
``format``, ``status``), a medium without tracks has no ``tracks``, and the hidden ``pregap`` track and
the ``data-tracks`` sit outside ``tracks``, so they are not part of the tracklist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from sources.albums import (
    AlbumNotFoundError,
    Track,
    Tracklist,
    TracklistError,
    TracklistOptions,
    TracklistUnavailableError,
)
from sources.names import core_title, normalize_title

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 1.0  # MusicBrainz allows one request per second per client
_POLL_S = 0.05  # how often a waiting request looks again while another is in flight
# The longest Retry-After (seconds) worth waiting for before the one retry: longer, and the user hears
# that MusicBrainz is busy at once (a retry sooner than asked would only be refused again).
MAX_RETRY_AFTER_S = 10.0
# The most a search returns at once (its default is 25): a popular album has dozens of releases
# (countries, formats, reissues) scoring alike, and the original must be among those compared.
_SEARCH_LIMIT = 100
# Release-group secondary types that are not the artist's album as released (a compilation, a live
# recording...). They are only chosen when nothing else matches (someone asked for a live album).
_NOT_THE_ALBUM = frozenset({"compilation", "live", "remix", "dj-mix", "interview", "spokenword", "demo"})
# Release statuses by preference; an unset one (MusicBrainz leaves it out) beats Promotion, Bootleg,
# Pseudo-Release (a translated tracklist), Withdrawn and Cancelled.
_STATUS_RANK = {"official": 0, "": 1}
# The release's tracks with their credits, its release group, and the genres of both, in one lookup.
_LOOKUP_INC = "recordings+artist-credits+release-groups+genres"
# MusicBrainz's special-purpose title for a data track entered as an ordinary track.
_DATA_TRACK = "[data track]"
# Words in a title that mark a later edition rather than the original one.
_LATER_EDITION = re.compile(r"\b(deluxe|expanded|anniversary|remaster(ed)?|bonus|special edition|edition)\b")


class _Limiter:
    """One request at a time, each sent at least ``interval`` seconds after the previous answer arrived.

    Counting from the previous answer (not the previous send) keeps the gap as MusicBrainz measures it
    at least ``interval`` however long a request spent connecting. The state sits behind a thread lock
    that is never held across an ``await``, and waiting is ``asyncio.sleep``: so no event loop blocks,
    and ``training collect`` (one ``asyncio.run`` per worker thread) shares the same budget.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._busy = False
        self._next = 0.0
        self._held: dict[str, float] = {}

    def defer(self, seconds: float) -> None:
        """Hold every caller's next request until ``seconds`` from now (a server's Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)

    def hold(self, server: str, seconds: float) -> None:
        """Refuse requests to ``server`` for ``seconds`` (a Retry-After too long for a user to wait)."""
        with self._lock:
            self._held[server] = max(self._held.get(server, 0.0), time.monotonic() + seconds)

    def held(self, server: str) -> float:
        """Seconds ``server`` asked us to stay away still (0 when it did not)."""
        with self._lock:
            return max(0.0, self._held.get(server, 0.0) - time.monotonic())

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        while True:
            with self._lock:
                now = time.monotonic()
                if not self._busy and now >= self._next:
                    self._busy = True
                    break
                wait = _POLL_S if self._busy else self._next - now
            await asyncio.sleep(wait)
        try:
            yield
        finally:
            with self._lock:
                self._busy = False
                self._next = max(self._next, time.monotonic() + self._interval)


_LIMITER = _Limiter(MIN_INTERVAL_S)


async def musicbrainz_tracklist(
    artist: str, album: str, options: TracklistOptions, session: aiohttp.ClientSession
) -> Tracklist:
    """Find the album's original release on MusicBrainz and return every track of every disc in order.

    Parameters
    ----------
    artist : str
        Artist name as the user typed it.
    album : str
        Album title as the user typed it.
    options : TracklistOptions
        Service URLs, user agent and timeouts.
    session : aiohttp.ClientSession
        The HTTP session to send requests on.

    Returns
    -------
    Tracklist
        The release's artist, title, tracks (lengths in seconds when known), release id, year and cover URL.

    Raises
    ------
    AlbumNotFoundError
        No release of that title by that artist.
    TracklistError
        MusicBrainz is unreachable, busy twice in a row, refused us, or sent something unreadable.
    """
    # ``artist`` is the credit as printed ("Kanye West & JAY-Z"), ``artistname`` any credited artist's own
    # name: an album credited under a variant of the name asked for comes back too.
    name = _lucene(artist)
    query = f'release:"{_lucene(album)}" AND (artist:"{name}" OR artistname:"{name}")'
    found = await _get(session, options, "/ws/2/release/", {"query": query, "limit": str(_SEARCH_LIMIT)})
    candidate = choose_release(found.get("releases") or [], artist, album)
    if candidate is None:
        raise AlbumNotFoundError(f"MusicBrainz has no album “{album}” by {artist}.")
    release = await _get(
        session, options, f"/ws/2/release/{candidate['id']}", {"inc": _LOOKUP_INC}
    )
    tracks = _tracks(release)
    if not tracks:
        raise AlbumNotFoundError(f"MusicBrainz lists no tracks for “{album}” by {artist}.")
    # "darkened": the Cover Art Archive took the images down (a rights holder asked), though "front" may
    # still say there is one; asking would only fetch a refusal.
    archive = release.get("cover-art-archive") or {}
    has_front = archive.get("front") and not archive.get("darkened")
    return Tracklist(
        artist=_credit(release.get("artist-credit") or candidate.get("artist-credit")) or artist,
        album=str(release.get("title") or candidate.get("title") or album),
        tracks=tracks,
        release_id=str(release.get("id") or candidate["id"]),
        year=_year(candidate.get("date") or release.get("date")),
        cover_url=f"{options.coverart_url.rstrip('/')}/release/{candidate['id']}/front-500"
        if has_front
        else None,
        source="musicbrainz",
        genres=_genres(release),
    )


def choose_release(releases: list[dict[str, Any]], artist: str, album: str) -> dict[str, Any] | None:
    """The search result that is the album itself, as first released; None when none matches.

    Matching: ``artist`` names the release's artist (see :func:`_artist_rank`: the credit as printed, or
    one credited artist's credited name, own name or sort name) and its title equals ``album``, both
    normalized, or equal once bracketed qualifiers such as "(Deluxe Edition)" are dropped. Among those,
    in order of preference: a release group of primary type Album (then EP, then anything) without
    secondary types such as Compilation or Live; the credit as printed, then its first artist (a
    variant name, a "feat." credit), then another of its artists (a joint album); the exact title asked
    for; no deluxe/expanded/remaster words in the title; an official release, then one without a status,
    then the rest (bootlegs...); the earliest date; MusicBrainz's search score.

    Parameters
    ----------
    releases : list[dict[str, Any]]
        Releases from a MusicBrainz release search (its JSON ``releases`` list).
    artist : str
        Artist name asked for.
    album : str
        Album title asked for.

    Returns
    -------
    dict[str, Any] or None
        The preferred matching release, or None.
    """
    want_artist, want_title, want_core = normalize_title(artist), normalize_title(album), core_title(album)
    matches = []
    for release in releases:
        title = str(release.get("title") or "")
        credited = _artist_rank(release.get("artist-credit"), want_artist)
        if credited is None:
            continue
        if normalize_title(title) != want_title and core_title(title) != want_core:
            continue
        group = release.get("release-group") or {}
        primary = str(group.get("primary-type") or "").lower()
        secondary = {str(t).lower() for t in group.get("secondary-types") or []}
        matches.append(
            (
                {"album": 0, "ep": 1}.get(primary, 2) + (3 if secondary & _NOT_THE_ALBUM else 0),
                credited,
                normalize_title(title) != want_title,
                bool(_LATER_EDITION.search(title.lower())) and not _LATER_EDITION.search(album.lower()),
                _STATUS_RANK.get(str(release.get("status") or "").lower(), 2),
                str(release.get("date") or "9999"),  # ISO dates sort as text; undated last
                -int(release.get("score") or 0),
                release,
            )
        )
    if not matches:
        return None
    return min(matches, key=lambda m: m[:-1])[-1]


async def _get(
    session: aiohttp.ClientSession, options: TracklistOptions, path: str, params: dict[str, str]
) -> dict[str, Any]:
    """GET a ``/ws/2`` JSON document, spaced by the shared limiter; one retry after a 503 or 429.

    MusicBrainz says "too many requests" with 503, a proxy in front of a mirror with 429: both are
    "busy, for now". A Retry-After a user can wait for is waited for (by every caller); a longer one is
    kept, so requests to that server fail at once until it passes, and the user is told how long.
    """
    server = options.musicbrainz_url.rstrip("/")
    url = server + path
    headers = {"User-Agent": options.user_agent, "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    for attempt in (1, 2):
        if (left := _LIMITER.held(server)) > MAX_RETRY_AFTER_S:
            raise TracklistUnavailableError(_busy(left))
        try:
            async with (
                _LIMITER.slot(),
                session.get(
                    url, params={**params, "fmt": "json"}, headers=headers, timeout=timeout
                ) as response,
            ):
                if response.status in (429, 503):
                    wait = _retry_after(response.headers.get("Retry-After"))
                    if wait <= MAX_RETRY_AFTER_S:
                        _LIMITER.defer(wait)  # every caller waits: the server refuses them all until then
                    else:
                        _LIMITER.hold(server, wait)
                    if attempt == 1 and wait <= MAX_RETRY_AFTER_S:
                        log.info(
                            "MusicBrainz answered %s (rate limit or load); retrying once in %.0f s",
                            response.status,
                            max(wait, MIN_INTERVAL_S),
                        )
                        continue
                    raise TracklistUnavailableError(_busy(wait))
                if response.status == 404:
                    raise AlbumNotFoundError("MusicBrainz has no such release.")
                if response.status != 200:
                    log.warning("MusicBrainz answered %s for %s", response.status, path)
                    message = f"MusicBrainz answered with an error ({response.status})."
                    # A server error may pass; a refusal of the request itself (4xx) will not.
                    kind = TracklistUnavailableError if response.status >= 500 else TracklistError
                    raise kind(message)
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.info("MusicBrainz request failed: %s", type(e).__name__)
            raise TracklistUnavailableError("I couldn't reach MusicBrainz. Try again later.") from None
        except ValueError:
            raise TracklistError("MusicBrainz sent an answer I couldn't read.") from None
        if not isinstance(document, dict):
            raise TracklistError("MusicBrainz sent an answer I couldn't read.")
        return document
    raise AssertionError("unreachable: the second attempt returns or raises")


def _tracks(release: dict[str, Any]) -> tuple[Track, ...]:
    """Every audio track of every medium, media in their ``position`` order, numbered over the album.

    Videos (the DVD of a CD+DVD edition) and data tracks are not songs to rate: beets skips them too.
    A medium's hidden ``pregap`` track (before track 1, found by rewinding the CD) is left out on
    purpose: it is not part of the album as listed or streamed, and its search would find other songs.
    """
    tracks: list[Track] = []
    media = sorted(release.get("media") or [], key=lambda m: int(m.get("position") or 0))
    for disc, medium in enumerate(media, start=1):
        for track in sorted(medium.get("tracks") or [], key=lambda t: int(t.get("position") or 0)):
            recording = track.get("recording") or {}
            title = str(track.get("title") or recording.get("title") or "").strip()
            if not title or recording.get("video") is True or _DATA_TRACK in (title, recording.get("title")):
                continue
            length = track.get("length") or recording.get("length")
            seconds = length / 1000.0 if isinstance(length, int | float) and length > 0 else None
            tracks.append(Track(title=title, position=len(tracks) + 1, disc=disc, seconds=seconds))
    return tuple(tracks)


def _genres(release: dict[str, Any]) -> tuple[str, ...]:
    """The release group's genre names, most voted first (the release's own when the group has none):
    voters tag the album as a whole, so its group holds most of them."""
    for owner in (release.get("release-group") or {}, release):
        genres = [g for g in owner.get("genres") or [] if isinstance(g, dict) and g.get("name")]
        if genres:
            ranked = sorted(genres, key=lambda g: -int(g.get("count") or 0))
            return tuple(dict.fromkeys(str(g["name"]) for g in ranked))
    return ()


def _credit(credits: Any) -> str:
    """An artist credit as MusicBrainz displays it: each name followed by its join phrase.

    A credit without its own ``name`` (search documents may leave it out when it is the artist's) is
    the artist's name.
    """
    if not isinstance(credits, list):
        return ""
    return "".join(
        f"{c.get('name') or (c.get('artist') or {}).get('name') or ''}{c.get('joinphrase') or ''}"
        for c in credits
        if isinstance(c, dict)
    )


def _artist_rank(credits: Any, artist: str) -> int | None:
    """How the credit names ``artist`` (normalized): 0 as printed whole, 1 its first artist, 2 another
    of its artists; None when it does not name them.

    Each credited artist answers to the name it is credited under on this release, its own name and its
    sort name (also read "Beatles, The" as "The Beatles"), so a variant credit, a "feat." credit and a
    joint album all match one of their artists.
    """
    if normalize_title(_credit(credits)) == artist:
        return 0
    if not isinstance(credits, list):
        return None
    for rank, credit in enumerate(c for c in credits if isinstance(c, dict)):
        own = credit.get("artist") or {}
        sort_name = str(own.get("sort-name") or "")
        last, _, first = sort_name.partition(", ")
        names = (credit.get("name"), own.get("name"), sort_name, f"{first} {last}" if first else "")
        if artist in {normalize_title(str(n or "")) for n in names} - {""}:
            return min(rank, 1) + 1
    return None


def _busy(seconds: float) -> str:
    """What the user hears when MusicBrainz is busy and asked us to wait ``seconds``."""
    if seconds <= 60:
        return "MusicBrainz is busy right now. Try again in a minute."
    minutes = math.ceil(seconds / 60)
    return f"MusicBrainz is busy right now and asked me to wait {minutes} minutes. Try again then."


def _retry_after(value: str | None) -> float:
    """Seconds a Retry-After header asks for (0 when absent or not delta-seconds, e.g. an HTTP date)."""
    return float(value) if value is not None and value.strip().isdigit() else 0.0


def _year(date: Any) -> int | None:
    match = re.match(r"(\d{4})", str(date or ""))
    return int(match.group(1)) if match else None


def _lucene(text: str) -> str:
    """``text`` safe inside a quoted Lucene phrase."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
