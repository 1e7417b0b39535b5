"""Read and clean a table of Fantano reviews, in the Kaggle format or the fantano-fetcher format.

Kaggle ``fantano_reviews.csv`` (cp1252, leading index column): ``title, artist, review_date, review_type,
score, word_score, best_tracks, worst_track, link`` where ``best_tracks`` is a Python list literal.
Fetcher ``fantano_fetcher_reviews.csv`` (UTF-8): ``video_id, title, artist, album, publish_date, rating,
fav_tracks, least_fav_track, ...`` where ``fav_tracks`` is comma-separated and ``rating`` may be
``classic``. The format is told from the header.
"""

from __future__ import annotations

import ast
import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.sources.tracklists import normalize_title

log = logging.getLogger(__name__)

# Picks that name no track: placeholders and "all of them".
_NOT_TRACKS = {"", "n a", "na", "none", "all", "all of them"}
# PLANNINGTOROCK "All Love's Legal": an April Fools' pair of videos scored 10 and 0, not real reviews.
_JOKE_REVIEWS = {("planningtorock", "all love s legal")}
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")


@dataclass(frozen=True)
class Review:
    album_id: str  # the review's YouTube video id when known, else a slug of artist and album
    artist: str
    album: str
    score: int  # 0..10
    favourites: tuple[str, ...]
    least_favourite: str | None


@dataclass
class CleanReport:
    """What reading a review table kept and dropped; ``dropped`` counts rows per reason."""

    format: str
    rows: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common()) or "none"
        return f"{self.format} table: {self.rows} rows, kept {self.kept}; dropped: {reasons}"


def read_reviews(path: Path) -> tuple[list[Review], CleanReport]:
    """Read a review table (either format), clean it and return the reviews in file order.

    Raises ValueError with a message naming the file when its header matches neither format.
    """
    text = _decode(Path(path).read_bytes())
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = {name.strip() for name in reader.fieldnames or []}
    if {"video_id", "album", "rating", "fav_tracks"} <= header:
        report, rows = CleanReport("fetcher"), _fetcher_rows(reader)
    elif {"title", "artist", "score", "best_tracks", "link"} <= header:
        report, rows = CleanReport("kaggle"), _kaggle_rows(reader)
    else:
        raise ValueError(
            f"{path}: not a review table I know (need the Kaggle fantano_reviews.csv columns or "
            f"the fantano-fetcher columns); header was {sorted(header)}"
        )
    reviews: list[Review] = []
    seen: set[tuple[str, str]] = set()
    for review in rows:
        report.rows += 1
        if isinstance(review, str):
            report.dropped[review] += 1
            continue
        key = (normalize_title(review.artist), normalize_title(review.album))
        if key in _JOKE_REVIEWS:
            report.dropped["April Fools' joke review"] += 1
        elif key in seen:
            report.dropped["duplicate album"] += 1
        else:
            seen.add(key)
            reviews.append(review)
    report.kept = len(reviews)
    log.info("%s: %s", path, report)
    return reviews, report


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes, else cp1252, the Kaggle file's encoding."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _kaggle_rows(reader: csv.DictReader) -> Iterator[Review | str]:
    """One Review per row, or the reason the row is unusable."""
    for row in reader:
        video_id = _video_id_from_link(row.get("link") or "")
        yield _review(
            video_id,
            row.get("artist") or "",
            row.get("title") or "",
            row.get("score") or "",
            _list_literal(row.get("best_tracks") or ""),
            row.get("worst_track") or "",
        )


def _fetcher_rows(reader: csv.DictReader) -> Iterator[Review | str]:
    for row in reader:
        video_id = (row.get("video_id") or "").strip()
        yield _review(
            video_id if _VIDEO_ID.fullmatch(video_id) else None,
            row.get("artist") or "",
            row.get("album") or "",
            row.get("rating") or "",
            (row.get("fav_tracks") or "").split(","),
            row.get("least_fav_track") or "",
        )


def _review(
    video_id: str | None, artist: str, album: str, score: str, favourites: list[str], least: str
) -> Review | str:
    artist, album = " ".join(artist.split()), " ".join(album.split())
    if not artist or not album:
        return "no artist or album"
    value = _score(score)
    if value is None:
        return "no numeric score"
    picks = tuple(dict.fromkeys(p for p in (" ".join(f.split()) for f in favourites) if _is_track(p)))
    least = " ".join(least.split())
    return Review(
        album_id=video_id or _slug(f"{artist} {album}"),
        artist=artist,
        album=album,
        score=value,
        favourites=picks,
        least_favourite=least if _is_track(least) else None,
    )


def _score(text: str) -> int | None:
    """An integer score 0..10 from "8", "8.0"; None for blanks, words ("classic") and anything else."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() and 0 <= value <= 10 else None


def _list_literal(text: str) -> list[str]:
    """Parse a Python list literal of strings safely (literal_eval evaluates no code); [] when it is not."""
    try:
        value = ast.literal_eval(text.strip()) if text.strip() else []
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _is_track(pick: str) -> bool:
    return normalize_title(pick) not in _NOT_TRACKS and any(c.isalnum() for c in pick)


def _video_id_from_link(link: str) -> str | None:
    parts = urlsplit(link.strip())
    candidates = parse_qs(parts.query).get("v", [])
    if parts.hostname and parts.hostname.endswith("youtu.be"):
        candidates.append(parts.path.strip("/"))
    return next((c for c in candidates if _VIDEO_ID.fullmatch(c)), None)


def _slug(text: str) -> str:
    return "-".join(normalize_title(text).split())
