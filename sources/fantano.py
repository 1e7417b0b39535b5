"""Fantano's own scores: a compact table of his album reviews, and lookups by artist and album.

The bundled table (``fantano_scores.csv`` beside this module, attribution in ``fantano_scores.md``) is
built by ``python -m training reviews`` from two openly licensed tables; a newer table in the same
format can replace it through the ``[sources] fantano_scores`` setting. Columns:

``artist, album, year, score, favourites, least_favourite, published, genres``: year is the year of the
review video (empty when unknown), score an integer 0..10, favourites the favourite tracks joined by
" | ", published the review's date (ISO, empty when unknown), genres his own genre tags joined by " | "
(from the tnd table). A table without the last two columns still loads (artist histories then keep the
table's order).

Names match through ``sources.names.album_key`` (case, accents, "&"/"and", punctuation, trailing
edition qualifiers such as "(Deluxe)"). Loading reads the whole table (about 3,000 rows) once.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sources.names import album_key, normalize_title

BUNDLED = Path(__file__).resolve().with_name("fantano_scores.csv")
COLUMNS = ("artist", "album", "year", "score", "favourites", "least_favourite")
OPTIONAL_COLUMNS = ("published", "genres")
PICK_SEPARATOR = " | "  # read back by splitting on "|", so no track name may contain one


class ScoresError(ValueError):
    """A scores table that is missing or malformed; the message names the file and the row."""


@dataclass(frozen=True)
class FantanoReview:
    """One of Fantano's album reviews: his integer score 0..10 and his track picks."""

    artist: str
    album: str
    year: int | None
    score: int
    favourites: tuple[str, ...]
    least_favourite: str | None
    published: str = ""  # ISO date of the review video; "" when unknown
    genres: tuple[str, ...] = ()  # his own genre tags


class FantanoScores:
    """Fantano's reviews, found by artist and album however they are spelled."""

    def __init__(self, reviews: Iterable[FantanoReview]) -> None:
        self._by_key: dict[tuple[str, str], FantanoReview] = {}
        self._artists: dict[str, str] = {}  # normalized artist -> the name as first written
        self._albums: dict[str, list[str]] = {}  # normalized artist -> album titles as written
        self._history: dict[str, list[FantanoReview]] = {}  # normalized artist -> reviews
        for review in reviews:
            key = album_key(review.artist, review.album)
            if key in self._by_key:
                continue  # the first row of an album wins, as when the table was built
            self._by_key[key] = review
            self._artists.setdefault(key[0], review.artist)
            self._albums.setdefault(key[0], []).append(review.album)
            self._history.setdefault(key[0], []).append(review)

    @classmethod
    def load(cls, path: Path | None = None) -> FantanoScores:
        """Read a scores table.

        Parameters
        ----------
        path : Path, optional
            A table in the format above; None for the bundled one.

        Returns
        -------
        FantanoScores
            The reviews, looked up by normalized artist and album.

        Raises
        ------
        ScoresError
            When the file is missing, lacks a column or has a row without a score 0..10.
        """
        path = BUNDLED if path is None else Path(path)
        try:
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = set(COLUMNS) - set(reader.fieldnames or ())
                if missing:
                    raise ScoresError(f"{path} lacks the columns {sorted(missing)}")
                return cls([_review(path, reader.line_num, row) for row in reader])
        except FileNotFoundError as e:
            raise ScoresError(f"Fantano's scores table {path} was not found") from e
        except UnicodeDecodeError as e:
            raise ScoresError(f"{path} is not UTF-8 text") from e

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, artist: str, album: str) -> FantanoReview | None:
        """Fantano's review of this album, or None when he did not review it (or not with a score).

        Parameters
        ----------
        artist : str
            Artist name as typed; matched normalized.
        album : str
            Album title as typed; matched normalized.

        Returns
        -------
        FantanoReview or None
            The review with its 0..10 score, or None.
        """
        return self._by_key.get(album_key(artist, album))

    def artist_scores(self, artist: str) -> tuple[int, ...]:
        """His scores of every album of ``artist`` he reviewed, oldest first (the taste model's history).

        Parameters
        ----------
        artist : str
            Artist name as written anywhere (a request, file tags, yt-dlp metadata); matched normalized.

        Returns
        -------
        tuple[int, ...]
            Scores 0..10 ordered by review date (reviews without a date first, in table order); () for an
            artist he never reviewed.
        """
        reviews = self._history.get(album_key(artist, "")[0], [])
        return tuple(r.score for r in sorted(reviews, key=lambda r: r.published))

    def artists(self, prefix: str, limit: int = 25) -> list[str]:
        """Reviewed artists matching what a user typed so far, for autocomplete.

        Names starting with ``prefix`` come first, then names with a later word starting with it
        ("beat" finds "The Beatles"); each group alphabetical. An empty prefix lists from the start.

        Parameters
        ----------
        prefix : str
            What the user typed so far; matched normalized.
        limit : int
            Most names to return.

        Returns
        -------
        list[str]
            Artist names as written in the table, at most ``limit``.
        """
        return _complete(self._artists, normalize_title(prefix), limit)

    def albums(self, artist: str, prefix: str, limit: int = 25) -> list[str]:
        """Reviewed albums of ``artist`` matching ``prefix``, for autocomplete (ordered as artists()).

        Parameters
        ----------
        artist : str
            Artist name; matched normalized.
        prefix : str
            What the user typed so far; matched normalized.
        limit : int
            Most titles to return.

        Returns
        -------
        list[str]
            Album titles as written in the table, at most ``limit``; empty for an unknown artist.
        """
        titles = self._albums.get(album_key(artist, "")[0], [])
        return _complete({normalize_title(t): t for t in titles}, normalize_title(prefix), limit)


