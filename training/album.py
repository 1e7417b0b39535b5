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
so the thresholds are reproducible.
"""

from __future__ import annotations

import numpy as np

from model.album import album_expected
from model.calibration import calibrate, fit_thresholds

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


def album_calibration(expected: np.ndarray, genres: np.ndarray, target: np.ndarray, seed: int) -> dict:
    """Album thresholds fitted over simulated albums, and the histogram they give; for the model card.

    Parameters
    ----------
    expected : (n,) float
        The model's expected score (0..10) of each reference song.
    genres : (n,) int
        Each song's genre index.
    target : (10,) float
        Fantano's shares of album scores 1..10.
    seed : int
        Seeds the simulation.
    """
    albums = simulate_albums(genres, SIMULATED, np.random.default_rng(seed))
    means = np.array([album_expected(expected[rows]) for rows in albums])
    thresholds = fit_thresholds(means, target)
    output = np.bincount(calibrate(means, thresholds) - 1, minlength=10) / len(means)
    return {
        "album_thresholds": thresholds.tolist(),
        "album_reference": (
            f"{SIMULATED} simulated albums of {TRACKS[0]}-{TRACKS[1]} GTZAN songs, mostly from one or two"
            " genres (training/album.py), mean expected score per album"
        ),
        "album_output_histogram_1_to_10": output.tolist(),
        "album_expected_spread": [float(means.min()), float(means.max()), float(means.std())],
    }
