"""Album tracklists from Genius through lyricsgenius (blocking; callers run it in a thread).

Genius's token API (api.genius.com) has no album search, and its public web API (genius.com/api), which
lyricsgenius's album search uses, is often refused from servers. So albums are found through the token
API: search songs for "artist album", read each candidate song's album, and take the album whose artist
and title match. Only the tracklist itself comes from the public API's album-tracks endpoint.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import lyricsgenius
import requests

from bot.sources.names import core_title, normalize_title

log = logging.getLogger(__name__)

_CANDIDATE_SONGS = 5  # song lookups per album search: enough for the album's own songs to come up
_TRACKS_PER_PAGE = 50  # Genius's maximum
_MAX_PAGES = 10


@dataclass(frozen=True)
class Tracklist:
    artist: str
    album: str
    tracks: tuple[str, ...]


class TracklistError(Exception):
    """A tracklist we could not get; ``str(e)`` is meant for the user and never holds the token."""


class AlbumNotFoundError(TracklistError):
    pass


class GeniusTracklists:
    """Look up an album's tracklist on Genius.

    Parameters
    ----------
    token : Genius API client access token.
    timeout : seconds per HTTP request.
    api_root : base URL that stands for both api.genius.com and genius.com (tests point it at loopback).
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
        """The album's track titles in order; AlbumNotFoundError when Genius has no such album."""
        artist, album = " ".join(artist.split()), " ".join(album.split())
        if not artist or not album:
            raise AlbumNotFoundError("Give both an artist and an album title.")
        found = self._find_album(artist, album)
        if found is None:
            raise AlbumNotFoundError(f"Genius has no album “{album}” by {artist}.")
        tracks = self._tracks(found["id"])
        if not tracks:
            raise AlbumNotFoundError(f"Genius lists no tracks for “{album}” by {artist}.")
        name = found.get("name") or album
        album_artist = (found.get("artist") or {}).get("name") or artist
        return Tracklist(artist=album_artist, album=name, tracks=tracks)

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
