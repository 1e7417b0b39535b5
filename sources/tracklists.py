"""Album tracklists: MusicBrainz first, Genius second, in the order the config gives.

:func:`find_tracklist` is the one entry point (``/album`` and ``training collect`` both use it). It tries
each provider in ``TracklistOptions.providers`` and moves on when one fails or finds nothing: MusicBrainz
(sources/musicbrainz.py) needs no key and gives lengths, disc numbers, a release id and cover art;
Genius needs a token and is often refused from servers (see below), so it comes second.

Genius through lyricsgenius (blocking; run in a thread): Genius's token API (api.genius.com) has no album
search, and its public web API (genius.com/api), which lyricsgenius's album search uses, is often refused
from servers. So albums are found through the token API: search songs for "artist album", read each
candidate song's album, and take the album whose artist and title match. Only the tracklist itself comes
from the public API's album-tracks endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import lyricsgenius
import requests

from sources.names import core_title, normalize_title

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

_CANDIDATE_SONGS = 5  # song lookups per album search: enough for the album's own songs to come up
_TRACKS_PER_PAGE = 50  # Genius's maximum
_MAX_PAGES = 10

PROVIDERS = ("musicbrainz", "genius")


@dataclass(frozen=True)
class Track:
    """One track: ``position`` counts from 1 over the whole album in order, ``disc`` from 1."""

    title: str
    position: int
    disc: int
    seconds: float | None


@dataclass(frozen=True)
class Tracklist:
    """An album's tracks in order (every disc); ``source`` is the provider ("musicbrainz"/"genius")."""

    artist: str
    album: str
    tracks: tuple[Track, ...]
    release_id: str | None
    year: int | None
    cover_url: str | None
    source: str


@dataclass(frozen=True)
class TracklistOptions:
    """Which providers to ask, in order, and how to reach them (bot/config.py builds this).

    ``user_agent`` must name the app and a contact (MusicBrainz's rule); ``genius_url`` empty means
    Genius's own hosts; ``timeout`` is seconds per HTTP request.
    """

    providers: tuple[str, ...] = PROVIDERS
    musicbrainz_url: str = "https://musicbrainz.org"
    user_agent: str = "TheNeedleBot/0.1 ( set [sources] musicbrainz_user_agent to your contact )"
    coverart_url: str = "https://coverartarchive.org"
    genius_url: str = ""
    genius_token: str = field(default="", repr=False)
    timeout: float = 15.0


class TracklistError(Exception):
    """A tracklist we could not get; ``str(e)`` is meant for the user and never holds the token."""


class AlbumNotFoundError(TracklistError):
    pass


async def find_tracklist(
    artist: str, album: str, options: TracklistOptions, session: aiohttp.ClientSession
) -> Tracklist:
    """The album's tracklist from the first provider in ``options.providers`` that has it.

    Parameters
    ----------
    artist : str
        Artist name as the user typed it.
    album : str
        Album title as the user typed it.
    options : TracklistOptions
        Providers in order, their URLs, credentials and timeout (seconds).
    session : aiohttp.ClientSession
        Used for MusicBrainz (Genius runs lyricsgenius in a thread).

    Returns
    -------
    Tracklist
        The album as the first provider that has it lists it.

    Raises
    ------
    AlbumNotFoundError
        No provider knows the album (or none could be asked: Genius without a token is skipped).
    TracklistError
        A provider failed (unreachable, refused, busy) and no later one found the album.
    """
    # Imported here: musicbrainz.py builds this module's Track and Tracklist.
    from sources.musicbrainz import musicbrainz_tracklist

    artist, album = " ".join(artist.split()), " ".join(album.split())
    if not artist or not album:
        raise AlbumNotFoundError("Give both an artist and an album title.")
    failure: TracklistError | None = None
    for provider in options.providers:
        try:
            if provider == "musicbrainz":
                return await musicbrainz_tracklist(artist, album, options, session)
            if provider == "genius" and options.genius_token:
                client = GeniusTracklists(
                    options.genius_token, timeout=options.timeout, api_root=options.genius_url or None
                )
                return await asyncio.to_thread(client.tracklist, artist, album)
        except AlbumNotFoundError as e:
            log.info("%s has no album %r by %r", provider, album, artist)
            failure = failure or e
        except TracklistError as e:
            log.warning("tracklist provider %s failed for %r by %r: %s", provider, album, artist, e)
            failure = e if failure is None or isinstance(failure, AlbumNotFoundError) else failure
    if failure is None or isinstance(failure, AlbumNotFoundError):
        raise AlbumNotFoundError(f"I couldn't find the album “{album}” by {artist}.")
    raise failure


