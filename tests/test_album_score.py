"""The album rule (model/album.py) and its calibration over simulated albums (training/album.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import MODEL_DIR
from model.album import album_expected, album_score, picks
from model.calibration import fit_thresholds
from model.scorer import CARD_NAME, TFLITE_NAME, ModelError, Scorer
from training.album import TRACKS, report_section, simulate_albums, simulated_album_block

# Fantano's shares of album scores 1..10 (0 counted as 1), roughly.
FANTANO = np.array([0.011, 0.019, 0.041, 0.072, 0.146, 0.203, 0.246, 0.221, 0.036, 0.005])


def test_album_expected_is_the_mean_of_its_tracks() -> None:
    assert album_expected([6.0, 7.0, 8.0]) == pytest.approx(7.0)
    with pytest.raises(ValueError):
        album_expected([])
    with pytest.raises(ValueError):
        album_expected([6.0, float("nan")])


def test_album_score_is_monotone_in_its_tracks() -> None:
    thresholds = np.linspace(5.0, 7.0, 9)
    low = album_score([5.5, 6.0, 6.2], thresholds)
    high = album_score([5.5, 6.0, 6.9], thresholds)
    assert 1 <= low < high <= 10
    assert album_score([0.0], thresholds) == 1 and album_score([10.0], thresholds) == 10


def test_picks_best_tracks_and_the_worst_one() -> None:
    favourites, least = picks([6.1, 7.5, 5.0, 7.5, 6.8, 6.0, 6.3, 6.4, 6.5])
    assert favourites == (1, 3, 4) and least == 2
    assert picks([6.0]) == ((0,), None)
    favourites, least = picks([6.0, 6.5, 5.5, 6.2])
    assert favourites == (1,) and least == 2


def test_simulated_albums_are_mostly_one_or_two_genres() -> None:
    genres = np.repeat(np.arange(10), 100)
    albums = simulate_albums(genres, 300, np.random.default_rng(1))
    for rows in albums:
        assert TRACKS[0] <= len(rows) <= TRACKS[1]
        assert len(set(rows.tolist())) == len(rows), "an album repeats a song"
        assert len(np.unique(genres[rows])) <= 2
    same = simulate_albums(genres, 300, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(albums, same, strict=True))


def test_album_thresholds_give_fantanos_histogram_where_song_thresholds_bunch_up() -> None:
    rng = np.random.default_rng(0)
    genres = np.repeat(np.arange(10), 100)
    # Songs: a genre effect plus a larger per-song spread, like the bridge model's expected scores.
    expected = 6.3 + 0.1 * rng.standard_normal(10)[genres] + 0.25 * rng.standard_normal(1000)
    # Album scores drawn from FANTANO's shares, as the bridge passes Fantano's review scores.
    truth = np.repeat(np.arange(1, 11), np.round(FANTANO * 1000).astype(int))
    song_thresholds = fit_thresholds(expected, FANTANO)
    card = simulated_album_block(expected, genres, truth, song_thresholds, seed=0)
    output = np.array(card["album_output_histogram_1_to_10"])
    assert np.abs(output - FANTANO).max() < 0.005
    text = report_section(card | {"target_histogram_1_to_10": FANTANO.tolist()})
    assert "| 7 |" in text and "Thresholds" in text
    assert np.all(np.diff(card["album_thresholds"]) >= 0)

    # The same simulated albums through the song thresholds: averaging squeezes them into the middle.
    as_songs = np.array(card["album_with_song_thresholds_1_to_10"])
    assert as_songs[4:8].sum() > FANTANO[4:8].sum() + 0.1
    albums = simulate_albums(genres, 2000, np.random.default_rng(0))
    scores = np.array([album_score(expected[rows], song_thresholds) for rows in albums])
    middle = np.mean((scores >= 5) & (scores <= 8))
    assert middle > FANTANO[4:8].sum() + 0.1
    assert card["album_expected_spread"][2] < expected.std() / 2


def test_the_served_model_reads_its_album_thresholds(tmp_path: Path) -> None:
    for name in (TFLITE_NAME, CARD_NAME):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    card = json.loads((tmp_path / CARD_NAME).read_text())
    album = [6.0 + k / 10 for k in range(9)]
    card["calibration"]["album_thresholds"] = album
    (tmp_path / CARD_NAME).write_text(json.dumps(card))
    assert Scorer.load(tmp_path).album_thresholds == tuple(album)
    card["calibration"]["album_thresholds"] = album[::-1]
    (tmp_path / CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="album calibration"):
        Scorer.load(tmp_path)



def test_the_bundled_model_has_album_thresholds() -> None:
    calibration = Scorer.load(MODEL_DIR).card["calibration"]
    assert len(calibration["album_thresholds"]) == 9
    assert np.all(np.diff(calibration["album_thresholds"]) >= 0)
