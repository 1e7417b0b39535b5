"""Album tracklists from Genius, through lyricsgenius (blocking; run in a thread).

Genius's token API (api.genius.com) has no album search, and its public web API (genius.com/api), which
lyricsgenius's album search uses, is often refused from servers. So albums are found through the token
API: search songs for "artist album", read each candidate song's album, and take the album whose artist
and title match. Only the tracklist itself comes from the public API's album-tracks endpoint. Genius has
no lengths, release ids or years, and needs a token: it is the chain's second provider.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import lyricsgenius
import requests

from sources.albums import (
    AlbumNotFoundError,
    Track,
    Tracklist,
    TracklistError,
    TracklistOptions,
    TracklistUnavailableError,
    asked_album,
)
from sources.names import core_title, normalize_title

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

_CANDIDATE_SONGS = 5  # song lookups per album search: enough for the album's own songs to come up
_TRACKS_PER_PAGE = 50  # Genius's maximum
_MAX_PAGES = 10


async def genius_tracklist(
    artist: str, album: str, options: TracklistOptions, session: aiohttp.ClientSession
) -> Tracklist:
    """The album's tracklist from Genius (the chain's provider entry; ``session`` is not used).

    Parameters
    ----------
    artist, album : str
        As asked (already checked by :func:`sources.albums.asked_album`).
    options : TracklistOptions
        The Genius token and URL, and the timeout (seconds per request).
    session : aiohttp.ClientSession
        Unused: lyricsgenius has its own.

    Returns
    -------
    Tracklist
        As :meth:`GeniusTracklists.tracklist` returns it.

    Raises
    ------
    AlbumNotFoundError
        No token is set (Genius is not asked), or Genius has no such album.
    TracklistError
        Genius failed (see :meth:`GeniusTracklists._call`).
    """
    if not options.genius_token:
        raise AlbumNotFoundError("Genius is not asked without a token (GENIUS_ACCESS_TOKEN).")
    root = options.genius_url or None
    client = GeniusTracklists(options.genius_token, timeout=options.timeout, api_root=root)
    return await asyncio.to_thread(client.tracklist, artist, album)


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
        artist, album = asked_album(artist, album)
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
            raise TracklistUnavailableError("Genius did not answer in time. Try again later.") from None
        except requests.RequestException as e:
            log.info("Genius request failed in %s: %s", method.__name__, type(e).__name__)
            raise TracklistUnavailableError("I couldn't reach Genius. Try again later.") from None
        except AssertionError as e:  # lyricsgenius's way to report a non-200 answer
            status = _status(str(e))
            log.info("Genius answered %s in %s", status, method.__name__)
            if status == 401:
                raise TracklistError("Genius refused the access token; check GENIUS_ACCESS_TOKEN.") from None
            if status == 429:
                message = "Genius is rate-limiting us. Try again in a minute."
            else:
                message = f"Genius answered with an error ({status}). Try again later."
            raise TracklistUnavailableError(message) from None
        except (ValueError, KeyError, TypeError) as e:
            log.info("Genius sent an unexpected answer in %s: %s", method.__name__, type(e).__name__)
            message = "Genius sent an answer I couldn't read. Try again later."
            raise TracklistUnavailableError(message) from None


def _status(message: str) -> int | None:
    match = re.search(r"status code: (\d{3})", message)
    return int(match.group(1)) if match else None


def _artist_name(song: dict[str, Any]) -> str:
    return (song.get("primary_artist") or {}).get("name") or ""


def _same(a: str, b: str) -> bool:
    return normalize_title(a) == normalize_title(b)
