"""Fantano's taste from whatever evidence a request brings -> P(score 0..10), served from LiteRT.

Evidence comes in four groups, each optional (the network was trained with groups masked at random, so
it answers any subset; with none it gives his overall histogram):

- ``artist``: his earlier reviews of the artist (count, mean, latest), from the bundled review table;
- ``genre``: genre names in his own vocabulary (his tags in training; MusicBrainz release-group genres
  for ``/album``), each read through his earlier scores for that tag;
- ``heard``: the tagger's tags (MSD / MTT names) read through ONE table, ``model/tag_table.csv``, that
  maps a tag name to terms of his vocabulary; a tag's evidence is his score record on reviews whose tags
  contain one of its terms;
- ``sound``: the seed's bridge (26 librosa means and variances -> GTZAN genre, ``model.scorer``), read
  as his mean score per GTZAN genre.

Each group becomes a few numbers (``FEATURE_NAMES``) computed by `TasteStats` from reviews published
before the moment rated: training walks his reviews in date order and adds each one only after its own
vector was built (so no review ever sees itself or a later one); serving uses the statistics of every
review up to the build, stored in the card. His score for a reviewed album overrides the network
(`anchored`): it anchors the album and its tracks, his FAV TRACKS go up a point, his LEAST FAV TRACK down.

The integer score is read off the whole distribution: the k of least expected absolute error after ten
per-score offsets (``model.calibration.score_from_distribution``), fitted so that over reviews rated with
the evidence the bot would have had the integers follow his histogram. Weak evidence leaves the
distribution near his overall histogram, which peaks at 7, so its integer stays at 6-7 (measured in
training/reports/stability.md): nothing stretches a narrow band over 1..10.
The nine thresholds on the expected score still place it in its band for the verdict's words and
calibrate albums (``model.album``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model import MODEL_DIR
from model.calibration import score_from_distribution
from model.scorer import N_SCORES, ModelError, Rating, SectionRating, sha256_file

if TYPE_CHECKING:
    from model.features import Section

log = logging.getLogger(__name__)

TASTE_TFLITE = "taste.tflite"
TASTE_KERAS = "taste.keras"
TASTE_CARD = "taste_card.json"
TAG_TABLE = "tag_table.csv"
REBUILD_HINT = "Rebuild it with `python -m training taste --data ../shared/data`."

ARTIST_PSEUDO = 2.0  # pseudo-reviews at his running mean behind an artist's record (chosen on validation)
TAG_PSEUDO = 10.0  # the same for a genre's record: tags are shared by many albums, so they move less
GOOD, POOR = 8, 5  # "share >= 8" and "share <= 5" summarise a record's distribution beside its mean
RECENT = 100  # his latest reviews, whose mean tracks his drift over the years
GROUPS: dict[str, tuple[str, ...]] = {
    "context": ("overall_mean", "recent_mean"),
    "artist": ("artist_known", "artist_reviewed", "artist_log_count", "artist_mean", "artist_latest"),
    **{
        group: (f"{group}_present", f"{group}_log_count", f"{group}_mean", f"{group}_max", f"{group}_min",
                f"{group}_good", f"{group}_poor")
        for group in ("genre", "heard")
    },
    "sound": ("sound_present", "sound_mean"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)
MASKABLE = ("artist", "genre", "heard", "sound")
# Below these the rating says it has little to go on (see `strength`).
STRONG_ARTIST_REVIEWS = 2
HEARD_TAGS = 5  # the tagger's top tags that count as heard; their probabilities weigh them
ALBUM_KERNEL = (0.15, 0.7, 0.15)  # around his own score: he rounds, so a point either side stays possible

_WORD = r"(?<![a-z0-9])"


@dataclass(frozen=True)
class ArtistHistory:
    """His earlier reviews of one artist: how many, their mean score and the latest one (0..10)."""

    count: int
    mean: float
    latest: int


@dataclass(frozen=True)
class AlbumReview:
    """His review of the album the song is on: his score 0..10 and whether the track is among his picks."""

    score: int
    favourite: bool = False
    least_favourite: bool = False


@dataclass(frozen=True)
class Evidence:
    """What one request knows about a song; every part optional.

    Attributes
    ----------
    tags : sequence of (str, float)
        Heard tags (MSD / MTT names) with probabilities 0..1, any order.
    means, variances : np.ndarray or None
        The 26 librosa features' means and variances over frames (model.FEATURE_NAMES order).
    genres : sequence of str
        Genre names (MusicBrainz release-group genres, or his own tags).
    artist_known : bool
        Whether the request named an artist at all (an artist he never reviewed is evidence too).
    artist : ArtistHistory or None
        His earlier reviews of that artist; None when he reviewed none or the artist is unknown.
    album : AlbumReview or None
        His review of the song's album.
    """

    tags: Sequence[tuple[str, float]] = ()
    means: np.ndarray | None = None
    variances: np.ndarray | None = None
    genres: Sequence[str] = ()
    artist_known: bool = False
    artist: ArtistHistory | None = None
    album: AlbumReview | None = None


@dataclass
class Record:
    """Counts of a set of reviews: n, the sum of scores, how many scored >= GOOD and <= POOR."""

    n: float = 0.0
    total: float = 0.0
    good: float = 0.0
    poor: float = 0.0

    def add(self, score: int, weight: float = 1.0) -> None:
        """Count one review of integer ``score`` with ``weight``."""
        self.n += weight
        self.total += weight * score
        self.good += weight * (score >= GOOD)
        self.poor += weight * (score <= POOR)

    def as_list(self) -> list[float]:
        """[n, total, good, poor], as the card stores it."""
        return [self.n, self.total, self.good, self.poor]


def load_tag_table(path: Path) -> dict[str, tuple[str, ...]]:
    """The tag table: normalized tag name -> terms of his vocabulary (() for a tag mapped to nothing).

    Parameters
    ----------
    path : Path
        A CSV with columns ``name, source, terms, why``; terms are ``;``-separated.

    Returns
    -------
    dict[str, tuple[str, ...]]

    Raises
    ------
    ModelError
        The table is missing or lacks a column.
    """
    try:
        with Path(path).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ModelError(f"The tag table {path} cannot be read ({e}). {REBUILD_HINT}") from e
    if rows and not {"name", "terms", "why"} <= set(rows[0]):
        raise ModelError(f"The tag table {path} lacks the columns name, terms, why")
    table: dict[str, tuple[str, ...]] = {}
    for row in rows:
        terms = tuple(t.strip().lower() for t in row["terms"].split(";") if t.strip())
        table[normalize_name(row["name"])] = table.get(normalize_name(row["name"]), ()) + terms
    return table


def normalize_name(name: str) -> str:
    """A genre or tag name as compared here: lower case, "&" unescaped, single spaces ("Hip-Hop" stays)."""
    return " ".join(name.replace("\\u0026", "&").replace("’", "'").lower().split())


def term_matches(term: str, tag: str) -> bool:
    """Whether ``term`` occurs in ``tag`` as whole words ("rock" in "post-rock", not in "krautrock")."""
    return re.search(_WORD + re.escape(term) + r"(?![a-z0-9])", tag) is not None


class TasteStats:
    """His review record up to a moment: overall, per artist, per tag, per tag-table name, per GTZAN genre.

    Training adds reviews in date order (`add`) and reads `features` before adding each; serving
    rebuilds the final state from the card (`from_card`).

    Parameters
    ----------
    tag_table : Mapping[str, tuple[str, ...]]
        `load_tag_table`'s table.
    n_sound : int
        Number of GTZAN genres of the sound route.
    """

    def __init__(self, tag_table: Mapping[str, tuple[str, ...]], n_sound: int) -> None:
        self.tag_table = dict(tag_table)
        self.overall = Record()
        self.recent: list[int] = []
        self.artists: dict[str, list[int]] = {}
        self.tags: dict[str, Record] = {}
        self.names: dict[str, Record] = {name: Record() for name, terms in self.tag_table.items() if terms}
        self.sound = [Record() for _ in range(n_sound)]

    def add(self, *, score: int, artist: str, tags: Iterable[str], sound_weights: Sequence[float]) -> None:
        """Count one review: his integer score, the artist key, his tags and its GTZAN genre weights.

        Parameters
        ----------
        score : int
            0..10.
        artist : str
            The artist's key (sources.names.normalize_title).
        tags : iterable of str
            His genre tags for it.
        sound_weights : sequence of float
            (n_sound,) its GTZAN genre weights (summing to 1, or 0 when no tag maps).
        """
        self.overall.add(score)
        self.recent = [*self.recent[-(RECENT - 1):], score]
        self.artists.setdefault(artist, []).append(score)
        tags = [normalize_name(t) for t in tags]
        for tag in set(tags):
            self.tags.setdefault(tag, Record()).add(score)
        for name, terms in self.tag_table.items():
            if terms and any(term_matches(term, tag) for term in terms for tag in tags):
                self.names[name].add(score)
        for record, weight in zip(self.sound, sound_weights, strict=True):
            if weight > 0:
                record.add(score, float(weight))

    def artist_history(self, artist: str) -> ArtistHistory | None:
        """His earlier reviews of ``artist`` (a key), or None."""
        scores = self.artists.get(artist)
        return ArtistHistory(len(scores), float(np.mean(scores)), scores[-1]) if scores else None

    @property
    def mean(self) -> float:
        """His mean score so far (6.5 before any review)."""
        return self.overall.total / self.overall.n if self.overall.n else 6.5

    def features(self, evidence: Evidence, *, sound: np.ndarray | None = None) -> np.ndarray:
        """The network's input row for ``evidence`` given the reviews counted so far.

        Parameters
        ----------
        evidence : Evidence
            Its ``album`` is ignored here (see `anchored`); ``means``/``variances`` are read only
            through ``sound``.
        sound : np.ndarray, optional
            (n_sound,) GTZAN genre probabilities heard by the bridge; None for no sound evidence.

        Returns
        -------
        np.ndarray
            (len(FEATURE_NAMES),) float64.
        """
        mu = self.mean
        recent = float(np.mean(self.recent)) if self.recent else mu
        row = {"overall_mean": mu - 6.5, "recent_mean": recent - mu}
        history = evidence.artist
        if evidence.artist_known:
            row["artist_known"] = 1.0
        if history is not None and history.count > 0:
            row |= {
                "artist_reviewed": 1.0,
                "artist_log_count": math.log1p(history.count),
                "artist_mean": (history.mean * history.count + ARTIST_PSEUDO * mu)
                / (history.count + ARTIST_PSEUDO) - mu,
                "artist_latest": history.latest - mu,
            }
        # A name he tagged himself reads through its own record; another (MusicBrainz) through the table.
        names = dict.fromkeys(normalize_name(g) for g in evidence.genres)
        genre = [(self.tags[g] if g in self.tags else self.names.get(g), 1.0) for g in names]
        row |= self._pooled("genre", genre, mu)
        top = sorted(evidence.tags, key=lambda t: -t[1])[:HEARD_TAGS]
        row |= self._pooled("heard", [(self.names.get(normalize_name(t)), float(p)) for t, p in top], mu)
        if sound is not None:
            means = np.array([(r.total + TAG_PSEUDO * mu) / (r.n + TAG_PSEUDO) for r in self.sound])
            row |= {"sound_present": 1.0, "sound_mean": float(np.asarray(sound) @ means) - mu}
        return np.array([row.get(name, 0.0) for name in FEATURE_NAMES])

    def _pooled(self, group: str, records: list[tuple[Record | None, float]], mu: float) -> dict[str, float]:
        found = [(r, w) for r, w in records if r is not None and r.n > 0 and w > 0]
        if not found:
            return {}
        n = sum(w * r.n for r, w in found)
        good_share = self.overall.good / self.overall.n
        poor_share = self.overall.poor / self.overall.n

        def shrunk(total: float, count: float) -> float:
            return (total + TAG_PSEUDO * mu) / (count + TAG_PSEUDO) - mu

        each = [shrunk(r.total, r.n) for r, _ in found]
        return {
            f"{group}_present": 1.0,
            f"{group}_log_count": math.log1p(n),
            f"{group}_mean": shrunk(sum(w * r.total for r, w in found), n),
            f"{group}_max": max(each),
            f"{group}_min": min(each),
            f"{group}_good": (sum(w * r.good for r, w in found) + TAG_PSEUDO * good_share) / (n + TAG_PSEUDO)
            - good_share,
            f"{group}_poor": (sum(w * r.poor for r, w in found) + TAG_PSEUDO * poor_share) / (n + TAG_PSEUDO)
            - poor_share,
        }

    def to_card(self) -> dict:
        """The state serving needs (no artist lists: the bundled review table has those)."""
        return {
            "overall": self.overall.as_list(),
            "recent": list(self.recent),
            "tags": {t: r.as_list() for t, r in sorted(self.tags.items())},
            "names": {t: r.as_list() for t, r in sorted(self.names.items())},
            "sound": [r.as_list() for r in self.sound],
        }

    @classmethod
    def from_card(cls, block: dict, tag_table: Mapping[str, tuple[str, ...]]) -> TasteStats:
        """The state `to_card` wrote, with the tag table it was counted with."""
        stats = cls(tag_table, len(block["sound"]))
        stats.overall = Record(*block["overall"])
        stats.recent = [int(s) for s in block["recent"]]
        stats.tags = {t: Record(*v) for t, v in block["tags"].items()}
        stats.names = {t: Record(*v) for t, v in block["names"].items()}
        stats.sound = [Record(*v) for v in block["sound"]]
        return stats


@dataclass(frozen=True)
class TasteRating:
    """What `Taste.rate` found: the rating and the evidence it rests on.

    Attributes
    ----------
    rating : Rating
        Score 1..10, expected score, distribution, the bridge's genres; ``evidence`` set.
    basis : tuple[str, ...]
        The evidence groups used, e.g. ("artist", "genre"), or ("review",) for his own album score.
    """

    rating: Rating
    basis: tuple[str, ...] = field(default=())


def strength(basis: Sequence[str], artist: ArtistHistory | None) -> str:
    """How much a rating rests on: "review", "strong", "some" or "little" (the reply words it).

    His own album review is "review"; two or more earlier reviews of the artist, or his record on the
    album's genres together with any artist review, "strong"; genres or one artist review, "some";
    only the sound (heard tags, the bridge), or nothing, "little".

    Parameters
    ----------
    basis : sequence of str
        The groups used.
    artist : ArtistHistory or None
        His earlier reviews of the artist.

    Returns
    -------
    str
    """
    if "review" in basis:
        return "review"
    reviews = artist.count if artist else 0
    if reviews >= STRONG_ARTIST_REVIEWS or (reviews and "genre" in basis):
        return "strong"
    if reviews or "genre" in basis:
        return "some"
    return "little"


def anchored(album: AlbumReview) -> tuple[int, np.ndarray]:
    """His album score as a track's score and distribution: picks move a point up or down.

    Parameters
    ----------
    album : AlbumReview

    Returns
    -------
    score : int
        1..10.
    distribution : np.ndarray
        (11,) ALBUM_KERNEL centred on the score (mass beyond 0..10 folded back in).
    """
    score = album.score + (1 if album.favourite else 0) - (1 if album.least_favourite else 0)
    score = int(np.clip(score, 1, 10))
    dist = np.zeros(N_SCORES)
    for offset, p in zip((-1, 0, 1), ALBUM_KERNEL, strict=True):
        dist[int(np.clip(score + offset, 0, 10))] += p
    return score, dist


def histogram_tv(scores: np.ndarray, reference: np.ndarray) -> float:
    """Total variation between the histograms of two sets of integer scores over 1..10 (0 counted as 1).

    Parameters
    ----------
    scores, reference : np.ndarray
        (n,) and (m,) integer scores 0..10.

    Returns
    -------
    float
        0..1: half the sum of absolute differences of the shares.
    """
    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.clip(np.asarray(values, np.int64), 1, 10) - 1, minlength=10)
        return counts / counts.sum()

    return float(0.5 * np.abs(shares(scores) - shares(reference)).sum())


class Taste:
    """The loaded taste model: `rate` takes an `Evidence` and gives a `TasteRating`.

    Parameters
    ----------
    card : dict
        ``taste_card.json``.
    interpreter : object
        A LiteRT interpreter with tensors allocated.
    stats : TasteStats
        His record at build time (from the card).
    sound : object or None
        A ``model.scorer.Scorer`` (the bridge) giving GTZAN genre probabilities from the 26 features; None
        without sound evidence.
    """

    def __init__(self, card: dict, interpreter: object, stats: TasteStats, sound: object | None) -> None:
        self.card = card
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self.stats = stats
        self.sound = sound
        self.thresholds: tuple[float, ...] = tuple(card["calibration"]["thresholds"])
        self.album_thresholds: tuple[float, ...] = tuple(card["calibration"]["album_thresholds"])
        self._offsets = np.asarray(card["calibration"]["offsets"], dtype=np.float64)
        details = interpreter.get_input_details()
        if len(details) != 1 or int(details[0]["shape"][-1]) != len(FEATURE_NAMES):
            raise ModelError(f"The taste model does not take the {len(FEATURE_NAMES)} inputs. {REBUILD_HINT}")
        self._input = details[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]

    @classmethod
    def load(cls, directory: Path = MODEL_DIR, *, sound: object | None = None) -> Taste:
        """Read ``taste.tflite``, ``taste_card.json`` and ``tag_table.csv``, checking they belong together.

        Parameters
        ----------
        directory : Path
            The model directory.
        sound : Scorer, optional
            The bridge for sound evidence (``Scorer.load(directory)``).

        Raises
        ------
        ModelError
            A file is missing, unreadable, or does not match the card.
        """
        from ai_edge_litert.interpreter import Interpreter

        directory = Path(directory)
        card = read_card(directory)
        table = load_tag_table(directory / TAG_TABLE)
        tflite = directory / TASTE_TFLITE
        if not tflite.is_file() or sha256_file(tflite) != card.get("sha256", {}).get(TASTE_TFLITE):
            raise ModelError(f"The model file {tflite} is missing or does not match its card. {REBUILD_HINT}")
        if sha256_file(directory / TAG_TABLE) != card.get("sha256", {}).get(TAG_TABLE):
            raise ModelError(f"The tag table is not the one the taste model was built with. {REBUILD_HINT}")
        try:
            interpreter = Interpreter(model_path=str(tflite), num_threads=1)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"The model file {tflite} could not be loaded ({e}). {REBUILD_HINT}") from e
        return cls(card, interpreter, TasteStats.from_card(card["stats"], table), sound)

    def distribution(self, row: np.ndarray) -> np.ndarray:
        """The network's P(score 0..10) for one input row (len(FEATURE_NAMES),)."""
        with self._lock:
            self._interpreter.set_tensor(self._input, np.asarray(row, np.float32)[np.newaxis, :])
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._output)[0].astype(np.float64)
        out = np.clip(out, 0.0, None)
        return out / out.sum()

    def rate(self, *, evidence: Evidence) -> TasteRating:
        """Rate one song (or section) from its evidence.

        Parameters
        ----------
        evidence : Evidence

        Returns
        -------
        TasteRating

        Raises
        ------
        ValueError
            Sound features of the wrong shape or not finite (from the bridge).
        """
        genres: tuple[tuple[str, float], ...] = ()
        probabilities = None
        if evidence.means is not None and self.sound is not None:
            probabilities = self.sound.genre_probabilities(evidence.means, evidence.variances)
            if probabilities.size:
                genres = self.sound.top_genres(probabilities)
            else:  # a model without genres (a `fit` model) gives no sound evidence the taste model reads
                probabilities = None
        row = self.stats.features(evidence, sound=probabilities)
        basis = tuple(g for g in MASKABLE if row[FEATURE_NAMES.index(GROUPS[g][1 if g == "artist" else 0])])
        if evidence.album is not None:
            score, dist = anchored(evidence.album)
            basis = ("review", *basis)
        else:
            dist = self.distribution(row)
            score = int(score_from_distribution(dist, self._offsets)[0])
        rating = Rating(
            score=score,
            expected=float(dist @ np.arange(N_SCORES)),
            distribution=tuple(float(p) for p in dist),
            genres=genres,
            evidence=strength(basis, evidence.artist),
        )
        return TasteRating(rating, basis)

    def rate_sections(self, sections: Sequence[Section], *, evidence: Evidence) -> tuple[SectionRating, ...]:
        """Rate each section with the song's evidence and the section's own sound.

        Parameters
        ----------
        sections : Sequence[Section]
            The song's sections (model.features.Section).
        evidence : Evidence
            The song's evidence; its sound is replaced by each section's.

        Returns
        -------
        tuple[SectionRating, ...]
            One per section, in order.
        """
        return tuple(
            SectionRating(s.start_s, s.end_s, self.rate(evidence=replace(
                evidence, means=s.values, variances=s.variances)).rating)
            for s in sections
        )


