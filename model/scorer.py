"""Audio features -> a Fantano-style rating, served from the LiteRT flatbuffer.

The model's inputs are named in its card (``feature_names``): a name from FEATURE_NAMES (or with
``_mean`` appended, as the GTZAN table spells it) is that feature's mean over the frames, the same name
with ``_var`` its variance. The bundled model takes the 26 means; one taking means and variances works
without code changes.

The `.keras` file is the source of truth; training exports `needlebot.tflite` from it and records both
hashes in `card.json`. Serving reads only the flatbuffer and the card: importing TensorFlow would cost
3-5 s and 500+ MB in the bot process, the LiteRT interpreter about 40 MB and milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model import FEATURE_NAMES, MODEL_DIR
from model.calibration import calibrate
from model.litert import load_interpreter

if TYPE_CHECKING:
    from model.features import Section

log = logging.getLogger(__name__)

TFLITE_NAME = "needlebot.tflite"
KERAS_NAME = "needlebot.keras"
CARD_NAME = "card.json"
N_SCORES = 11  # classes 0..10
GENRE_MIN_SHARE = 0.05  # genres below this (other than the top one) are noise, not "sounds like"
GENRE_NAMES = {"hiphop": "hip hop"}  # GTZAN spells it as one word
REBUILD_HINT = "Rebuild it with `python -m training bridge --data ../shared/data`."


class ModelError(Exception):
    """The model artifact is missing, corrupt or does not match this code; the message says how to fix it."""


@dataclass(frozen=True)
class Rating:
    """One song's rating.

    Attributes
    ----------
    score : int
        Calibrated integer score, 1..10.
    expected : float
        The model's expected score on 0..10 before calibration.
    distribution : tuple[float, ...]
        11 probabilities for scores 0..10, summing to 1.
    genres : tuple[tuple[str, float], ...]
        Top 3 (genre label, probability), best first; () for a model without genres.
    genre_means : tuple[float, ...]
        For each of ``genres``, the mean score 0..10 Fantano gives that genre (see genre_mean_scores);
        () when the model card has no score-given-genre table.
    evidence : str
        How much the score rests on (model.taste.strength): "review", "strong", "some" or "little";
        "" for a rating of the bridge alone (and ratings cached before it was kept).
    tags : tuple[tuple[str, float], ...]
        Every tag the tagger heard (model.tagger) with its probability, best first; () when the song was
        not tagged (ratings cached before tags were kept, sections).
    """

    score: int
    expected: float
    distribution: tuple[float, ...]
    genres: tuple[tuple[str, float], ...]
    genre_means: tuple[float, ...] = ()
    evidence: str = ""
    tags: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict:
        """The rating as JSON-safe data, as the store and ``needlebot rate --json`` keep it.

        Returns
        -------
        dict
            Keys ``score``, ``expected``, ``distribution``, ``genres``, ``genre_means``, ``evidence`` and
            ``tags``.
        """
        return {
            "score": self.score,
            "expected": self.expected,
            "distribution": list(self.distribution),
            "genres": [[label, p] for label, p in self.genres],
            "genre_means": list(self.genre_means),
            "evidence": self.evidence,
            "tags": [[tag, p] for tag, p in self.tags],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Rating:
        """The rating that `to_dict` wrote.

        Parameters
        ----------
        d : dict
            A mapping with ``score``, ``expected``, ``distribution`` and ``genres`` (``genre_means`` and
            ``tags`` too, except in ratings cached before they were kept).

        Returns
        -------
        Rating
        """
        return cls(
            score=int(d["score"]),
            expected=float(d["expected"]),
            distribution=tuple(float(p) for p in d["distribution"]),
            genres=tuple((str(label), float(p)) for label, p in d["genres"]),
            genre_means=tuple(float(m) for m in d.get("genre_means", ())),  # absent in older caches
            evidence=str(d.get("evidence", "")),  # absent in caches older than the taste model
            tags=tuple((str(tag), float(p)) for tag, p in d.get("tags", ())),
        )


@dataclass(frozen=True)
class SectionRating:
    """The rating of one ~30-s section of a song (see model.features.Section).

    Attributes
    ----------
    start_s, end_s : float
        Where the section starts and ends, in seconds of the input file.
    rating : Rating
        The section rated alone, by the same model as the whole song.
    """

    start_s: float
    end_s: float
    rating: Rating

    def to_dict(self) -> dict:
        """JSON-safe data: ``start``, ``end`` and the keys of `Rating.to_dict`.

        Returns
        -------
        dict
            Keys ``start`` and ``end`` (seconds) and those of :meth:`Rating.to_dict`.
        """
        return {"start": self.start_s, "end": self.end_s, **self.rating.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> SectionRating:
        """The section rating that `to_dict` wrote.

        Parameters
        ----------
        d : dict
            A mapping with ``start`` and ``end`` (seconds) and the keys :meth:`Rating.from_dict` reads.

        Returns
        -------
        SectionRating
        """
        return cls(float(d["start"]), float(d["end"]), Rating.from_dict(d))


def genre_display_name(label: str) -> str:
    """How a genre label reads to people: "hiphop" -> "hip hop", underscores as spaces.

    Parameters
    ----------
    label : str
        A genre label of the model card, e.g. "hiphop".

    Returns
    -------
    str
        The name to show.
    """
    return GENRE_NAMES.get(label, label.replace("_", " "))


def genre_mean_scores(card: dict) -> dict[str, float]:
    """Genre label -> the mean score (0..10) Fantano gives that genre, from the model card.

    ``card["score_given_genre"]`` holds one row per genre (``card["genres"]`` order), each a distribution
    over the scores 0..10; a genre's mean score is that row's expectation. {} for a card without them.

    Parameters
    ----------
    card : dict
        The model card.

    Returns
    -------
    dict[str, float]
        Mean score 0..10 per genre label, in ``card["genres"]`` order.

    Raises
    ------
    ModelError
        The table is not one non-negative row of 11 scores per genre, each with a positive sum.
    """
    labels, table = card.get("genres", ()), card.get("score_given_genre")
    if not labels or table is None:
        return {}
    rows = np.asarray(table, dtype=np.float64)
    if rows.shape != (len(labels), N_SCORES) or np.any(rows < 0) or np.any(rows.sum(axis=1) <= 0):
        raise ModelError(f"The model card's score-given-genre table is malformed. {REBUILD_HINT}")
    means = rows @ np.arange(N_SCORES) / rows.sum(axis=1)
    return {label: float(m) for label, m in zip(labels, means, strict=True)}


def input_columns(names: Sequence[str]) -> list[tuple[str, int]]:
    """Where each named model input comes from: ("mean" or "var", index into FEATURE_NAMES).

    Parameters
    ----------
    names : Sequence[str]
        The model's input names from its card: a feature name, optionally suffixed ``_mean`` or ``_var``.

    Returns
    -------
    list[tuple[str, int]]
        One (kind, feature index) per name, in order; a bare name means "mean".

    Raises
    ------
    ModelError
        A name whose feature this code does not compute.
    """
    columns = []
    for name in names:
        base, kind = name, "mean"
        if name.endswith(("_mean", "_var")):
            base, suffix = name.rsplit("_", 1)
            kind = "var" if suffix == "var" else "mean"
        if base not in FEATURE_NAMES:
            raise ModelError(f"The model was trained on other features than this code computes ({name}). "
                             + REBUILD_HINT)  # fmt: skip
        columns.append((kind, FEATURE_NAMES.index(base)))
    return columns


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks (a long song is never held in memory whole).

    Parameters
    ----------
    path : Path
        The file to hash.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _read_card(directory: Path) -> dict:
    path = directory / CARD_NAME
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelError(f"The model card {path} is missing. {REBUILD_HINT}") from e
    except (OSError, ValueError) as e:
        raise ModelError(f"The model card {path} is unreadable ({e}). {REBUILD_HINT}") from e
    if not isinstance(card, dict):
        raise ModelError(f"The model card {path} is not a JSON object. {REBUILD_HINT}")
    return card


def _check_card(card: dict, tflite: Path) -> None:
    names = card.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelError(f"The model card does not name the model's features. {REBUILD_HINT}")
    input_columns(names)
    if card.get("classes") != list(range(N_SCORES)):
        raise ModelError(f"The model card's score classes are not 0..10. {REBUILD_HINT}")
    thresholds = card.get("calibration", {}).get("thresholds")
    if not isinstance(thresholds, list) or len(thresholds) != 9 or np.any(np.diff(thresholds) < 0):
        raise ModelError(f"The model card's calibration table is missing or not monotone. {REBUILD_HINT}")
    album = card["calibration"].get("album_thresholds", thresholds)
    if not isinstance(album, list) or len(album) != 9 or np.any(np.diff(album) < 0):
        raise ModelError(f"The model card's album calibration is not 9 monotone thresholds. {REBUILD_HINT}")
    if not tflite.is_file():
        raise ModelError(f"The model file {tflite} is missing. {REBUILD_HINT}")
    if sha256_file(tflite) != card.get("sha256", {}).get(TFLITE_NAME):
        raise ModelError(f"The model file {tflite} does not match its card (sha256 differs). {REBUILD_HINT}")


class Scorer:
    """A loaded model: call `rate` with a song's (26,) feature means (and variances), FEATURE_NAMES order.

    Parameters
    ----------
    card : dict
        The model card (``card.json``): feature names, score classes, calibration thresholds, genres.
    interpreter : object
        A LiteRT ``Interpreter`` with its tensors allocated; use `load` rather than building one by hand.
    """

    def __init__(self, card: dict, interpreter: object) -> None:
        self.card = card
        self._interpreter = interpreter
        # The interpreter keeps per-call tensor state, so one call at a time.
        self._lock = threading.Lock()
        self._thresholds = np.asarray(card["calibration"]["thresholds"], dtype=np.float64)
        if "album_thresholds" not in card["calibration"]:
            # Cards written before album calibration: album scores come out bunched around the middle.
            log.warning("the model card has no album_thresholds; album scores use the song thresholds")
        self.album_thresholds: tuple[float, ...] = tuple(
            card["calibration"].get("album_thresholds", card["calibration"]["thresholds"])
        )
        self._genre_labels: tuple[str, ...] = tuple(card.get("genres", ()))
        self.genre_means = genre_mean_scores(card)
        self._columns = input_columns(card["feature_names"])
        self._needs_variances = any(kind == "var" for kind, _ in self._columns)
        self._input_index, self._score_index, self._genre_index = self._map_tensors()

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> Scorer:
        """Read ``needlebot.tflite`` and ``card.json`` from ``directory``, checking that they belong together.

        Parameters
        ----------
        directory : Path
            The model directory; default the bundled model next to this module.

        Returns
        -------
        Scorer

        Raises
        ------
        ModelError
            A file is missing, unreadable, or does not match the card or this code; the message says
            how to fix it.
        """
        directory = Path(directory)
        card = _read_card(directory)
        tflite = directory / TFLITE_NAME
        _check_card(card, tflite)
        try:
            interpreter = load_interpreter(tflite)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"The model file {tflite} could not be loaded ({e}). {REBUILD_HINT}") from e
        scorer = cls(card, interpreter)
        log.info("loaded %s model from %s (created %s)", card.get("kind"), directory, card.get("created"))
        return scorer

    def _map_tensors(self) -> tuple[int, int, int | None]:
        # LiteRT output names are opaque, so outputs are told apart by their width: 11 scores, N genres.
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1 or inputs[0]["shape"][-1] != len(self._columns):
            n = len(self._columns)
            raise ModelError(f"The model does not take the {n} features its card names. {REBUILD_HINT}")
        by_width = {int(d["shape"][-1]): d["index"] for d in self._interpreter.get_output_details()}
        if N_SCORES not in by_width:
            raise ModelError(f"The model has no 11-way score output. {REBUILD_HINT}")
        genre_index = None
        if self._genre_labels:
            genre_index = by_width.get(len(self._genre_labels))
            if genre_index is None:
                n = len(self._genre_labels)
                raise ModelError(f"The model has no output for its {n} genres. {REBUILD_HINT}")
        return inputs[0]["index"], by_width[N_SCORES], genre_index

    def _run(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            self._interpreter.set_tensor(self._input_index, row[np.newaxis, :].astype(np.float32))
            self._interpreter.invoke()
            scores = self._interpreter.get_tensor(self._score_index)[0].astype(np.float64)
            genres = None
            if self._genre_index is not None:
                genres = self._interpreter.get_tensor(self._genre_index)[0].astype(np.float64)
        return scores, genres

    def _row(self, features: np.ndarray, variances: np.ndarray | None) -> np.ndarray:
        """The model's input row, in the card's feature_names order."""
        sources = {"mean": np.asarray(features, dtype=np.float64)}
        if variances is not None:
            sources["var"] = np.asarray(variances, dtype=np.float64)
        elif self._needs_variances:
            raise ValueError("this model takes the features' variances too; pass variances=")
        for kind, values in sources.items():
            if values.shape != (len(FEATURE_NAMES),) or not np.all(np.isfinite(values)):
                n = len(FEATURE_NAMES)
                raise ValueError(f"expected {n} finite features ({kind}s), got shape {values.shape}")
        return np.array([sources[kind][i] for kind, i in self._columns])

    def genre_probabilities(self, features: np.ndarray, variances: np.ndarray | None = None) -> np.ndarray:
        """The bridge's P(genre) for one song, card ``genres`` order (the taste model's sound evidence).

        Parameters
        ----------
        features, variances : np.ndarray
            As for `rate`.

        Returns
        -------
        np.ndarray
            (n_genres,) probabilities; (0,) for a model without genres.
        """
        _, genres = self._run(self._row(features, variances))
        return np.zeros(0) if genres is None else genres

    def top_genres(self, genres: np.ndarray) -> tuple[tuple[str, float], ...]:
        """The 3 most probable (genre label, probability), best first, of a (n_genres,) distribution."""
        order = np.argsort(-genres, kind="stable")[:3]
        return tuple((self._genre_labels[i], float(genres[i])) for i in order)

    def rate(self, features: np.ndarray, variances: np.ndarray | None = None) -> Rating:
        """Rate one song.

        Parameters
        ----------
        features : np.ndarray
            The song's per-frame means, shape (26,), FEATURE_NAMES order, finite.
        variances : np.ndarray, optional
            The per-frame variances, shape (26,), FEATURE_NAMES order; required when the model takes them.

        Returns
        -------
        Rating

        Raises
        ------
        ValueError
            An array of another shape or with a non-finite value, or variances missing.
        """
        scores, genres = self._run(self._row(features, variances))
        scores = np.clip(scores, 0.0, None)
        scores /= scores.sum()
        expected = float(scores @ np.arange(N_SCORES))
        top = self.top_genres(genres) if genres is not None else ()
        return Rating(
            score=int(calibrate(np.array([expected]), self._thresholds)[0]),
            expected=expected,
            distribution=tuple(float(p) for p in scores),
            genres=top,
            genre_means=tuple(self.genre_means[label] for label, _ in top if label in self.genre_means),
        )

    def rate_sections(self, sections: Sequence[Section]) -> tuple[SectionRating, ...]:
        """Rate each section of a song on its own, with the same model.

        Parameters
        ----------
        sections : Sequence[Section]
            The song's sections (model.features.Section): times, means and variances.

        Returns
        -------
        tuple[SectionRating, ...]
            One per section, in order; the song's own rating stays `rate`'s of the whole song.
        """
        return tuple(
            SectionRating(section.start_s, section.end_s, self.rate(section.values, section.variances))
            for section in sections
        )
