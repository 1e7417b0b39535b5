"""The offline recipe for the bundled model: what a song sounds like x what Fantano thinks of that.

No audio of reviewed albums can be downloaded here, so two real tables are bridged:
1. GTZAN (`gtzan/features_30_sec.csv`): the bot's 26 features for 1,000 clips in 10 genres, as their
   means and their variances over frames (52 inputs). A small MLP learns P(genre | features); its headline
   accuracy is measured on the artist-disjoint, fault-filtered split of GTZAN (`SPLIT`), trained on its
   train + valid lists and tested on its test list, with stratified cross-validation beside it.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedKFold
from tqdm import tqdm

from model.calibration import calibrate, fit_thresholds, target_histogram
from model.features import FEATURE_NAMES
from training import report
from training.album import report_section as album_report
from training.album import simulated_album_block
from training.evaluate import Metrics, baselines, confusion, score_metrics
from training.genres import GTZAN_GENRES, genre_weights
from training.reviews import FETCHER, TND, DataError, Review, load_reviews, read_rows, slug

if TYPE_CHECKING:
    import keras  # training.network imports it when a network is built

log = logging.getLogger(__name__)

GTZAN = "gtzan/features_30_sec.csv"
# The genre network's inputs, as the GTZAN table names its columns and the scorer reads them from the
# card: each feature's mean over frames, then its variance (ddof=0).
GTZAN_INPUTS = tuple(f"{name}_{stat}" for stat in ("mean", "var") for name in FEATURE_NAMES)
SPLIT = "gtzan/fault_filtered_split"  # Kereliuk, Sturm & Larsen (2015): no artist in two lists
SPLIT_REPEATS = 5  # seeds of the train+valid -> test measurement; one run's accuracy varies by ~0.01
SMOOTHING = 20.0  # pseudo-reviews per genre, distributed like Fantano's overall histogram
PRIOR_FOLDS = 5
DEFAULT_STEPS = 1500  # minibatches of 64 (~100 epochs of GTZAN); tuned by the CV below


@dataclass(frozen=True)
class Gtzan:
    """The GTZAN feature table: n clips, their names (``blues.00000``), inputs (n, 52), genre indices (n,)."""

    names: np.ndarray
    features: np.ndarray
    genres: np.ndarray


def load_gtzan(data_dir: Path) -> Gtzan:
    """The GTZAN feature table's GTZAN_INPUTS columns and genre labels.

    Parameters
    ----------
    data_dir : Path
        The shared data directory (holding GTZAN).

    Returns
    -------
    Gtzan
        1,000 clips named by their file stem; features in GTZAN_INPUTS order (raw, not standardized).

    Raises
    ------
    DataError
        When the table is missing, lacks a column or has a label outside the 10 genres.
    """
    path = data_dir / GTZAN
    rows = read_rows(path, {*GTZAN_INPUTS, "filename", "label"})
    unknown = {r["label"] for r in rows} - set(GTZAN_GENRES)
    if unknown:
        raise DataError(f"{path} has labels outside the 10 GTZAN genres: {sorted(unknown)}")
    return Gtzan(
        names=np.array([Path(r["filename"]).stem for r in rows]),
        features=np.array([[float(r[name]) for name in GTZAN_INPUTS] for r in rows]),
        genres=np.array([GTZAN_GENRES.index(r["label"]) for r in rows]),
    )


def load_split(data_dir: Path, gtzan: Gtzan) -> dict[str, np.ndarray]:
    """Row indices of the fault-filtered split's lists in the GTZAN table.

    The lists name tracks as ``blues/blues.00029.wav``, the table as ``blues.00029.au``: they match on
    the file stem.

    Parameters
    ----------
    data_dir : Path
        The shared data directory.
    gtzan : Gtzan
        load_gtzan()'s table.

    Returns
    -------
    dict[str, np.ndarray]
        ``train``, ``valid`` and ``test``: indices into gtzan's rows (443, 197 and 290 of them).

    Raises
    ------
    DataError
        When a list is missing, names a track the table lacks, or a track is in two lists.
    """
    row_of = {name: i for i, name in enumerate(gtzan.names)}
    split = {}
    for part in ("train", "valid", "test"):
        path = data_dir / SPLIT / f"{part}_filtered.txt"
        if not path.is_file():
            raise DataError(f"{path} not found (the fault-filtered GTZAN split)")
        lines = path.read_text(encoding="utf-8").splitlines()
        stems = [Path(line.strip()).stem for line in lines if line.strip()]
        missing = sorted(set(stems) - set(row_of))
        if missing:
            raise DataError(f"{path} names tracks that {GTZAN} lacks: {', '.join(missing[:5])}")
        split[part] = np.array([row_of[stem] for stem in stems])
    together = np.concatenate(list(split.values()))
    if len(np.unique(together)) < len(together):
        raise DataError(f"{data_dir / SPLIT} lists a track twice")
    return split


def score_given_genre(weights: np.ndarray, scores: np.ndarray, overall: np.ndarray) -> np.ndarray:
    """Smoothed P(score | genre): SMOOTHING pseudo-reviews per genre follow ``overall``.

    Parameters
    ----------
    weights : np.ndarray
        (n, 10) genre weights per review (rows sum to 1, or 0 when no tag maps).
    scores : np.ndarray
        (n,) integer scores 0..10.
    overall : np.ndarray
        (11,) the smoothing target, a distribution over scores 0..10.

    Returns
    -------
    np.ndarray
        (10, 11), one distribution over scores 0..10 per genre (rows sum to 1).
    """
    counts = weights.T @ np.eye(11)[scores]
    return (counts + SMOOTHING * overall) / (counts.sum(axis=1, keepdims=True) + SMOOTHING)


def score_histogram(scores: np.ndarray) -> np.ndarray:
    """Shares of scores 0..10, shape (11,).

    Parameters
    ----------
    scores : np.ndarray
        Integer scores 0..10, shape (n,), n >= 1.

    Returns
    -------
    np.ndarray
        Shares summing to 1, shape (11,).
    """
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
    weights : np.ndarray
        (n, 10) genre weights of the reviews with at least one mapped tag.
    scores : np.ndarray
        (n,) their integer scores 0..10.
    artists : list[str]
        n artist keys; a key's reviews stay on one side of every split.
    seed : int
        Shuffles the folds and the random baseline.

    Returns
    -------
    prior : Metrics
        Of the prior's expected score and its calibrated integer score.
    baselines : dict[str, Metrics]
        The baselines of training.evaluate on the same reviews and folds.
    """
    expected = np.zeros(len(scores))
    integer = np.zeros(len(scores), dtype=np.int64)
    folds = list(GroupKFold(n_splits=PRIOR_FOLDS, shuffle=True, random_state=seed).split(
        weights, scores, groups=artists))
    for train, test in folds:
        table = score_given_genre(weights[train], scores[train], score_histogram(scores[train]))
        genre_means = table @ np.arange(11)
        expected[test] = weights[test] @ genre_means
        thresholds = fit_thresholds(weights[train] @ genre_means, target_histogram(scores[train]))
        integer[test] = calibrate(expected[test], thresholds)
    return score_metrics(scores, expected, integer), baselines(scores, folds, seed)


