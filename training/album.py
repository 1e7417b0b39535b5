"""Album-level calibration of the bundled model: thresholds on the mean of an album's track scores.

``model.album`` rates an album by the mean of its tracks' expected scores. Means of ~12 tracks spread
far less than single songs, so the song thresholds would put nearly every album at 5-7. The bundled
model has no real albums to look at (no audio of reviewed albums here), so albums are simulated from
the GTZAN songs it is calibrated on:

1. an album has 8-14 tracks (uniform), like most LPs Fantano reviews;
2. it has a main genre (uniform over GTZAN's ten) and, half of the time, a second one; each track is
   drawn from the main genre with probability 0.75, else from the second (or from the main one again);
   tracks of one album are distinct songs;
3. its expected score is ``model.album.album_expected`` over the model's expected scores of those songs.

Over ``SIMULATED`` such albums, ``model.calibration.fit_thresholds`` puts the nine album thresholds at the
quantiles of Fantano's album-score histogram, exactly as it does for songs; the histogram that results
(simulated albums vs Fantano) is stored in the card and shown in the bridge report. The draw is seeded,
so the thresholds are reproducible. A ``fit`` model has real albums: its album thresholds come from the
means of its training albums (:func:`album_block`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.album import album_expected
from model.calibration import calibrate, fit_thresholds, target_histogram
from training import report

SIMULATED = 5000
TRACKS = (8, 14)  # inclusive
MAIN_SHARE = 0.75
SECOND_GENRE = 0.5


def simulate_albums(genres: np.ndarray, n_albums: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices of ``n_albums`` simulated albums.

    Parameters
    ----------
    genres : (n,) int
        Each song's genre index.
    n_albums : int
        How many albums to draw.
    rng : numpy Generator
        The only source of randomness.
    """
    by_genre = [np.flatnonzero(genres == g) for g in np.unique(genres)]
    albums = []
    for _ in range(n_albums):
        size = int(rng.integers(TRACKS[0], TRACKS[1] + 1))
        main = int(rng.integers(len(by_genre)))
        second = int(rng.integers(len(by_genre))) if rng.random() < SECOND_GENRE else main
        from_main = int(np.sum(rng.random(size) < MAIN_SHARE))
        picked = [rng.choice(by_genre[main], from_main, replace=False)]
        pool = np.setdiff1d(by_genre[second], picked[0])
        picked.append(rng.choice(pool, size - from_main, replace=False))
        albums.append(np.concatenate(picked))
    return albums


def album_block(album_means: np.ndarray, truth: np.ndarray, reference: str) -> dict:
    """The card's album calibration: thresholds on album means so album scores follow Fantano's.

    Parameters
    ----------
    album_means : (m,) float
        ``model.album.album_expected`` of each reference album (0..10).
    truth : (k,) int
        Fantano's album scores 0..10 whose histogram the album scores should follow.
    reference : str
        What the album means were computed on, for the card's reader.

    Returns
    -------
    dict
        ``album_thresholds`` (9), ``album_reference``, ``album_output_histogram_1_to_10`` (10) and
        ``album_expected_spread`` (min, max, standard deviation of the album means), to merge into the
        card's ``calibration``.
    """
    thresholds = fit_thresholds(album_means, target_histogram(truth))
    output = np.bincount(calibrate(album_means, thresholds) - 1, minlength=10) / len(album_means)
    return {
        "album_thresholds": thresholds.tolist(),
        "album_reference": reference,
        "album_output_histogram_1_to_10": output.tolist(),
        "album_expected_spread": [float(np.min(album_means)), float(np.max(album_means)),
                                  float(np.std(album_means))],
    }


def simulated_album_block(
    expected: np.ndarray, genres: np.ndarray, truth: np.ndarray, song_thresholds: Sequence[float], seed: int
) -> dict:
    """:func:`album_block` over ``SIMULATED`` albums drawn from the reference songs (module docstring).

    Also records the histogram the same albums would get through the song thresholds
    (``album_with_song_thresholds_1_to_10``): what the album calibration corrects.

    Parameters
    ----------
    expected : (n,) float
        The model's expected score (0..10) of each reference song.
    genres : (n,) int
        Each song's genre index.
    truth : (k,) int
        Fantano's album scores 0..10.
    song_thresholds : (9,) float
        The song calibration.
    seed : int
        Seeds the simulation.
    """
    albums = simulate_albums(genres, SIMULATED, np.random.default_rng(seed))
    means = np.array([album_expected(expected[rows]) for rows in albums])
    reference = (
        f"{SIMULATED} simulated albums of {TRACKS[0]}-{TRACKS[1]} reference songs, mostly from one or two"
        " genres (training/album.py), mean expected score per album"
    )
    as_songs = np.bincount(calibrate(means, np.asarray(song_thresholds)) - 1, minlength=10) / len(means)
    return album_block(means, truth, reference) | {"album_with_song_thresholds_1_to_10": as_songs.tolist()}


def report_section(calibration: dict) -> str:
    """Markdown: the album calibration and how its histogram matches Fantano's, for training reports."""
    spread = calibration["album_expected_spread"]
    histograms = {
        "albums, album thresholds": np.array(calibration["album_output_histogram_1_to_10"]),
        "albums, song thresholds": np.array(calibration["album_with_song_thresholds_1_to_10"]),
        "Fantano": np.array(calibration["target_histogram_1_to_10"]),
    }
    return f"""### Albums
An album's score is the mean of its tracks' expected scores (`model/album.py`) through its own
thresholds: album means spread less than songs (here {spread[0]:.2f}..{spread[1]:.2f}, standard
deviation {spread[2]:.3f}), so the song thresholds would bunch albums in the middle (middle column).
Reference:
{calibration["album_reference"]}. Thresholds:
`{", ".join(f"{t:.3f}" for t in calibration["album_thresholds"])}`.

{report.histogram_table(range(1, 11), histograms)}"""
