"""Train and evaluate the direct model (features -> scores 0..10) on a collected tracks table.

Labels: each track gets its album's score; a favourite track gets `favourite_bonus` more (the original
research used +0.5), capped at 10. A fractional label enters the 11-class softmax as a soft target
split between its two neighbouring classes: 7.5 -> half class 7, half class 8; 7.25 -> 0.75 / 0.25.

Evaluation is honest about what a song-level model can know:
- folds are grouped by artist (hence by album), so no album and no artist straddles train and test;
- metrics are at the album level: a track's expected score is averaged over its album, and the integer
  score is that mean through a quantile calibration fitted on the training folds' albums;
- every metric stands beside the baselines (always 7, the mean, random draws from the histogram of
  album scores), each taking its statistics from the training folds' albums only;
- the Spearman correlation gets a permutation p-value: album scores are shuffled between albums and
  the whole cross-validation (every fold refitted) reruns, so the null includes what training can
  overfit. A few dozen permutations of these small models are enough to tell p < 0.05.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from model.album import album_expected
from model.calibration import calibrate, fit_thresholds, target_histogram
from model.features import FEATURE_NAMES
from training import report
from training.album import album_block
from training.evaluate import Metrics, baselines, permutation_p_value, score_metrics, spearman
from training.reviews import DataError, read_rows, slug

log = logging.getLogger(__name__)

DEFAULT_STEPS = 1000
DEFAULT_PERMUTATIONS = 30  # each reruns the whole cross-validation
ID_COLUMNS = ("album_id", "artist", "album", "track", "album_score", "is_favourite", "is_least_favourite")


@dataclass(frozen=True)
class Tracks:
    """A collected tracks table: n tracks, features (n, 26), album scores (n,) int 0..10."""

    album_ids: np.ndarray
    artists: np.ndarray
    scores: np.ndarray
    favourite: np.ndarray
    features: np.ndarray


def load_tracks(path: Path) -> Tracks:
    """Read a tracks table as training.collect writes it; rows with unusable values are skipped.

    Parameters
    ----------
    path : Path
        tracks.csv (ID_COLUMNS and the 26 FEATURE_NAMES).

    Returns
    -------
    Tracks
        The usable rows; artists as slugs, so that spellings of one artist group together.

    Raises
    ------
    DataError
        When the table is missing, lacks a column or has no usable row.
    """
    rows = read_rows(path, set(ID_COLUMNS) | set(FEATURE_NAMES))
    kept: list[tuple[str, str, int, bool, list[float]]] = []
    for row in rows:
        try:
            score = int(row["album_score"])
            values = [float(row[name]) for name in FEATURE_NAMES]
        except ValueError:
            continue
        if 0 <= score <= 10 and np.all(np.isfinite(values)):
            kept.append((row["album_id"], row["artist"], score, row["is_favourite"].strip() == "1", values))
    if len(kept) < len(rows):
        log.warning("skipped %d of %d rows of %s with missing or invalid values", len(rows) - len(kept),
                    len(rows), path)
    if not kept:
        raise DataError(f"{path} has no usable track rows")
    album_ids, artists, scores, favourite, features = zip(*kept, strict=True)
    return Tracks(
        album_ids=np.array(album_ids),
        artists=np.array([slug(a) for a in artists]),
        scores=np.array(scores),
        favourite=np.array(favourite),
        features=np.array(features),
    )


def soft_labels(scores: np.ndarray, favourite: np.ndarray, bonus: float) -> np.ndarray:
    """Soft targets: score (+ bonus for favourites, capped at 10) split between neighbouring classes.

    Parameters
    ----------
    scores : np.ndarray
        (n,) album scores 0..10.
    favourite : np.ndarray
        (n,) bool.
    bonus : float
        Score points added to favourites.

    Returns
    -------
    np.ndarray
        (n, 11), rows summing to 1; 7.25 is 0.75 of class 7 and 0.25 of class 8.
    """
    label = np.minimum(scores + bonus * favourite, 10.0)
    low = np.floor(label).astype(int)
    high = np.minimum(low + 1, 10)
    upper_share = label - low
    targets = np.zeros((len(label), 11))
    rows = np.arange(len(label))
    np.add.at(targets, (rows, low), 1.0 - upper_share)
    np.add.at(targets, (rows, high), upper_share)
    return targets


def album_means(album_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique album ids (m,) and each album's value by the bot's album rule (``model.album``), (m,).

    Parameters
    ----------
    album_ids : np.ndarray
        Each track's album id, shape (n,).
    values : np.ndarray
        Each track's value, e.g. expected score 0..10, shape (n,).

    Returns
    -------
    albums : np.ndarray
        Sorted unique album ids, shape (m,).
    means : np.ndarray
        Each album's mean value (:func:`model.album.album_expected`), float64, shape (m,).
    """
    albums, index = np.unique(album_ids, return_inverse=True)
    order = np.argsort(index, kind="stable")
    groups = np.split(np.asarray(values, dtype=np.float64)[order], np.cumsum(np.bincount(index))[:-1])
    return albums, np.array([album_expected(group) for group in groups])