def load_taste(directory: Path = MODEL_DIR) -> Taste:
    """The taste model of a model directory with the bridge (``Scorer``) as its sound route.

    Raises
    ------
    ModelError
        Either model is missing or does not match its card.
    """
    from model.scorer import Scorer

    return Taste.load(directory, sound=Scorer.load(directory))


def read_card(directory: Path) -> dict:
    """``taste_card.json`` of a model directory, checked for the fields serving reads.

    Raises
    ------
    ModelError
        Missing, unreadable, or without the fields.
    """
    path = Path(directory) / TASTE_CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"The taste card {path} is missing or unreadable ({e}). {REBUILD_HINT}") from e
    if not isinstance(card, dict) or card.get("feature_names") != list(FEATURE_NAMES):
        raise ModelError(f"The taste card {path} was built for other inputs than this code. {REBUILD_HINT}")
    for key in ("thresholds", "album_thresholds"):
        values = card.get("calibration", {}).get(key)
        if not isinstance(values, list) or len(values) != 9 or np.any(np.diff(values) < 0):
            raise ModelError(f"The taste card's {key} are not 9 monotone thresholds. {REBUILD_HINT}")
    offsets = card.get("calibration", {}).get("offsets")
    if not isinstance(offsets, list) or len(offsets) != 10 or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in offsets):
        raise ModelError(f"The taste card's offsets are not 10 numbers. {REBUILD_HINT}")
    if "stats" not in card:
        raise ModelError(f"The taste card {path} holds no review statistics. {REBUILD_HINT}")
    return card
