"""26 audio features -> a Fantano-style rating, served from the LiteRT flatbuffer.

The `.keras` file is the source of truth; training exports `needlebot.tflite` from it and records both
hashes in `card.json`. Serving reads only the flatbuffer and the card: importing TensorFlow would cost
3-5 s and 500+ MB in the bot process, the LiteRT interpreter about 40 MB and milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import FEATURE_NAMES, MODEL_DIR
from model.calibration import calibrate

log = logging.getLogger(__name__)

TFLITE_NAME = "needlebot.tflite"
KERAS_NAME = "needlebot.keras"
CARD_NAME = "card.json"
N_SCORES = 11  # classes 0..10
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
    """

    score: int
    expected: float
    distribution: tuple[float, ...]
    genres: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict:
        """The rating as JSON-safe data, as the store and ``needlebot rate --json`` keep it.

        Returns
        -------
        dict
            Keys ``score``, ``expected``, ``distribution`` and ``genres``.
        """
        return {
            "score": self.score,
            "expected": self.expected,
            "distribution": list(self.distribution),
            "genres": [[label, p] for label, p in self.genres],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Rating:
        """The rating that `to_dict` wrote.

        Parameters
        ----------
        d : dict
            A mapping with ``score``, ``expected``, ``distribution`` and ``genres``.

        Returns
        -------
        Rating
        """
        return cls(
            score=int(d["score"]),
            expected=float(d["expected"]),
            distribution=tuple(float(p) for p in d["distribution"]),
            genres=tuple((str(label), float(p)) for label, p in d["genres"]),
        )


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
    if tuple(card.get("feature_names", ())) != FEATURE_NAMES:
        raise ModelError(f"The model was trained on other features than this code computes. {REBUILD_HINT}")
    if card.get("classes") != list(range(N_SCORES)):
        raise ModelError(f"The model card's score classes are not 0..10. {REBUILD_HINT}")
    thresholds = card.get("calibration", {}).get("thresholds")
    if not isinstance(thresholds, list) or len(thresholds) != 9 or np.any(np.diff(thresholds) < 0):
        raise ModelError(f"The model card's calibration table is missing or not monotone. {REBUILD_HINT}")
    if not tflite.is_file():
        raise ModelError(f"The model file {tflite} is missing. {REBUILD_HINT}")
    if sha256_file(tflite) != card.get("sha256", {}).get(TFLITE_NAME):
        raise ModelError(f"The model file {tflite} does not match its card (sha256 differs). {REBUILD_HINT}")


class Scorer:
    """A loaded model: call `rate` with a (26,) feature vector in FEATURE_NAMES order.

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
        self._genre_labels: tuple[str, ...] = tuple(card.get("genres", ()))
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
        # Imported here so that importing this module (e.g. for Rating) stays cheap.
        from ai_edge_litert.interpreter import Interpreter

        directory = Path(directory)
        card = _read_card(directory)
        tflite = directory / TFLITE_NAME
        _check_card(card, tflite)
        try:
            interpreter = Interpreter(model_path=str(tflite), num_threads=1)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"The model file {tflite} could not be loaded ({e}). {REBUILD_HINT}") from e
        scorer = cls(card, interpreter)
        log.info("loaded %s model from %s (created %s)", card.get("kind"), directory, card.get("created"))
        return scorer

    def _map_tensors(self) -> tuple[int, int, int | None]:
        # LiteRT output names are opaque, so outputs are told apart by their width: 11 scores, N genres.
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1 or inputs[0]["shape"][-1] != len(FEATURE_NAMES):
            raise ModelError(f"The model does not take {len(FEATURE_NAMES)} features. {REBUILD_HINT}")
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

    def rate(self, features: np.ndarray) -> Rating:
        """Rate one song.

        Parameters
        ----------
        features : np.ndarray
            The song's 26 features in FEATURE_NAMES order, shape (26,), finite.

        Returns
        -------
        Rating

        Raises
        ------
        ValueError
            ``features`` has another shape or a non-finite value.
        """
        row = np.asarray(features, dtype=np.float64)
        if row.shape != (len(FEATURE_NAMES),) or not np.all(np.isfinite(row)):
            raise ValueError(f"expected {len(FEATURE_NAMES)} finite features, got shape {row.shape}")
        scores, genres = self._run(row)
        scores = np.clip(scores, 0.0, None)
        scores /= scores.sum()
        expected = float(scores @ np.arange(N_SCORES))
        top: tuple[tuple[str, float], ...] = ()
        if genres is not None:
            order = np.argsort(-genres, kind="stable")[:3]
            top = tuple((self._genre_labels[i], float(genres[i])) for i in order)
        return Rating(
            score=int(calibrate(np.array([expected]), self._thresholds)[0]),
            expected=expected,
            distribution=tuple(float(p) for p in scores),
            genres=top,
        )
