"""Album tracklists: the providers' chain, in the order ``[sources] tracklists`` names them.

:func:`find_tracklist` is the one entry point (``/album`` and ``training collect`` both use it). It tries
each provider in ``TracklistOptions.providers`` and moves on when one fails or finds nothing: MusicBrainz
(sources/musicbrainz.py) needs no key and gives lengths, disc numbers, a release id, genres and cover art;
Genius (sources/genius.py) needs a token and is often refused from servers, so it comes second.

Adding a provider is one module with an async function of the :data:`Provider` shape and one entry in
:data:`PROVIDERS` (the setting is checked against its names).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from sources.albums import AlbumNotFoundError, Tracklist, TracklistError, TracklistOptions, asked_album
from sources.genius import genius_tracklist
from sources.musicbrainz import musicbrainz_tracklist

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

Provider = Callable[[str, str, TracklistOptions, "aiohttp.ClientSession"], Awaitable[Tracklist]]
"""(artist, album, options, session) -> the album; raises AlbumNotFoundError or another TracklistError."""

PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {"musicbrainz": musicbrainz_tracklist, "genius": genius_tracklist}
)


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
        An empty artist or title, or no provider knows the album (or none could be asked: Genius without
        a token is skipped).
    TracklistError
        A provider failed (unreachable, refused, busy) and no later one found the album; a
        ``TracklistUnavailableError`` when that failure may pass.
    """
    artist, album = asked_album(artist, album)
    failure: TracklistError | None = None
    for name in options.providers:
        try:
            return await PROVIDERS[name](artist, album, options, session)
        except AlbumNotFoundError as e:
            log.info("%s has no album %r by %r: %s", name, album, artist, e)
            failure = failure or e
        except TracklistError as e:
            log.warning("tracklist provider %s failed for %r by %r: %s", name, album, artist, e)
            failure = e if failure is None or isinstance(failure, AlbumNotFoundError) else failure
    if failure is None or isinstance(failure, AlbumNotFoundError):
        raise AlbumNotFoundError(f"I couldn't find the album “{album}” by {artist}.")
    raise failure
