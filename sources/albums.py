"""What a tracklist provider answers: the album types, their options and their errors.

Providers (``sources/musicbrainz.py``, ``sources/genius.py``) build these; the chain that asks them in
order is ``sources/tracklists.py``; ``/album`` and ``training collect`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sources.failures import TryAgainLater
from sources.text import one_line

GIVE_BOTH = "Give both an artist and an album title."


@dataclass(frozen=True)
class Track:
    """One track: ``position`` counts from 1 over the whole album in order, ``disc`` from 1."""

    title: str
    position: int
    disc: int
    seconds: float | None


@dataclass(frozen=True)
class Tracklist:
    """An album's tracks in order (every disc); ``source`` is the provider ("musicbrainz"/"genius").

    ``genres`` are the release group's genre names, most voted first (MusicBrainz; empty elsewhere).
    """

    artist: str
    album: str
    tracks: tuple[Track, ...]
    release_id: str | None
    year: int | None
    cover_url: str | None
    source: str
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class TracklistOptions:
    """Which providers to ask, in order, and how to reach them (bot/config.py builds this).

    ``providers`` name entries of ``sources.tracklists.PROVIDERS``; ``user_agent`` must name the app and a
    contact (MusicBrainz's rule); ``genius_url`` empty means Genius's own hosts; ``timeout`` is seconds
    per HTTP request.
    """

    providers: tuple[str, ...] = ("musicbrainz", "genius")
    musicbrainz_url: str = "https://musicbrainz.org"
    user_agent: str = "TheNeedleBot/0.1 ( set [sources] musicbrainz_user_agent to your contact )"
    coverart_url: str = "https://coverartarchive.org"
    genius_url: str = ""
    genius_token: str = field(default="", repr=False)
    timeout: float = 15.0


class TracklistError(Exception):
    """A tracklist we could not get; ``str(e)`` is meant for the user and never holds the token."""


class AlbumNotFoundError(TracklistError):
    """The provider has no such album (or was not asked: Genius without a token)."""


class TracklistUnavailableError(TracklistError, TryAgainLater):
    """The provider cannot answer right now (unreachable, busy, rate-limiting): asking later may work."""


def asked_album(artist: str, album: str) -> tuple[str, str]:
    """The artist and title as asked, each with its runs of whitespace made one space.

    The one check of an album request (``/album``, the chain, each provider's own entry point).

    Parameters
    ----------
    artist, album : str
        As the user typed them.

    Returns
    -------
    tuple[str, str]
        (artist, album), neither empty.

    Raises
    ------
    AlbumNotFoundError
        Either is empty once spaces are dropped (:data:`GIVE_BOTH`).
    """
    artist, album = one_line(artist), one_line(album)
    if not artist or not album:
        raise AlbumNotFoundError(GIVE_BOTH)
    return artist, album