def artist_folds(tracks: Tracks, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) track index pairs; an artist's tracks, hence an album's, fall on one side only.

    Parameters
    ----------
    tracks : Tracks
        The tracks table.
    folds : int
        Number of folds, at least 2 and at most the number of artists.
    seed : int
        Shuffles which artists go to which fold.

    Returns
    -------
    list[tuple[np.ndarray, np.ndarray]]
        One (train, test) pair of track index arrays per fold.
    """
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(tracks.features, groups=tracks.artists))


def cross_validate(
    tracks: Tracks,
    bonus: float,
    folds: int,
    steps: int,
    seed: int,
    *,
    progress: bool = True,
    models: dict[int, tuple[Any, Callable[[], None]]] | None = None,
) -> dict:
    """Out-of-fold album predictions from artist-grouped cross-validation.

    Parameters
    ----------
    tracks : Tracks
        The table.
    bonus : float
        Favourite bonus in score points.
    folds : int
        Number of folds, >= 2.
    steps : int
        Training minibatches per fold.
    seed : int
        Folds and weights.
    progress : bool, optional
        Show a progress bar.
    models : dict, optional
        Fold number -> (model, its `network.restorer`), kept from an earlier call on the same features,
        artists, folds and seed (only the scores may differ): those models are restored and trained
        again instead of built anew, with the same result. Models built here are added to it.

    Returns
    -------
    dict
        Per album (m,): ``albums`` ids, ``truth`` scores 0..10, ``expected`` mean expected score of its
        tracks, ``integer`` that mean through the calibration fitted on the training folds (1..10);
        ``folds``, the (train, test) album index pairs the tracks' folds induce.
    """
    from training import network

    albums, album_score = album_means(tracks.album_ids, tracks.scores.astype(float))
    expected = np.zeros(len(albums))
    integer = np.zeros(len(albums), dtype=np.int64)
    labels = soft_labels(tracks.scores, tracks.favourite, bonus)
    album_folds = []
    splits = artist_folds(tracks, folds, seed)
    for i, (train, test) in enumerate(tqdm(splits, desc="album CV", unit="fold", disable=not progress)):
        network.seed_everything(seed + i)
        if models is not None and i in models:
            model, restore = models[i]
            restore()
        else:
            model = network.direct_model(tracks.features[train])
            if models is not None:
                models[i] = model, network.restorer(model)
        network.train(model, tracks.features[train], labels[train], steps=steps, seed=seed + i)
        per_track = network.predict(model, tracks.features) @ np.arange(11)
        _, train_mean = album_means(tracks.album_ids[train], per_track[train])
        _, train_truth = album_means(tracks.album_ids[train], tracks.scores[train].astype(float))
        thresholds = fit_thresholds(train_mean, target_histogram(train_truth.astype(int)))
        test_ids, test_mean = album_means(tracks.album_ids[test], per_track[test])
        where = np.searchsorted(albums, test_ids)
        expected[where] = test_mean
        integer[where] = calibrate(test_mean, thresholds)
        album_folds.append((np.searchsorted(albums, np.unique(tracks.album_ids[train])), where))
    return {"albums": albums, "truth": album_score.astype(int), "expected": expected, "integer": integer,
            "folds": album_folds}


def permutation_null(
    tracks: Tracks, bonus: float, folds: int, steps: int, seed: int, permutations: int
) -> np.ndarray:
    """Out-of-fold album Spearman of the whole cross-validation rerun on shuffled album scores.

    Album scores move between albums (a track keeps its album, its artist and its favourite mark), so
    the folds are the same and only the link between sound and score is broken.

    Parameters
    ----------
    tracks : Tracks
        The table.
    bonus, folds, steps, seed
        As for cross_validate.
    permutations : int
        How many shuffles (each refits every fold).

    Returns
    -------
    np.ndarray
        (permutations,) Spearman of each rerun (nan when its predictions are constant).
    """
    albums, index = np.unique(tracks.album_ids, return_inverse=True)
    _, album_score = album_means(tracks.album_ids, tracks.scores.astype(float))
    rng = np.random.default_rng(seed)
    null = np.zeros(permutations)
    models: dict[int, tuple[Any, Callable[[], None]]] = {}  # the folds' features never change: one model each
    for k in tqdm(range(permutations), desc="permutations", unit="refit"):
        shuffled = replace(tracks, scores=album_score[rng.permutation(len(albums))][index].astype(int))
        oof = cross_validate(shuffled, bonus, folds, steps, seed, progress=False, models=models)
        null[k] = spearman(oof["truth"], oof["expected"])
    return null


def run_fit(
    tracks_csv: Path, out_dir: Path, *, favourite_bonus: float, seed: int, folds: int, steps: int,
    permutations: int,
) -> dict:
    """Evaluate by grouped CV, then train on everything and write model, card and report into out_dir.

    Parameters
    ----------
    tracks_csv : Path
        The collected tracks table.
    out_dir : Path
        Receives needlebot.keras, needlebot.tflite, card.json, report.md and its PNG.
    favourite_bonus : float
        Score points added to favourite tracks' labels.
    seed : int
        Every random choice.
    folds : int
        Artist-grouped folds (>= 2).
    steps : int
        Training minibatches.
    permutations : int
        Album-score shuffles for the Spearman p-value (each reruns the cross-validation).

    Returns
    -------
    dict
        The model card as written.

    Raises
    ------
    DataError
        When the table is unusable or has fewer artists than folds.
    """
    tracks = load_tracks(tracks_csv)
    n_artists = len(np.unique(tracks.artists))
    if n_artists < folds:
        raise DataError(f"{tracks_csv} has {n_artists} artists: too few for {folds} artist-grouped folds")
    # Keras loads in seconds: only once the table is known to be usable, so a bad one is told at once.
    from training import network
    from training.artifacts import base_card, calibration_block, training_block, write_model

    oof = cross_validate(tracks, favourite_bonus, folds, steps, seed)
    model_metrics = score_metrics(oof["truth"], oof["expected"], oof["integer"])
    base = baselines(oof["truth"], oof["folds"], seed)
    rho = model_metrics.spearman
    null = permutation_null(tracks, favourite_bonus, folds, steps, seed, permutations)
    p_value = permutation_p_value(rho, null)
    log.info("album-level CV: %s; Spearman p = %.3g", model_metrics, p_value)

    network.seed_everything(seed)
    model = network.direct_model(tracks.features)
    network.train(model, tracks.features, soft_labels(tracks.scores, tracks.favourite, favourite_bonus),
                  steps=steps, seed=seed)
    expected = network.predict(model, tracks.features) @ np.arange(11)

    card = base_card("direct", seed, [tracks_csv]) | {
        "genres": [],
        "calibration": calibration_block(
            expected, oof["truth"], f"the {len(expected)} training tracks through this model"
        ) | album_block(album_means(tracks.album_ids, expected)[1], oof["truth"],
                        f"the {len(oof['albums'])} training albums, mean expected score per album"),
        "labels": {"favourite_bonus": favourite_bonus, "fractional": "split between neighbouring classes"},
        "training": training_block(steps),
        "metrics": {
            "folds": folds, "grouped_by": "artist", "level": "album",
            "tracks": len(tracks.scores), "albums": len(oof["albums"]), "artists": n_artists,
            "album": model_metrics.as_dict(),
            "baselines": {k: m.as_dict() for k, m in base.items()},
            "spearman": rho, "spearman_p_value": p_value, "permutations": permutations,
            "spearman_null_max": float(np.nanmax(null)) if np.any(np.isfinite(null)) else float("nan"),
        },
    }
    card = write_model(model, card, out_dir, tracks.features)
    write_report(out_dir / "report.md", card, model_metrics, base, oof)
    return card


def write_report(
    path: Path, card: dict, model_metrics: Metrics, base: dict[str, Metrics], oof: dict[str, np.ndarray]
) -> None:
    """The fit report (markdown) and its histogram PNG.

    Parameters
    ----------
    path : Path
        The markdown file to write; the PNG goes beside it as ``<stem>_histogram.png``.
    card : dict
        The written model card (metrics, calibration, labels, seed).
    model_metrics : Metrics
        The model's out-of-fold album metrics.
    base : dict[str, Metrics]
        Baseline name -> its metrics on the same albums.
    oof : dict[str, np.ndarray]
        What :func:`cross_validate` returned; ``integer`` holds album scores 1..10, shape (m,).
    """
    m = card["metrics"]
    cal = card["calibration"]
    picture = path.with_name(f"{path.stem}_histogram.png")
    oof_hist = np.bincount(oof["integer"] - 1, minlength=10) / len(oof["integer"])
    hist = {"model (out-of-fold albums)": oof_hist,
            "Fantano (these albums)": np.array(cal["target_histogram_1_to_10"])}
    report.plot_histograms(range(1, 11), hist, picture, "Album scores: model vs Fantano")
    text = f"""# Direct model report