class GeniusTracklists:
    """Look up an album's tracklist on Genius.

    Parameters
    ----------
    token : str
        Genius API client access token.
    timeout : float, optional
        Seconds per HTTP request.
    api_root : str, optional
        Base URL that stands for both api.genius.com and genius.com (tests point it at loopback).
    """

    def __init__(self, token: str, *, timeout: float = 15.0, api_root: str | None = None) -> None:
        if not token or not token.strip():
            raise TracklistError("A Genius access token is needed (set GENIUS_ACCESS_TOKEN).")
        # sleep_time is lyricsgenius's pause after every request, a courtesy to the real API.
        self._genius = lyricsgenius.Genius(token.strip(), timeout=timeout, retries=1, sleep_time=0.2)
        if api_root is not None:
            root = api_root.rstrip("/")
            # Instance attributes shadow Sender's class attributes, so other clients keep the real roots.
            self._genius.API_ROOT = f"{root}/"
            self._genius.PUBLIC_API_ROOT = f"{root}/api/"
            self._genius.WEB_ROOT = f"{root}/"
            self._genius.sleep_time = 0.0  # our own loopback server needs no courtesy pause

    def tracklist(self, artist: str, album: str) -> Tracklist:
        """The album's tracks in order (no lengths: Genius has none); AlbumNotFoundError if it lacks it.

        Parameters
        ----------
        artist : str
            Artist name as the user typed it.
        album : str
            Album title as the user typed it.

        Returns
        -------
        Tracklist
            The album's artist, title, tracks (lengths None) and cover URL; release id and year None.

        Raises
        ------
        AlbumNotFoundError
            An empty artist or title, or Genius has no such album or lists no tracks for it.
        """
        artist, album = " ".join(artist.split()), " ".join(album.split())
        if not artist or not album:
            raise AlbumNotFoundError("Give both an artist and an album title.")
        found = self._find_album(artist, album)
        if found is None:
            raise AlbumNotFoundError(f"Genius has no album “{album}” by {artist}.")
        tracks = self._tracks(found["id"])
        if not tracks:
            raise AlbumNotFoundError(f"Genius lists no tracks for “{album}” by {artist}.")
        return Tracklist(
            artist=(found.get("artist") or {}).get("name") or artist,
            album=found.get("name") or album,
            tracks=tuple(Track(title, i, 1, None) for i, title in enumerate(tracks, start=1)),
            release_id=None,
            year=None,
            cover_url=found.get("cover_art_url") or None,
            source="genius",
        )

    def _find_album(self, artist: str, album: str) -> dict[str, Any] | None:
        """The Genius album dict (id, name, artist) matching artist and title, or None."""
        hits = self._call(self._genius.search_songs, f"{artist} {album}", per_page=10).get("hits") or []
        songs = [h["result"] for h in hits if h.get("type", h.get("index")) == "song" and h.get("result")]
        by_artist = [s for s in songs if _same(_artist_name(s), artist)]
        seen: set[int] = set()
        fallback = None
        for song in by_artist[:_CANDIDATE_SONGS]:
            found = (self._call(self._genius.song, song["id"]).get("song") or {}).get("album")
            if not found or found.get("id") in seen:
                continue
            seen.add(found["id"])
            if normalize_title(found.get("name", "")) == normalize_title(album):
                return found
            if fallback is None and core_title(found.get("name", "")) == core_title(album):
                fallback = found  # e.g. the deluxe edition when the review names the plain album
        return fallback

    def _tracks(self, album_id: int) -> tuple[str, ...]:
        titles: list[str] = []
        page: int | None = 1
        while page and page <= _MAX_PAGES:
            response = self._call(self._genius.album_tracks, album_id, per_page=_TRACKS_PER_PAGE, page=page)
            titles += [t["song"]["title"].strip() for t in response.get("tracks") or [] if t.get("song")]
            page = response.get("next_page")
        return tuple(titles)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call a lyricsgenius method; turn every failure into a TracklistError without the token in it.

        lyricsgenius's own errors can carry response bodies, headers and URLs, so only the status code
        and exception type reach our message and log.
        """
        try:
            return method(*args, **kwargs) or {}
        except requests.Timeout:
            log.info("Genius timed out in %s", method.__name__)
            raise TracklistError("Genius did not answer in time. Try again later.") from None
        except requests.RequestException as e:
            log.info("Genius request failed in %s: %s", method.__name__, type(e).__name__)
            raise TracklistError("I couldn't reach Genius. Try again later.") from None
        except AssertionError as e:  # lyricsgenius's way to report a non-200 answer
            status = _status(str(e))
            log.info("Genius answered %s in %s", status, method.__name__)
            if status == 401:
                raise TracklistError("Genius refused the access token; check GENIUS_ACCESS_TOKEN.") from None
            if status == 429:
                raise TracklistError("Genius is rate-limiting us. Try again in a minute.") from None
            raise TracklistError(f"Genius answered with an error ({status}). Try again later.") from None
        except (ValueError, KeyError, TypeError) as e:
            log.info("Genius sent an unexpected answer in %s: %s", method.__name__, type(e).__name__)
            raise TracklistError("Genius sent an answer I couldn't read. Try again later.") from None


def _status(message: str) -> int | None:
    match = re.search(r"status code: (\d{3})", message)
    return int(match.group(1)) if match else None


def _artist_name(song: dict[str, Any]) -> str:
    return (song.get("primary_artist") or {}).get("name") or ""


def _same(a: str, b: str) -> bool:
    return normalize_title(a) == normalize_title(b)
