"""Read and clean tables of Fantano's reviews: the one home of review reading for bridge, collect and fit.

Three formats, told apart by their header:

- Kaggle ``fantano_reviews.csv`` (cp1252, leading index column): ``title, artist, review_date,
  review_type, score, word_score, best_tracks, worst_track, link`` where ``best_tracks`` is a Python
  list literal.
- fantano-fetcher ``fantano_fetcher_reviews.csv`` (UTF-8): ``video_id, title, artist, album,
  publish_date, rating, fav_tracks, least_fav_track, ..., genres`` where ``fav_tracks`` and ``genres``
  are comma-separated and ``rating`` may be ``classic``.
- tnd ``tnd_reviews.csv`` (UTF-8): ``publishedAt, artist, title, rating, genres`` with ``;;``-separated
  genres and no track picks.

Cleaning is the same for all: rows without an artist, an album or an integer score 0..10 are dropped,
and so is the April Fools' pair; albums are deduplicated by ``sources.names.album_key`` (the first
row wins, its empty genre tags completed from a later duplicate). The Kaggle table's track picks are
also untokenized (see :func:`untokenized`).
"""

from __future__ import annotations

import ast
import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sources.fantano import FantanoReview
from sources.names import album_key, normalize_title
from training.genres import normalize_tag

log = logging.getLogger(__name__)

TND = "tnd_reviews.csv"
FETCHER = "fantano_fetcher_reviews.csv"
KAGGLE = "fantano_reviews.csv"

# Picks that name no track: placeholders and "all of them".
_NOT_TRACKS = {"", "n a", "na", "none", "all", "all of them"}
# PLANNINGTOROCK "All Love's Legal": an April Fools' pair of videos scored 10 and 0, not real reviews.
_JOKE_REVIEWS = {album_key("Planningtorock", "All Love's Legal")}
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_NO_NAME, _NO_SCORE = "no artist or album", "no numeric score"
_JOKE, _DUPLICATE = "April Fools' joke review", "duplicate album"

# The Kaggle table's picks went through a word tokenizer: punctuation stands alone between spaces
# ("ST . TROPEZ", "' 03 ADOLESCENCE", "MILLS ( IF I HAD TO PICK ONE ... )"), and a few carry the
# YouTube description's HTML links ("< a href = ... > 4:44 </a>"). untokenized() glues them back.
_LINK = re.compile(r"<\s*a\b[^>]*>(.*?)<\s*/\s*a\s*>", re.IGNORECASE)  # an <a> tag: its text is the name
_CLOSING = re.compile(r"[.,!?:;%)\]]+")  # glued to the word before ("WAY .", "ONE ... )")
_OPENING = {"(", "["}  # glued to the token after
_ELIDED = {"em", "cause", "round", "tis", "til", "bout", "nuff"}  # "' EM": the apostrophe starts the word
_SUFFIXES = {"s", "t", "ll", "re", "ve", "d", "m"}  # "7 ' S": a contraction, glued on both sides
_INITIALS = re.compile(r"(?<![\w'])(\w)\. (?=\w\.)")  # "F. U. T." -> "F.U.T." (after _CLOSING glued the dots)
_LAST_INITIAL = re.compile(r"(?<![\w'])((?:\w\.){2,}) (\w)\b(?!\.)")  # "B.O. B VS" -> "B.O.B VS"


class DataError(ValueError):
    """Bad training input: a table missing, unreadable or malformed. The message names the file.

    The training CLI prints it as one line and exits with status 2; it subclasses ValueError because
    that is what it is (a bad value from outside), so callers catching ValueError keep working.
    """


@dataclass(frozen=True)
class Review:
    """One review: an album, Fantano's integer score and what the table says about its tracks and genres."""

    album_id: str  # the review's YouTube video id when known, else a slug of artist and album
    artist: str
    album: str
    score: int  # 0..10
    favourites: tuple[str, ...] = ()
    least_favourite: str | None = None
    tags: tuple[str, ...] = ()  # genre tags, normalized by training.genres.normalize_tag
    year: int | None = None  # the year of the review video
    published: str = ""  # the review video's date, ISO (YYYY-MM-DD); "" when unknown


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


