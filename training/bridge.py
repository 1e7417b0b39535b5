"""The offline recipe for the bundled model: what a song sounds like x what Fantano thinks of that.

No audio of reviewed albums can be downloaded here, so two real tables are bridged:
1. GTZAN (`gtzan/features_30_sec.csv`): the same 26 per-song feature means for 1,000 clips in 10 genres.
   A small MLP learns P(genre | features).
2. Fantano's reviews (`tnd_reviews.csv` + `fantano_fetcher_reviews.csv`, deduplicated) with his own
   genre tags, mapped to GTZAN genres by `training.genres`. They give P(score | genre), smoothed with
   SMOOTHING pseudo-reviews drawn from his overall histogram: a genre with few reviews leans on the
   overall histogram, one with hundreds barely moves.
The network's genre softmax feeds a fixed Dense(11) holding P(score | genre), so the served model
outputs both "sounds like hip hop" and a distribution over 0..10; `model.calibration` turns its
expected score into an integer 1..10 whose histogram over GTZAN songs matches Fantano's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedKFold
from tqdm import tqdm

from model.calibration import calibrate, fit_thresholds, target_histogram
from model.features import FEATURE_NAMES
from training import report
from training.evaluate import Metrics, baselines, confusion, score_metrics
from training.genres import GTZAN_GENRES, genre_weights
from training.reviews import FETCHER, TND, DataError, Review, load_reviews, read_rows, slug

log = logging.getLogger(__name__)

GTZAN = "gtzan/features_30_sec.csv"
SMOOTHING = 20.0  # pseudo-reviews per genre, distributed like Fantano's overall histogram
PRIOR_FOLDS = 5
DEFAULT_STEPS = 1500  # minibatches of 64 (~100 epochs of GTZAN); tuned by the CV below


def load_gtzan(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The GTZAN feature table's 26 per-song means and genre labels.

    Parameters
    ----------
    data_dir : the shared data directory (holding GTZAN).

    Returns
    -------
    features : np.ndarray
        (1000, 26) feature means in FEATURE_NAMES order.
    genres : np.ndarray
        (1000,) indices into GTZAN_GENRES.

    Raises
    ------
    DataError
        When the table is missing, lacks a column or has a label outside the 10 genres.
    """
    path = data_dir / GTZAN
    rows = read_rows(path, {f"{n}_mean" for n in FEATURE_NAMES} | {"label"})
    unknown = {r["label"] for r in rows} - set(GTZAN_GENRES)
    if unknown:
        raise DataError(f"{path} has labels outside the 10 GTZAN genres: {sorted(unknown)}")
    features = np.array([[float(r[f"{n}_mean"]) for n in FEATURE_NAMES] for r in rows])
    return features, np.array([GTZAN_GENRES.index(r["label"]) for r in rows])


def score_given_genre(weights: np.ndarray, scores: np.ndarray, overall: np.ndarray) -> np.ndarray:
    """Smoothed P(score | genre): SMOOTHING pseudo-reviews per genre follow ``overall``.

    Parameters
    ----------
    weights : (n, 10) genre weights per review (rows sum to 1, or 0 when no tag maps).
    scores : (n,) integer scores 0..10.
    overall : (11,) the smoothing target, a distribution over scores 0..10.

    Returns
    -------
    np.ndarray
        (10, 11), one distribution over scores 0..10 per genre (rows sum to 1).
    """
    counts = weights.T @ np.eye(11)[scores]
    return (counts + SMOOTHING * overall) / (counts.sum(axis=1, keepdims=True) + SMOOTHING)


def score_histogram(scores: np.ndarray) -> np.ndarray:
    """Shares of scores 0..10, shape (11,)."""
    counts = np.bincount(scores, minlength=11).astype(float)
    return counts / counts.sum()


