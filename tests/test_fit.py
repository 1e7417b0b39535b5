"""`python -m training fit` on a small generated tracks table, then the result served by the Scorer."""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model.features import FEATURE_NAMES
from training.fit import artist_folds, load_tracks

REPO = Path(__file__).resolve().parents[1]
HEADER = ["album_id", "artist", "album", "track", "album_score", "is_favourite", "is_least_favourite",
          "video_id", *FEATURE_NAMES]


def write_tracks(path: Path, albums: int = 40, tracks: int = 5, seed: int = 1) -> None:
    """albums x tracks rows, two albums per artist; feature 0 rises with the album score (weakly)."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for a in range(albums):
            score = int(rng.integers(3, 10))
            for t in range(tracks):
                x = rng.normal(size=len(FEATURE_NAMES))
                x[0] += 0.6 * (score - 6)
                writer.writerow([f"alb{a}", f"Artist {a // 2}", f"Album {a}", f"Track {t}", score,
                                 int(t == 0), int(t == tracks - 1), f"vid{a}", *x])


def run_fit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", "fit", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_folds_never_split_an_artist_or_an_album(tmp_path: Path) -> None:
    write_tracks(tmp_path / "tracks.csv", albums=30, tracks=3)
    tracks = load_tracks(tmp_path / "tracks.csv")
    folds = artist_folds(tracks, 5, seed=0)
    assert len(folds) == 5
    covered = np.concatenate([test for _, test in folds])
    assert sorted(covered.tolist()) == list(range(90))
    for train, test in folds:
        assert not set(tracks.artists[train]) & set(tracks.artists[test])
        assert not set(tracks.album_ids[train]) & set(tracks.album_ids[test])


def test_load_tracks_skips_unusable_rows(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    write_tracks(path, albums=2, tracks=2)
    with path.open("a", encoding="utf-8", newline="") as f:
        csv.writer(f).writerow(["alb9", "X", "Y", "Z", "n/a", 0, 0, "", *([0.0] * len(FEATURE_NAMES))])
        csv.writer(f).writerow(["alb9", "X", "Y", "Z", 5, 0, 0, "", *(["nan"] * len(FEATURE_NAMES))])
    tracks = load_tracks(path)
    assert tracks.features.shape == (4, len(FEATURE_NAMES))
    assert tracks.favourite.tolist() == [True, False, True, False]


def test_fit_rejects_a_table_without_feature_columns(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    path.write_text("album_id,artist,album,track,album_score\na,b,c,d,7\n", encoding="utf-8")
    run = run_fit(str(path), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "lacks the columns" in run.stderr and "mfcc1" in run.stderr
    assert not (tmp_path / "out").exists()


def test_fit_rejects_too_few_artists(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    write_tracks(path, albums=4, tracks=2)  # 2 artists
    run = run_fit(str(path), "--out", str(tmp_path / "out"), "--folds", "5")
    assert run.returncode == 2
    assert "2 artists" in run.stderr


def test_refitting_a_restored_model_equals_building_it_afresh(tmp_path: Path) -> None:
    # The permutation refits reuse each fold's compiled model (no second Keras trace); their results
    # must be those of models built anew, to the bit, or the p-value would test another procedure.
    write_tracks(tmp_path / "tracks.csv", albums=20, tracks=3)
    code = textwrap.dedent("""
        import sys
        from dataclasses import replace
        import numpy as np
        from training.fit import cross_validate, load_tracks
        tracks = load_tracks(sys.argv[1])
        shuffled = replace(tracks, scores=tracks.scores[::-1].copy())
        models = {}
        for table in (tracks, shuffled):
            fresh = cross_validate(table, 0.5, 2, 100, 7, progress=False)
            reused = cross_validate(table, 0.5, 2, 100, 7, progress=False, models=models)
            assert np.array_equal(fresh["expected"], reused["expected"]), reused["expected"]
            assert np.array_equal(fresh["integer"], reused["integer"])
        assert sorted(models) == [0, 1]
        print(len(np.unique(fresh["expected"])))
    """)
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tracks.csv")], cwd=REPO,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout.split()[-1]) > 1, "predictions must vary for the comparison to mean anything"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    write_tracks(root / "tracks.csv")
    # 19 permutations, each refitting both folds: the smallest p-value possible is 1/20, so p = 0.05 still
    # says the signal beat every refit on shuffled scores. 100 steps (one Keras execution, the fewest fit
    # runs) find the planted signal (Spearman ~0.6 against a null maximum ~0.2); more steps buy no
    # meaning, only time.
    run = run_fit(str(root / "tracks.csv"), "--out", str(root / "out"), "--folds", "2", "--steps", "100",
                  "--permutations", "19")
    assert run.returncode == 0, run.stderr[-3000:]
    return root / "out"


def test_fit_reports_album_level_metrics_beside_baselines(fitted: Path) -> None:
    card = json.loads((fitted / "card.json").read_text())
    assert card["kind"] == "direct" and card["genres"] == []
    metrics = card["metrics"]
    assert (metrics["albums"], metrics["tracks"], metrics["artists"]) == (40, 200, 20)
    assert metrics["grouped_by"] == "artist" and metrics["level"] == "album"
    assert set(metrics["baselines"]) == {"always 7", "the mean", "random draws"}
    # the generated features carry the score, so a working pipeline finds it out of fold
    assert metrics["album"]["spearman"] > 0.3
    assert metrics["permutations"] == 19 and metrics["spearman_p_value"] == pytest.approx(1 / 20)
    assert metrics["spearman_null_max"] < metrics["album"]["spearman"]
    assert metrics["album"]["mae"] < metrics["baselines"]["random draws"]["mae"]
    text = (fitted / "report.md").read_text()
    assert "always 7" in text and "permutation p-value" in text and "training folds' albums only" in text
    assert (fitted / "report_histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_fitted_model_serves_without_tensorflow(fitted: Path, tmp_path: Path) -> None:
    from model.scorer import Scorer

    scorer = Scorer.load(fitted)
    tracks = load_tracks(fitted.parent / "tracks.csv")
    ratings = [scorer.rate(row) for row in tracks.features]
    assert all(r.genres == () for r in ratings)
    assert all(1 <= r.score <= 10 for r in ratings)
    low = np.mean([r.expected for r, s in zip(ratings, tracks.scores, strict=True) if s <= 5])
    high = np.mean([r.expected for r, s in zip(ratings, tracks.scores, strict=True) if s >= 8])
    assert high > low
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