Created {card["created"]}, seed {card["seed"]}, kind `direct`. {m["tracks"]} tracks, {m["albums"]} albums,
{m["artists"]} artists. Labels: album score, +{card["labels"]["favourite_bonus"]} for favourite tracks
(a fractional label is split between its two neighbouring classes).

## Album-level cross-validation
{m["folds"]} folds grouped by artist (no album or artist in both train and test). An album's prediction is
the mean expected score of its tracks; its integer score goes through a quantile calibration fitted on the
training folds' albums (in-sample predictions spread wider than out-of-fold ones, so the out-of-fold
histogram below is narrower than Fantano's).

The baselines take their mean and histogram from the training folds' albums only, like the model.

{report.metrics_table({"model": model_metrics, **base})}

Spearman {report.fmt(m["spearman"])}, permutation p-value {m["spearman_p_value"]:.3g}: album scores were
shuffled between albums {m["permutations"]} times and the whole cross-validation rerun on each shuffle
(every fold refitted); the largest Spearman among those reruns was {report.fmt(m["spearman_null_max"])}.

{report.histogram_table(range(1, 11), hist)}

![histogram]({picture.name})

Largest difference between the Keras model and the LiteRT file on the training tracks:
{card["tflite_max_abs_diff"]:.1e}.
"""
    report.write_text(path, text)
