"""Fantano's genre tags -> the 10 GTZAN genres.

Rule: the head of an English compound genre name is its last term ("jazz rap" is rap, "art pop" is
pop, "rap metal" is metal, "post-punk" is punk), so a tag maps through the table term that ends
RIGHTMOST in it (the longest one on a tie). A term matches at a word end, after anything: "synthpop"
and "krautrock" match "pop" and "rock", "dubstep" does not match "dub". Tags whose head is not in the
table (ambient, idm, techno, drone, noise, experimental, ...) have no GTZAN counterpart and are ignored;
the bridge report gives the coverage. The table is a judgement call; the less obvious lines say why.
"""

from __future__ import annotations

import re

import numpy as np

GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

# term -> GTZAN genre(s); several genres share the tag's weight equally.
TERM_GENRES: dict[str, tuple[str, ...]] = {
    # hip hop
    "hip hop": ("hiphop",), "rap": ("hiphop",), "trap": ("hiphop",), "boom bap": ("hiphop",),
    "grime": ("hiphop",), "drill": ("hiphop",), "g funk": ("hiphop",), "hyphy": ("hiphop",),
    "dirty south": ("hiphop",), "horrorcore": ("hiphop",), "chopped & screwed": ("hiphop",),
    "trip hop": ("hiphop",),  # sample-based and beat-driven: nearer GTZAN hip hop than any other genre
    # pop; GTZAN "pop" is largely late-90s/00s chart pop and R&B, hence r&b here
    "pop": ("pop",), "r&b": ("pop",), "chillwave": ("pop",), "new wave": ("pop", "rock"),
    "soul": ("pop", "blues"),  # R&B's vocal style with blues and gospel roots: split
    # rock, punk and their offshoots
    "rock": ("rock",), "rock 'n' roll": ("rock",), "rockabilly": ("rock",), "rock opera": ("rock",),
    "punk": ("rock",), "hardcore": ("rock",), "emo": ("rock",), "screamo": ("rock",),
    "shoegaze": ("rock",), "grunge": ("rock",), "indie": ("rock",), "slowcore": ("rock",),
    "psych": ("rock",), "neo-psych": ("rock",), "neo-psychedelia": ("rock",), "prog": ("rock",),
    "no wave": ("rock",), "glam": ("rock",), "surf": ("rock",), "jam band": ("rock",),
    "blackgaze": ("metal", "rock"),
    # metal and extreme music
    "metal": ("metal",), "metalcore": ("metal",), "deathcore": ("metal",), "grindcore": ("metal",),
    "grind": ("metal",), "deathgrind": ("metal",), "mathcore": ("metal",), "noisecore": ("metal",),
    "thrash": ("metal",), "sludge": ("metal",), "doom": ("metal",), "djent": ("metal",),
    "death 'n' roll": ("metal",), "powerviolence": ("metal", "rock"),
    # jazz
    "jazz": ("jazz",), "fusion": ("jazz",), "post-bop": ("jazz",), "bebop": ("jazz",), "swing": ("jazz",),
    "big band": ("jazz",),
    # blues
    "blues": ("blues",), "gospel": ("blues",),
    # country; GTZAN has no folk, and its country clips (voice and acoustic guitar) are the nearest sound
    "country": ("country",), "americana": ("country",), "bluegrass": ("country",), "folk": ("country",),
    "singer-songwriter": ("country", "pop"),
    # classical
    "classical": ("classical",), "chamber music": ("classical",), "baroque music": ("classical",),
    "choral": ("classical",), "minimalism": ("classical",), "orchestral": ("classical",),
    "opera": ("classical",),
    # disco and its dance-floor descendants
    "disco": ("disco",), "funk": ("disco",), "house": ("disco",), "boogie": ("disco",),
    # reggae and relatives
    "reggae": ("reggae",), "dub": ("reggae",), "dancehall": ("reggae",), "ska": ("reggae",),
    "reggaeton": ("reggae",), "rocksteady": ("reggae",),
}

_TERM_PATTERNS = [(term, re.compile(re.escape(term) + r"(?![a-z0-9&'])")) for term in TERM_GENRES]


def normalize_tag(tag: str) -> str:
    """Lower-case, unescape '&' and trim a raw tag.

    Parameters
    ----------
    tag : str
        A tag as the reviews table writes it.

    Returns
    -------
    str
    """
    return tag.replace("\\\\u0026", "&").replace("\\u0026", "&").replace("’", "'").strip().lower()


def tag_genres(tag: str) -> tuple[str, ...]:
    """The GTZAN genres a single tag maps to; () when its head term is not in the table.

    Parameters
    ----------
    tag : str
        A raw tag, e.g. "Experimental Hip Hop".

    Returns
    -------
    tuple[str, ...]
        GTZAN genre labels of the tag's last-ending (then longest) known term.
    """
    text = normalize_tag(tag)
    best: tuple[int, int, str] | None = None
    for term, pattern in _TERM_PATTERNS:
        for match in pattern.finditer(text):
            key = (match.end(), len(term), term)
            if best is None or key > best:
                best = key
    return TERM_GENRES[best[2]] if best else ()


def genre_weights(tags: list[str]) -> np.ndarray:
    """A review's weights over GTZAN_GENRES.

    Each tag that maps shares the review equally (a tag with two genres splits its share).

    Parameters
    ----------
    tags : list[str]
        The review's raw genre tags.

    Returns
    -------
    np.ndarray
        (10,) summing to 1, or all 0 when no tag maps.
    """
    weights = np.zeros(len(GTZAN_GENRES))
    mapped = [g for g in (tag_genres(t) for t in tags) if g]
    for genres in mapped:
        for genre in genres:
            weights[GTZAN_GENRES.index(genre)] += 1.0 / (len(mapped) * len(genres))
    return weights