def slug(text: str) -> str:
    """A stable identifier from a name: its normalized words joined by "-" ("Café Tacvba": "cafe-tacvba").

    Parameters
    ----------
    text : str
        A name as written.

    Returns
    -------
    str
        Lower-case words joined by "-"; "" for a name without letters or digits.
    """
    return "-".join(normalize_title(text).split())


def read_rows(path: Path, columns: set[str]) -> list[dict[str, str]]:
    """All rows of a UTF-8 CSV table as dicts; DataError when it is missing or lacks a needed column.

    Parameters
    ----------
    path : Path
        The CSV file.
    columns : set[str]
        The column names the caller needs.

    Returns
    -------
    list[dict[str, str]]
        One dict per row, column name -> text.

    Raises
    ------
    DataError
        The file is missing, not UTF-8, or lacks one of ``columns``.
    """
    try:
        with Path(path).open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = columns - set(reader.fieldnames or ())
            if missing:
                raise DataError(f"{path} lacks the columns {sorted(missing)}")
            return list(reader)
    except FileNotFoundError as e:
        raise DataError(f"{path} not found") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text") from e


def read_reviews(path: Path) -> tuple[list[Review], CleanReport]:
    """Read a review table in any of the three formats, clean it, return the reviews in file order.

    Parameters
    ----------
    path : Path
        The CSV file.

    Returns
    -------
    reviews : list[Review]
        One per album, in the order of the album's first row.
    report : CleanReport
        The format and the rows kept and dropped, by reason.

    Raises
    ------
    DataError
        When the file is missing or its header matches none of the formats.
    """
    try:
        text = _decode(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise DataError(f"{path} not found") from e
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = {name.strip() for name in reader.fieldnames or []}
    if {"video_id", "album", "rating", "fav_tracks"} <= header:
        report, rows = CleanReport("fetcher"), _fetcher_rows(reader)
    elif {"title", "artist", "score", "best_tracks", "link"} <= header:
        report, rows = CleanReport("kaggle"), _kaggle_rows(reader)
    elif {"artist", "title", "rating", "genres"} <= header:
        report, rows = CleanReport("tnd"), _tnd_rows(reader)
    else:
        raise DataError(
            f"{path}: not a review table I know (need the columns of the Kaggle fantano_reviews.csv, "
            f"the fantano-fetcher table or tnd_reviews.csv); header was {sorted(header)}"
        )
    reviews = _clean(rows, report)
    log.info("%s: %s", path, report)
    return reviews, report


def load_reviews(data_dir: Path) -> tuple[list[Review], dict[str, int]]:
    """Fantano's scored album reviews from the tnd and fetcher tables together, deduplicated.

    The tnd table wins a duplicate; its empty genre tags are completed from the fetcher table.

    Parameters
    ----------
    data_dir : Path
        The shared data directory holding TND and FETCHER.

    Returns
    -------
    reviews : list[Review]
    stats : dict[str, int]
        ``tnd_rows``, ``fetcher_rows``, ``non_numeric``, ``april_fools``, ``duplicates``, ``reviews``.
    """
    tnd = read_rows(data_dir / TND, {"artist", "title", "rating", "genres"})
    fetcher = read_rows(data_dir / FETCHER, {"artist", "album", "rating", "genres"})
    report = CleanReport("tnd + fetcher")
    reviews = _clean([*_tnd_rows(tnd), *_fetcher_rows(fetcher)], report)
    stats = {
        "tnd_rows": len(tnd),
        "fetcher_rows": len(fetcher),
        "non_numeric": report.dropped[_NO_SCORE],
        "april_fools": report.dropped[_JOKE],
        "duplicates": report.dropped[_DUPLICATE],
        "reviews": len(reviews),
    }
    if report.dropped[_NO_NAME]:
        stats["no_name"] = report.dropped[_NO_NAME]
    return reviews, stats


def fantano_scores(tnd_csv: Path, kaggle_csv: Path) -> list[FantanoReview]:
    """The bundled scores table: every scored album of the tnd table (MIT) and the Kaggle table (CC0).

    The Kaggle table (to 2018) gives its albums with their favourite and least favourite tracks; the
    tnd table (to 2023, no picks) adds the albums Kaggle lacks. Where both score an album they
    disagree 32 times, and in 30 of the 31 that the fetcher table also scores, it agrees with Kaggle
    (tnd misreads some scores as 1 or 2), so Kaggle's row wins. Only these two tables may feed the
    bundled table: their licences allow it.

    Parameters
    ----------
    tnd_csv, kaggle_csv : Path
        The two source tables.

    Returns
    -------
    list[FantanoReview]
        One per album, sorted by normalized artist and album so that rebuilds diff cleanly.
    """
    merged = {album_key(r.artist, r.album): r for r in read_reviews(tnd_csv)[0]}
    for review in read_reviews(kaggle_csv)[0]:
        key = album_key(review.artist, review.album)
        tnd = merged.get(key)
        # Kaggle has no genre tags: its row keeps the tnd row's (the taste model reads them).
        merged[key] = replace(review, tags=tnd.tags) if tnd is not None and not review.tags else review
    return [_scores_row(merged[key]) for key in sorted(merged)]


def fetcher_scores(fetcher_csv: Path) -> list[FantanoReview]:
    """A scores table from the fantano-fetcher table alone (newer, to 2024), sorted like fantano_scores.

    That table's licence is unclear, so what this builds is for a local ``[sources] fantano_scores``
    setting only; it must not be bundled or committed.

    Parameters
    ----------
    fetcher_csv : Path
        The fantano-fetcher reviews table (UTF-8 CSV).

    Returns
    -------
    list[FantanoReview]
        One per usable album review, sorted by normalized (artist, album).

    Raises
    ------
    DataError
        The file is missing or its header matches none of the formats.
    """
    reviews, _ = read_reviews(fetcher_csv)
    return sorted((_scores_row(r) for r in reviews), key=lambda r: album_key(r.artist, r.album))


def _scores_row(review: Review) -> FantanoReview:
    return FantanoReview(review.artist, review.album, review.year, review.score, review.favourites,
                         review.least_favourite, review.published, review.tags)


def _clean(rows: Iterable[Review | str], report: CleanReport) -> list[Review]:
    """Count and drop unusable rows, jokes and duplicates (the first row of an album wins)."""
    by_key: dict[tuple[str, str], Review] = {}
    for review in rows:
        report.rows += 1
        if isinstance(review, str):
            report.dropped[review] += 1
            continue
        key = album_key(review.artist, review.album)
        kept = by_key.get(key)
        if key in _JOKE_REVIEWS:
            report.dropped[_JOKE] += 1
        elif kept is None:
            by_key[key] = review
        else:
            report.dropped[_DUPLICATE] += 1
            if not kept.tags and review.tags:
                by_key[key] = replace(kept, tags=review.tags)
    report.kept = len(by_key)
    return list(by_key.values())


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes, else cp1252, the Kaggle file's encoding."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _kaggle_rows(reader: Iterable[dict[str, str]]) -> Iterator[Review | str]:
    """One Review per row, or the reason the row is unusable."""
    for row in reader:
        yield _review(
            _video_id_from_link(row.get("link") or ""),
            row.get("artist") or "",
            row.get("title") or "",
            row.get("score") or "",
            favourites=[untokenized(p) for p in _list_literal(row.get("best_tracks") or "")],
            least=untokenized(row.get("worst_track") or ""),
            date=row.get("review_date") or "",
        )


def untokenized(pick: str) -> str:
    """A track pick of the Kaggle table as written: its tokenizer's spaces around punctuation removed.

    "ST . TROPEZ" -> "ST. TROPEZ", "' 03 ADOLESCENCE" -> "'03 ADOLESCENCE", "F . U . T . W ." ->
    "F.U.T.W.", "ROLLIN ' LIKE A STONER" -> "ROLLIN' LIKE A STONER", "A $ AP" -> "A$AP", a trailing
    list comma dropped, an HTML link replaced by its text. Names written normally ("'03 BONNIE & CLYDE",
    "P.S.", "MR. & MRS.", "U.F.O.") have no such tokens and come out unchanged. Only the HTML link
    changes what ``sources.names.normalize_title`` makes of a pick.

    Parameters
    ----------
    pick : str
        One favourite or least favourite track as the Kaggle table gives it.

    Returns
    -------
    str
        The pick, whitespace collapsed; "" when nothing is left.
    """
    tokens = _LINK.sub(r" \1 ", pick).split()
    lone_quote = sum(t == '"' for t in tokens) == 1
    out: list[str] = []
    glue = quote_open = False  # whether the token before asked to join the next; inside "..."
    for i, token in enumerate(tokens):
        left, right = _joins(token, out[-1] if out else "", tokens[i + 1] if i + 1 < len(tokens) else "")
        if token == '"' and out:  # paired quotes hug what they quote; a lone one (36" CHAIN) the word before
            left = quote_open or lone_quote
            right = quote_open = not left
        if (left or glue) and out:
            out[-1] += token
        else:
            out.append(token)
        glue = right
    text = _LAST_INITIAL.sub(r"\1\2", _INITIALS.sub(r"\1.", " ".join(out)))
    return text.rstrip(", ").strip()


def _joins(token: str, before: str, after: str) -> tuple[bool, bool]:
    """Whether a token of a tokenized pick joins the text before it, and the token after it."""
    word_after = after[:1].isalnum()
    if not before:  # the pick's first token: an opening mark (or an ellipsis) joins the word after it
        return False, word_after and (token in {"'", '"', "$", "#", *_OPENING} or not token.strip("."))
    if _CLOSING.fullmatch(token) or (token == "-" and before.endswith("-")):
        return True, False
    if token in _OPENING:
        return False, True
    if token == "#":
        return False, word_after
    if token == "$":  # A$AP, TOO $HORT, BADA$$, L$D
        return not after.strip("$") or (len(before) == 1 and before.isalnum()), word_after
    if token == "'":
        if after.casefold() in _SUFFIXES and before[-1].isalnum():
            return True, True
        if after.casefold() in _ELIDED or (after.isdigit() and len(after) == 2):
            return False, True
        # A dropped g or a plural's possessive (ROLLIN', SOULS', HO') joins the word before; else it opens.
        left = not word_after or before[-1].casefold() in "nsaeiou"
        return left, not left
    return False, False


def _fetcher_rows(reader: Iterable[dict[str, str]]) -> Iterator[Review | str]:
    for row in reader:
        video_id = (row.get("video_id") or "").strip()
        yield _review(
            video_id if _VIDEO_ID.fullmatch(video_id) else None,
            row.get("artist") or "",
            row.get("album") or "",
            row.get("rating") or "",
            favourites=(row.get("fav_tracks") or "").split(","),
            least=row.get("least_fav_track") or "",
            tags=(row.get("genres") or "").split(","),
            date=row.get("publish_date") or "",
        )


def _tnd_rows(reader: Iterable[dict[str, str]]) -> Iterator[Review | str]:
    for row in reader:
        yield _review(
            None,
            row.get("artist") or "",
            row.get("title") or "",
            row.get("rating") or "",
            tags=(row.get("genres") or "").split(";;"),
            date=row.get("publishedAt") or "",
        )


def _review(
    video_id: str | None,
    artist: str,
    album: str,
    score: str,
    *,
    favourites: list[str] | tuple[str, ...] = (),
    least: str = "",
    tags: list[str] | tuple[str, ...] = (),
    date: str = "",
) -> Review | str:
    artist, album = " ".join(artist.split()), " ".join(album.split())
    if not artist or not album:
        return _NO_NAME
    value = _score(score)
    if value is None:
        return _NO_SCORE
    picks = tuple(dict.fromkeys(p for p in (" ".join(f.split()) for f in favourites) if _is_track(p)))
    least = " ".join(least.split())
    return Review(
        album_id=video_id or slug(f"{artist} {album}"),
        artist=artist,
        album=album,
        score=value,
        favourites=picks,
        least_favourite=least if _is_track(least) else None,
        tags=tuple(t for t in (normalize_tag(x) for x in tags) if t),
        year=int(date[:4]) if date[:4].isdigit() else None,
        published=date[:10] if date[:4].isdigit() else "",
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
