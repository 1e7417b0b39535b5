"""How artist, album and track names are compared: the one normalization the bot and training share.

Reviews, tracklist providers and users spell the same album differently ("Tyler, The Creator" and
"tyler the creator", "Björk" and "Bjork", "Simon & Garfunkel" and "Simon and Garfunkel", "IGOR" and
"IGOR (Deluxe)"). Everything that matches names goes through this module.
"""

from __future__ import annotations

import re
import unicodedata

_BRACKETED = re.compile(r"\s*[(\[][^)\]]*[)\]]")
# Trailing qualifiers that name an edition of the same album, not a different album. Only these are
# dropped by album_key: Weezer's "Self-Titled (Teal)" and "(White)" are different records, and so is
# "Fearless (Taylor's Version)", a re-recording.
_EDITION = re.compile(
    r"\s*[(\[][^)\]]*\b(deluxe|remaster(ed)?|expanded|anniversary|bonus|edition|reissue)\b[^)\]]*[)\]]\s*$",
    re.IGNORECASE,
)


def normalize_title(text: str) -> str:
    """Fold case, accents, ``&``/``and`` and punctuation so that names written differently compare equal.

    Parameters
    ----------
    text : str
        A name as written (artist, album or track).

    Returns
    -------
    str
        Lower-case words of letters and digits separated by single spaces; "" when none.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"\s*&\s*", " and ", text)
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def core_title(text: str) -> str:
    """The normalized title without any bracketed part, such as "(Deluxe Edition)" or "[Live]".

    A looser match than album_key, for picking among candidates that already matched the artist;
    a title that is all brackets keeps them.

    Parameters
    ----------
    text : str
        A title as written.

    Returns
    -------
    str
        Lower-case words separated by single spaces.
    """
    return normalize_title(_BRACKETED.sub(" ", text)) or normalize_title(text)


def album_key(artist: str, album: str) -> tuple[str, str]:
    """The key two spellings of one album share: normalized artist, normalized title without editions.

    Trailing "(Deluxe)", "[Remastered]", "(10th Anniversary Edition)"-style qualifiers are dropped,
    other brackets kept.

    Parameters
    ----------
    artist, album : str
        Names as written.

    Returns
    -------
    tuple[str, str]
        (normalized artist, normalized album title).
    """
    title = album
    while (stripped := _EDITION.sub("", title)) != title and stripped.strip():
        title = stripped
    return normalize_title(artist), normalize_title(title)