def train_genres(features: np.ndarray, genres: np.ndarray, steps: int, seed: int) -> keras.Model:
    """A genre classifier (training.network) trained on features (n, 52) and genre indices (n,).

    Parameters
    ----------
    features : np.ndarray
        Means and variances of the features, shape (n, 52).
    genres : np.ndarray
        Genre indices into GTZAN_GENRES, shape (n,).
    steps : int
        Training minibatches.
    seed : int
        Seeds weights and shuffling.

    Returns
    -------
    keras.Model
        The trained classifier, genre probabilities (n, 10).
    """
    from training import network

    network.seed_everything(seed)
    classifier = network.genre_classifier(features, len(GTZAN_GENRES))
    network.train(classifier, features, genres, steps=steps, seed=seed)
    return classifier


def predict_genres(classifier: keras.Model, features: np.ndarray) -> np.ndarray:
    """The most probable genre index (n,) of each row of features (n, 52).

    Parameters
    ----------
    classifier : keras.Model
        A classifier from :func:`train_genres`.
    features : np.ndarray
        Shape (n, 52).

    Returns
    -------
    np.ndarray
        Genre indices into GTZAN_GENRES, shape (n,).
    """
    from training import network

    return network.predict(classifier, features).argmax(axis=1)


def evaluate_split(
    gtzan: Gtzan, split: dict[str, np.ndarray], steps: int, seed: int
) -> tuple[list[float], np.ndarray]:
    """Genre accuracy on the split's test list of networks trained on its train + valid lists.

    The network's hyperparameters were chosen on train -> valid, so the test list is seen once.

    Parameters
    ----------
    gtzan : Gtzan
        The table.
    split : dict[str, np.ndarray]
        load_split()'s lists.
    steps : int
        Training minibatches.
    seed : int
        The first of SPLIT_REPEATS consecutive seeds (weights and shuffling).

    Returns
    -------
    accuracies : list[float]
        Share of test tracks whose most probable genre is right, one per seed.
    matrix : np.ndarray
        (10, 10) confusion counts of the first seed's network, rows = truth.
    """
    train = np.concatenate([split["train"], split["valid"]])
    test = split["test"]
    accuracies = []
    for k in tqdm(range(SPLIT_REPEATS), desc="genre split", unit="seed"):
        classifier = train_genres(gtzan.features[train], gtzan.genres[train], steps, seed + k)
        predicted = predict_genres(classifier, gtzan.features[test])
        accuracies.append(float(np.mean(predicted == gtzan.genres[test])))
        if k == 0:
            matrix = confusion(gtzan.genres[test], predicted, len(GTZAN_GENRES))
    return accuracies, matrix


