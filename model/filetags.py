"""An audio file's own artist, title and album tags (ID3, Vorbis comments, MP4 atoms), read with mutagen.

The text is the uploader's, hence hostile: it is only trimmed here (whitespace and control characters
collapsed, length capped); whoever shows it escapes it.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_TAG_CHARS = 200  # longer tag values are cut: no artist or album name comes close


@dataclass(frozen=True)
class FileTags:
    """What a file says it is; each None when the file does not say.

    Attributes
    ----------
    artist, title, album : str or None
        The first value of the file's artist, title and album tags, trimmed.
    """

    artist: str | None = None
    title: str | None = None
    album: str | None = None


def read_file_tags(source: str | os.PathLike | bytes) -> FileTags:
    """The artist, title and album a file's tags name.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        The file, by path or contents.

    Returns
    -------
    FileTags
        Empty when the file has no such tags, or none mutagen can read: tags never stop a rating.
    """
    import mutagen

    try:
        tagged = mutagen.File(io.BytesIO(source) if isinstance(source, bytes) else source, easy=True)
    except Exception as error:  # mutagen raises many types on damaged headers; tags are optional
        log.debug("no readable tags: %r", error)
        return FileTags()
    if tagged is None or not tagged.tags:
        return FileTags()
    return FileTags(*(_first(tagged.tags, key) for key in ("artist", "title", "album")))


def _first(tags: object, key: str) -> str | None:
    """The first non-empty value of ``key`` (EasyID3, EasyMP4 and Vorbis comments all map it to a list)."""
    try:
        values = tags[key]
    except (KeyError, ValueError):
        return None
    for value in values if isinstance(values, list) else [values]:
        text = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
        if text:
            return text[:MAX_TAG_CHARS]
    return None