def dump(reviews: Iterable[FantanoReview], path: Path) -> int:
    """Write reviews as a scores table (UTF-8, the columns above); return the number of rows.

    The table is written beside ``path`` and renamed into place, so a reader never sees half of it.

    Parameters
    ----------
    reviews : Iterable[FantanoReview]
        The reviews to write, in table order.
    path : Path
        Where the table goes; replaced if it exists.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    ScoresError
        When a favourite track's name contains "|" (it could not be read back).
    """
    rows = []
    for r in reviews:
        if any("|" in f for f in r.favourites):
            raise ScoresError(f"a favourite track of {r.artist} - {r.album} contains '|'")
        year = "" if r.year is None else r.year
        picks = PICK_SEPARATOR.join(r.favourites)
        rows.append([r.artist, r.album, year, r.score, picks, r.least_favourite or "", r.published,
                     PICK_SEPARATOR.join(r.genres)])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS + OPTIONAL_COLUMNS)
    writer.writerows(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)


def _review(path: Path, line: int, row: dict[str, str]) -> FantanoReview:
    score, year = row["score"].strip(), row["year"].strip()
    if not score.isdigit() or int(score) > 10 or (year and not year.isdigit()):
        raise ScoresError(f"{path}, line {line}: the score must be 0..10 and the year a number")
    return FantanoReview(
        artist=row["artist"],
        album=row["album"],
        year=int(year) if year else None,
        score=int(score),
        favourites=tuple(f.strip() for f in row["favourites"].split("|") if f.strip()),
        least_favourite=row["least_favourite"] or None,
        published=(row.get("published") or "").strip(),
        genres=tuple(g.strip() for g in (row.get("genres") or "").split("|") if g.strip()),
    )


def _complete(names: dict[str, str], prefix: str, limit: int) -> list[str]:
    """Display names whose normalized key starts with prefix, then those with a word starting with it."""
    first = sorted((k, v) for k, v in names.items() if k.startswith(prefix))
    later = sorted((k, v) for k, v in names.items() if not k.startswith(prefix) and f" {prefix}" in f" {k}")
    return [v for _, v in (first + later)[:limit]]