def cross_validate_genres(gtzan: Gtzan, folds: int, steps: int, seed: int) -> list[float]:
    """Stratified k-fold genre accuracy of the MLP; the normalization is adapted inside each fold.

    Stratified folds put clips of one artist (and GTZAN's repeated clips) on both sides, so this
    overstates accuracy on new music; evaluate_split is the honest figure.

    Parameters
    ----------
    gtzan : Gtzan
        The table.
    folds : int
        Number of folds (>= 2).
    steps : int
        Training minibatches per fold.
    seed : int
        Fold split and weights.

    Returns
    -------
    list[float]
        Share of test clips whose most probable genre is right, per fold.
    """
    accuracies = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(gtzan.features, gtzan.genres))
    for i, (train, test) in enumerate(tqdm(splits, desc="genre CV", unit="fold")):
        classifier = train_genres(gtzan.features[train], gtzan.genres[train], steps, seed + i)
        predicted = predict_genres(classifier, gtzan.features[test])
        accuracies.append(float(np.mean(predicted == gtzan.genres[test])))
    return accuracies


def coverage(reviews: list[Review], weights: np.ndarray) -> dict:
    """How many reviews and tag uses the genre table maps, and the commonest unmapped tags.

    Parameters
    ----------
    reviews : list[Review]
        The n reviews.
    weights : np.ndarray
        (n, 10) their genre weights.

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
    data_dir : Path
        The shared data directory (TND, FETCHER, GTZAN).
    out_dir : Path
        The model directory; needlebot.keras, needlebot.tflite and card.json replace what is there only when
        the whole build succeeds.
    report_path : Path or None
        The markdown report (its PNGs go beside it); None for no report.
    seed : int
        Every random choice (folds, weights, shuffles); the same seed rebuilds the same LiteRT file.
    cv_folds : int
        Genre cross-validation folds (>= 2).
    steps : int
        Training minibatches of training.network.BATCH_SIZE.

    Returns
    -------
    dict
        The model card as written.

    Raises
    ------
    DataError
        When an input table is missing or malformed.
    """
    reviews, review_stats = load_reviews(data_dir)
    gtzan = load_gtzan(data_dir)
    split = load_split(data_dir, gtzan)
    # Keras loads in seconds: only once every input is read, so a missing table is told at once.
    from training import network
    from training.artifacts import base_card, calibration_block, training_block, write_model

    scores = np.array([r.score for r in reviews])
    weights = np.array([genre_weights(list(r.tags)) for r in reviews])
    mapped = weights.sum(axis=1) > 0
    fantano = score_histogram(scores)
    table = score_given_genre(weights[mapped], scores[mapped], fantano)
    covered = coverage(reviews, weights)
    artists = [slug(r.artist) for r in np.array(reviews, dtype=object)[mapped]]
    prior, prior_baselines = evaluate_prior(weights[mapped], scores[mapped], artists, seed)
    log.info("genre prior on held-out reviews: %s", prior)

    split_accuracies, matrix = evaluate_split(gtzan, split, steps, seed)
    log.info("genre accuracy on the fault-filtered test list %.3f", np.mean(split_accuracies))
    cv_accuracies = cross_validate_genres(gtzan, cv_folds, steps, seed)
    log.info("genre CV accuracy %.3f", np.mean(cv_accuracies))

    # The shipped network learns from every GTZAN clip: the split measured the recipe on unseen artists,
    # and more artists can only help the songs users bring.
    classifier = train_genres(gtzan.features, gtzan.genres, steps, seed)
    model = network.bridge_model(classifier, table)
    _, distribution = network.predict(model, gtzan.features)
    expected = distribution @ np.arange(11)

    songs = calibration_block(
        expected, scores, "GTZAN features_30_sec.csv rows (1000 songs) through this model"
    )
    albums = simulated_album_block(expected, gtzan.genres, scores, songs["thresholds"], seed)
    split_files = [data_dir / SPLIT / f"{part}_filtered.txt" for part in split]
    card = base_card("bridge", seed, [data_dir / TND, data_dir / FETCHER, data_dir / GTZAN, *split_files])
    card |= {
        "feature_names": list(GTZAN_INPUTS),
        "genres": list(GTZAN_GENRES),
        "calibration": songs | albums,
        "score_given_genre": table.tolist(),
        "smoothing_pseudo_reviews": SMOOTHING,
        "training": training_block(steps) | {"genre_rows": f"all {len(gtzan.genres)} GTZAN clips"},
        "reviews": review_stats | {k: v for k, v in covered.items() if k != "top_unmapped"},
        "metrics": {
            "genre_test_split": "GTZAN fault-filtered (Kereliuk, Sturm & Larsen 2015), artist-disjoint: "
                                "trained on train + valid, tested on test",
            "genre_test_tracks": {part: len(rows) for part, rows in split.items()},
            "genre_test_accuracy": float(np.mean(split_accuracies)),
            "genre_test_accuracy_std": float(np.std(split_accuracies)),
            "genre_test_accuracy_per_seed": split_accuracies,
            "genre_test_confusion": matrix.tolist(),
            "genre_cv_folds": cv_folds,
            "genre_cv_accuracy": float(np.mean(cv_accuracies)),
            "genre_cv_accuracy_std": float(np.std(cv_accuracies)),
            "genre_prior_heldout": prior.as_dict(),
            "genre_prior_baselines": {k: m.as_dict() for k, m in prior_baselines.items()},
        },
    }
    card = write_model(model, card, out_dir, gtzan.features)
    if report_path is not None:
        write_report(report_path, card, cv_accuracies, covered, prior, prior_baselines, expected)
    return card