def evaluate_prior(
    weights: np.ndarray, scores: np.ndarray, artists: list[str], seed: int
) -> tuple[Metrics, dict[str, Metrics]]:
    """How well the genre prior ranks reviews held out from its estimate (PRIOR_FOLDS folds by artist).

    The held-out review's own tags give its genre weights, so this is the ceiling of what the audio
    route (which must guess the genre from sound) can reach.

    Parameters
    ----------
    weights : (n, 10) genre weights of the reviews with at least one mapped tag.
    scores : (n,) their integer scores 0..10.
    artists : n artist keys; a key's reviews stay on one side of every split.
    seed : shuffles the folds and the random baseline.

    Returns
    -------
    prior : Metrics
        Of the prior's expected score and its calibrated integer score.
    baselines : dict[str, Metrics]
        The baselines of training.evaluate on the same reviews.
    """
    expected = np.zeros(len(scores))
    integer = np.zeros(len(scores), dtype=np.int64)
    folds = GroupKFold(n_splits=PRIOR_FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(weights, scores, groups=artists):
        table = score_given_genre(weights[train], scores[train], score_histogram(scores[train]))
        genre_means = table @ np.arange(11)
        expected[test] = weights[test] @ genre_means
        thresholds = fit_thresholds(weights[train] @ genre_means, target_histogram(scores[train]))
        integer[test] = calibrate(expected[test], thresholds)
    return score_metrics(scores, expected, integer), baselines(scores, scores, seed)


def cross_validate_genres(
    features: np.ndarray, genres: np.ndarray, folds: int, steps: int, seed: int
) -> tuple[list[float], np.ndarray]:
    """Stratified k-fold genre accuracy of the MLP; the normalization is adapted inside each fold.

    Parameters
    ----------
    features : (1000, 26) GTZAN feature means; genres : (1000,) genre indices.
    folds : number of folds (>= 2); steps : training minibatches per fold; seed : fold split and weights.

    Returns
    -------
    accuracies : list[float]
        Share of test songs whose most probable genre is right, per fold.
    matrix : np.ndarray
        (10, 10) summed confusion counts, rows = truth.
    """
    from training import network

    accuracies = []
    matrix = np.zeros((len(GTZAN_GENRES), len(GTZAN_GENRES)), dtype=np.int64)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(features, genres)
    for i, (train, test) in enumerate(tqdm(list(splits), desc="genre CV", unit="fold")):
        network.seed_everything(seed + i)
        classifier = network.genre_classifier(features[train], len(GTZAN_GENRES))
        network.train(classifier, features[train], genres[train], steps=steps, seed=seed + i)
        predicted = network.predict(classifier, features[test]).argmax(axis=1)
        accuracies.append(float(np.mean(predicted == genres[test])))
        matrix += confusion(genres[test], predicted, len(GTZAN_GENRES))
    return accuracies, matrix


def coverage(reviews: list[Review], weights: np.ndarray) -> dict:
    """How many reviews and tag uses the genre table maps, and the commonest unmapped tags.

    Parameters
    ----------
    reviews : the n reviews; weights : (n, 10) their genre weights.

    Returns
    -------
    dict
        Counts ``reviews``, ``reviews_with_tags``, ``reviews_mapped``, ``tag_uses``, ``tag_uses_mapped``
        and ``top_unmapped``, the 15 commonest unmapped tags as (tag, uses).
    """
    from collections import Counter

    from training.genres import tag_genres

    uses = Counter(t for r in reviews for t in r.tags)
    unmapped = Counter({t: n for t, n in uses.items() if not tag_genres(t)})
    return {
        "reviews": len(reviews),
        "reviews_with_tags": sum(1 for r in reviews if r.tags),
        "reviews_mapped": int(np.sum(weights.sum(axis=1) > 0)),
        "tag_uses": sum(uses.values()),
        "tag_uses_mapped": sum(uses.values()) - sum(unmapped.values()),
        "top_unmapped": unmapped.most_common(15),
    }


def run_bridge(
    data_dir: Path, out_dir: Path, report_path: Path | None, *, seed: int, cv_folds: int, steps: int
) -> dict:
    """Build the bridge model from the tables in data_dir into out_dir and write its report.

    Parameters
    ----------
    data_dir : the shared data directory (TND, FETCHER, GTZAN).
    out_dir : the model directory; needlebot.keras, needlebot.tflite and card.json replace what is there
        only when the whole build succeeds.
    report_path : the markdown report (its PNGs go beside it); None for no report.
    seed : every random choice (folds, weights, shuffles); the same seed rebuilds the same LiteRT file.
    cv_folds : genre cross-validation folds (>= 2).
    steps : training minibatches of training.network.BATCH_SIZE.

    Returns
    -------
    dict
        The model card as written.

    Raises
    ------
    DataError
        When an input table is missing or malformed.
    """
    from training import network
    from training.artifacts import base_card, calibration_block, training_block, write_model

    reviews, review_stats = load_reviews(data_dir)
    features, genres = load_gtzan(data_dir)
    scores = np.array([r.score for r in reviews])
    weights = np.array([genre_weights(list(r.tags)) for r in reviews])
    mapped = weights.sum(axis=1) > 0
    fantano = score_histogram(scores)
    table = score_given_genre(weights[mapped], scores[mapped], fantano)
    covered = coverage(reviews, weights)
    artists = [slug(r.artist) for r in np.array(reviews, dtype=object)[mapped]]
    prior, prior_baselines = evaluate_prior(weights[mapped], scores[mapped], artists, seed)
    log.info("genre prior on held-out reviews: %s", prior)

    accuracies, matrix = cross_validate_genres(features, genres, cv_folds, steps, seed)
    log.info("genre CV accuracy %.3f", np.mean(accuracies))

    network.seed_everything(seed)
    classifier = network.genre_classifier(features, len(GTZAN_GENRES))
    network.train(classifier, features, genres, steps=steps, seed=seed)
    model = network.bridge_model(classifier, table)
    _, distribution = network.predict(model, features)
    expected = distribution @ np.arange(11)

    card = base_card("bridge", seed, [data_dir / TND, data_dir / FETCHER, data_dir / GTZAN])
    card |= {
        "genres": list(GTZAN_GENRES),
        "calibration": calibration_block(
            expected, scores, "GTZAN features_30_sec.csv rows (1000 songs) through this model"
        ),
        "score_given_genre": table.tolist(),
        "smoothing_pseudo_reviews": SMOOTHING,
        "training": training_block(steps),
        "reviews": review_stats | {k: v for k, v in covered.items() if k != "top_unmapped"},
        "metrics": {
            "genre_cv_folds": cv_folds,
            "genre_cv_accuracy": float(np.mean(accuracies)),
            "genre_cv_accuracy_std": float(np.std(accuracies)),
            "genre_prior_heldout": prior.as_dict(),
            "genre_prior_baselines": {k: m.as_dict() for k, m in prior_baselines.items()},
        },
    }
    card = write_model(model, card, out_dir, features)
    if report_path is not None:
        write_report(report_path, card, accuracies, matrix, covered, prior, prior_baselines, expected)
    return card


def write_report(
    path: Path,
    card: dict,
    accuracies: list[float],
    matrix: np.ndarray,
    covered: dict,
    prior: Metrics,
    prior_baselines: dict[str, Metrics],
    expected: np.ndarray,
) -> None:
    """Write the bridge report (markdown) and its two PNGs, named after the report.

    Parameters
    ----------
    path : the markdown file; ``<stem>_confusion.png`` and ``<stem>_histogram.png`` go beside it.
    card : the model card run_bridge wrote.
    accuracies : genre accuracy per CV fold; matrix : their summed confusion matrix (10, 10).
    covered : coverage() of the reviews; prior, prior_baselines : evaluate_prior()'s metrics.
    expected : (1000,) expected scores of the GTZAN songs through the model.
    """
    stem = path.stem
    path.parent.mkdir(parents=True, exist_ok=True)
    report.plot_confusion(matrix, GTZAN_GENRES, path.with_name(f"{stem}_confusion.png"),
                          f"GTZAN genre, {len(accuracies)}-fold CV")
    cal = card["calibration"]
    hist = {"model over GTZAN songs": np.array(cal["output_histogram_1_to_10"]),
            "Fantano's reviews": np.array(cal["target_histogram_1_to_10"])}
    report.plot_histograms(range(1, 11), hist, path.with_name(f"{stem}_histogram.png"),
                           "Calibrated scores vs Fantano")
    sections = [
        _header_section(card),
        _reviews_section(card["reviews"], covered),
        _prior_section(card, prior, prior_baselines),
        _genre_section(card["training"], accuracies, stem),
        _calibration_section(card, expected, stem),
    ]
    report.write_text(path, "\n\n".join(sections) + "\n")


def _header_section(card: dict) -> str:
    return f"""# Bridge model report

Created {card["created"]}, seed {card["seed"]}, kind `bridge`. Rebuild with
`python -m training bridge --data ../shared/data`."""


def _reviews_section(stats: dict, covered: dict) -> str:
    unmapped = ", ".join(f"{t} ({n})" for t, n in covered["top_unmapped"])
    return f"""## Reviews
{stats["tnd_rows"]} + {stats["fetcher_rows"]} rows read; {stats["non_numeric"]} without a numeric score and
{stats["april_fools"]} April Fools' rows dropped; {stats["duplicates"]} duplicates (same artist + title)
merged: **{stats["reviews"]} reviews**. {covered["reviews_with_tags"]} have genre tags; the genre table
(`training/genres.py`) maps at least one tag of **{covered["reviews_mapped"]}**
({covered["reviews_mapped"] / covered["reviews"]:.0%}); it maps {covered["tag_uses_mapped"]} of
{covered["tag_uses"]} tag uses. Commonest unmapped tags (no GTZAN counterpart):
{unmapped}."""


def _prior_section(card: dict, prior: Metrics, prior_baselines: dict[str, Metrics]) -> str:
    table = np.array(card["score_given_genre"])
    genre_rows = [[g, f"{table[i] @ np.arange(11):.2f}", f"{table[i, 8:].sum():.1%}"]
                  for i, g in enumerate(GTZAN_GENRES)]
    return f"""## P(score | genre)
Smoothed with {card["smoothing_pseudo_reviews"]:.0f} pseudo-reviews per genre drawn from Fantano's
overall histogram.

{report.table(["genre", "expected score", "share >= 8"], genre_rows)}

How well the genre prior ranks reviews held out from its estimate ({PRIOR_FOLDS} folds grouped by
artist; the integer score is the prior's expected score through a quantile calibration fitted on the
training folds). The held-out review's own tags give its genre, so this is the ceiling of the audio
route, which must guess the genre from sound:

{report.metrics_table({"genre prior": prior, **prior_baselines})}"""


def _genre_section(training: dict, accuracies: list[float], stem: str) -> str:
    folds = ", ".join(f"{a:.2f}" for a in accuracies)
    return f"""## Genre from audio features (GTZAN)
MLP {training["hidden"]} relu, dropout {training["dropout"]}, L2 {training["l2"]},
{training["steps"]} minibatches of {training["batch_size"]}; normalization adapted inside
each fold. Stratified {len(accuracies)}-fold accuracy **{np.mean(accuracies):.3f}** ± {np.std(accuracies):.3f}
(folds: {folds}; chance 0.10). GTZAN repeats clips and artists within a
genre, so a random split overstates accuracy on new music.

![confusion]({stem}_confusion.png)"""


def _calibration_section(card: dict, expected: np.ndarray, stem: str) -> str:
    cal, diff = card["calibration"], card["tflite_max_abs_diff"]
    histograms = {
        "model over GTZAN": np.array(cal["output_histogram_1_to_10"]),
        "Fantano": np.array(cal["target_histogram_1_to_10"]),
    }
    return f"""## Calibration
The model's expected score over the 1,000 GTZAN songs spans {expected.min():.2f}..{expected.max():.2f}
(mean {expected.mean():.2f}): regression to the mean, as expected. Thresholds on the expected score
(score = 1 + number of thresholds at or below it), fitted so that the GTZAN songs' integer scores follow
Fantano's histogram (0 counted as 1):
`{", ".join(f"{t:.3f}" for t in cal["thresholds"])}`.

{report.histogram_table(range(1, 11), histograms)}

![histogram]({stem}_histogram.png)

Largest difference between the Keras model and the LiteRT file over GTZAN: {diff:.1e}."""