def write_report(
    path: Path,
    card: dict,
    cv_accuracies: list[float],
    covered: dict,
    prior: Metrics,
    prior_baselines: dict[str, Metrics],
    expected: np.ndarray,
) -> None:
    """Write the bridge report (markdown) and its two PNGs, named after the report.

    Parameters
    ----------
    path : Path
        The markdown file; ``<stem>_confusion.png`` and ``<stem>_histogram.png`` go beside it.
    card : dict
        The model card run_bridge wrote (its metrics hold the split's accuracy and confusion).
    cv_accuracies : list[float]
        Genre accuracy per stratified CV fold.
    covered : dict
        coverage() of the reviews.
    prior, prior_baselines
        evaluate_prior()'s metrics.
    expected : np.ndarray
        (1000,) expected scores of the GTZAN songs through the model.
    """
    stem = path.stem
    path.parent.mkdir(parents=True, exist_ok=True)
    report.plot_confusion(np.array(card["metrics"]["genre_test_confusion"]), GTZAN_GENRES,
                          path.with_name(f"{stem}_confusion.png"), "GTZAN genre, fault-filtered test list")
    cal = card["calibration"]
    hist = {"model over GTZAN songs": np.array(cal["output_histogram_1_to_10"]),
            "Fantano's reviews": np.array(cal["target_histogram_1_to_10"])}
    report.plot_histograms(range(1, 11), hist, path.with_name(f"{stem}_histogram.png"),
                           "Calibrated scores vs Fantano")
    sections = [
        _header_section(card),
        _genre_section(card, cv_accuracies, stem),
        _reviews_section(card["reviews"], covered),
        _prior_section(card, prior, prior_baselines),
        _calibration_section(card, expected, stem),
    ]
    report.write_text(path, "\n\n".join(sections) + "\n")


def _header_section(card: dict) -> str:
    return f"""# Bridge model report

Created {card["created"]}, seed {card["seed"]}, kind `bridge`. Rebuild with
`python -m training bridge --data ../shared/data`. How often re-encoding a recording (mp3, opus, aac)
changes its score: [stability.md](stability.md), from `python -m training stability --data ../shared/data`."""


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


def _genre_section(card: dict, cv_accuracies: list[float], stem: str) -> str:
    training, m = card["training"], card["metrics"]
    runs = m["genre_test_accuracy_per_seed"]
    per_seed = ", ".join(f"{a:.3f}" for a in runs)
    folds = ", ".join(f"{a:.2f}" for a in cv_accuracies)
    tracks = m["genre_test_tracks"]
    trained = tracks["train"] + tracks["valid"]
    matrix = np.array(m["genre_test_confusion"])
    recall = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    rows = [[g, *matrix[i], f"{recall[i]:.0%}"] for i, g in enumerate(GTZAN_GENRES)]
    return f"""## Genre from audio features (GTZAN)
Inputs: the 26 features' means and variances over frames (the GTZAN table's `_mean` and `_var`
columns, 52 in all), standardized inside the model. MLP {training["hidden"]} relu, dropout
{training["dropout"]}, L2 {training["l2"]}, {training["steps"]} minibatches of {training["batch_size"]};
these were chosen on the split's train -> valid lists, so the test list below was not used to tune them.

**Accuracy on the fault-filtered test list: {m["genre_test_accuracy"]:.3f}**
± {m["genre_test_accuracy_std"]:.3f} (trained on train + valid, {trained} tracks; tested on
{tracks["test"]} tracks of other artists; {len(runs)} seeds: {per_seed}). This is the figure to compare
with published work on the same split: MFCCs + SVM 0.534, VGGish + SVM 0.776. GTZAN's fault-filtered split
removes repeated clips and mislabelled tracks and keeps each artist in one list.

Stratified {len(cv_accuracies)}-fold accuracy over all 1,000 clips: {np.mean(cv_accuracies):.3f}
± {np.std(cv_accuracies):.3f} (folds: {folds}; chance 0.10). These folds put clips of one artist, and
GTZAN's repeated clips, on both sides, so they overstate accuracy on new music.

Confusion on the test list (first seed; rows = truth, columns = prediction):

{report.table(["truth", *GTZAN_GENRES, "recall"], rows)}

![confusion]({stem}_confusion.png)

The bundled network is trained on {training["genre_rows"]} (the split measured the recipe; the shipped
model gets every artist)."""


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

{album_report(cal)}

Largest difference between the Keras model and the LiteRT file over GTZAN: {diff:.1e}."""
