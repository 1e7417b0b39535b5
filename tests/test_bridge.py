"""The bridge recipe: genre mapping, review loading, P(score | genre), a real rebuild from the shared data."""

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.features import FEATURE_NAMES
from training.bridge import GTZAN, GTZAN_INPUTS, SMOOTHING, SPLIT, load_gtzan, load_split, score_given_genre
from training.genres import GTZAN_GENRES, genre_weights, tag_genres
from training.reviews import DataError, load_reviews

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parents[1].parent / "shared" / "data"
NO_DATA = f"{DATA} is absent (the shared data set lives outside the repo)"


@pytest.mark.parametrize(
    ("tag", "genres"),
    [
        ("conscious hip hop", ("hiphop",)),
        ("jazz rap", ("hiphop",)),
        ("art pop", ("pop",)),
        ("synthpop", ("pop",)),
        ("black metal", ("metal",)),
        ("hardcore punk", ("rock",)),
        ("hardcore hip hop", ("hiphop",)),
        ("rap metal", ("metal",)),
        ("krautrock", ("rock",)),
        ("singer-songwriter", ("country", "pop")),
        ("ALTERNATIVE R\\u0026B", ("pop",)),
        ("ambient", ()),
        ("dubstep", ()),
        ("amazing shit.", ()),
    ],
)
def test_tag_maps_through_its_head_term(tag: str, genres: tuple[str, ...]) -> None:
    assert tag_genres(tag) == genres


def test_genre_weights_share_a_review_between_mapped_tags() -> None:
    weights = genre_weights(["jazz rap", "singer-songwriter", "ambient"])
    assert weights.sum() == pytest.approx(1.0)
    assert weights[GTZAN_GENRES.index("hiphop")] == pytest.approx(0.5)
    assert weights[GTZAN_GENRES.index("country")] == pytest.approx(0.25)
    assert weights[GTZAN_GENRES.index("pop")] == pytest.approx(0.25)
    assert genre_weights(["ambient", "idm"]).sum() == 0.0


def test_score_given_genre_smooths_rare_genres_toward_the_overall_histogram() -> None:
    overall = np.full(11, 1 / 11)
    weights = np.zeros((101, 10))
    weights[:100, 0] = 1.0  # 100 blues reviews all scored 8
    weights[100, 1] = 1.0  # one classical review scored 2
    scores = np.array([8] * 100 + [2])
    table = score_given_genre(weights, scores, overall)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert table[0, 8] == pytest.approx((100 + SMOOTHING / 11) / (100 + SMOOTHING))
    assert table[1, 2] == pytest.approx((1 + SMOOTHING / 11) / (1 + SMOOTHING))
    np.testing.assert_allclose(table[5], overall)  # no reviews: the overall histogram


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_load_reviews_deduplicates_and_drops_jokes_and_non_numeric(tmp_path: Path) -> None:
    _write_csv(tmp_path / "tnd_reviews.csv", ["publishedAt", "artist", "title", "rating", "genres"], [
        ["2020", "Geese", "3D Country", 8, "southern rock;;post-punk"],
        ["2020", "Björk", "Utopia", 7, ""],
    ])
    fetcher = ["artist", "album", "rating", "genres"]
    _write_csv(tmp_path / "fantano_fetcher_reviews.csv", fetcher, [
        ["GEESE", "3D Country!", "8", "SOUTHERN ROCK, POST-PUNK"],
        ["Bjork", "Utopia", "7", "ART POP, AMBIENT"],
        ["PLANNINGTOROCK", "All Love's Legal", "0", "ART POP"],
        ["PLANNINGTOROCK", "All Love's Legal", "10", "ART POP"],
        ["The Beatles", "Abbey Road", "classic", "ROCK"],
        ["Nobody", "Nothing", "", "ROCK"],
        ["Swans", "The Seer", "9", "EXPERIMENTAL ROCK"],
    ])
    reviews, stats = load_reviews(tmp_path)
    assert sorted((r.artist, r.score) for r in reviews) == [("Björk", 7), ("Geese", 8), ("Swans", 9)]
    bjork = next(r for r in reviews if r.artist == "Björk")
    assert bjork.tags == ("art pop", "ambient")  # completed from the fetcher table
    assert stats["april_fools"] == 2 and stats["non_numeric"] == 2 and stats["duplicates"] == 2


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_gtzan_inputs_are_the_tables_means_then_variances() -> None:
    gtzan = load_gtzan(DATA)
    assert gtzan.features.shape == (1000, 52)
    assert GTZAN_INPUTS[:26] == tuple(f"{n}_mean" for n in FEATURE_NAMES)
    assert GTZAN_INPUTS[26:] == tuple(f"{n}_var" for n in FEATURE_NAMES)
    with (DATA / GTZAN).open(encoding="utf-8") as f:
        first = next(csv.DictReader(f))
    assert gtzan.names[0] == first["filename"].removesuffix(".au")
    np.testing.assert_array_equal(gtzan.features[0], [float(first[c]) for c in GTZAN_INPUTS])


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_fault_filtered_split_maps_onto_the_table_without_overlap() -> None:
    gtzan = load_gtzan(DATA)
    split = load_split(DATA, gtzan)
    assert {k: len(v) for k, v in split.items()} == {"train": 443, "valid": 197, "test": 290}
    together = np.concatenate(list(split.values()))
    assert len(set(together.tolist())) == 930
    first = (DATA / SPLIT / "test_filtered.txt").read_text().split()[0]  # e.g. blues/blues.00012.wav
    assert gtzan.names[split["test"][0]] == Path(first).stem
    assert GTZAN_GENRES[gtzan.genres[split["test"][0]]] == first.split("/")[0]


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_split_naming_a_track_the_table_lacks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gtzan").mkdir()
    (tmp_path / GTZAN).write_bytes((DATA / GTZAN).read_bytes())
    (tmp_path / SPLIT).mkdir()
    for i, part in enumerate(("train", "valid", "test")):
        (tmp_path / SPLIT / f"{part}_filtered.txt").write_text(f"blues/blues.0000{i}.wav\n")
    assert [v.tolist() for v in load_split(tmp_path, load_gtzan(tmp_path)).values()] == [[0], [1], [2]]
    (tmp_path / SPLIT / "test_filtered.txt").write_text("jazz/jazz.00999.wav\n")
    with pytest.raises(DataError, match=r"lacks: jazz\.00999"):
        load_split(tmp_path, load_gtzan(tmp_path))
    (tmp_path / SPLIT / "test_filtered.txt").write_text("blues/blues.00000.wav\n")  # also in train
    with pytest.raises(DataError, match="twice"):
        load_split(tmp_path, load_gtzan(tmp_path))
    (tmp_path / SPLIT / "valid_filtered.txt").unlink()
    with pytest.raises(DataError, match=r"valid_filtered\.txt not found"):
        load_split(tmp_path, load_gtzan(tmp_path))


def test_bridge_cli_names_a_missing_table(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "training", "bridge", "--data", str(tmp_path), "--out", str(tmp_path / "m")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "tnd_reviews.csv not found" in run.stderr
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bridge model rebuilt from the shared data with a cheap CV, in a temporary directory."""
    out = tmp_path_factory.mktemp("bridge")
    run = subprocess.run(
        [sys.executable, "-m", "training", "bridge", "--data", str(DATA), "--out", str(out),
         "--report", str(out / "report.md"), "--cv-folds", "2", "--steps", "600"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_rebuilt_card(rebuilt: Path) -> None:
    card = json.loads((rebuilt / "card.json").read_text())
    assert card["kind"] == "bridge"
    assert card["feature_names"] == list(GTZAN_INPUTS)  # 26 means, then their 26 variances
    assert card["genres"] == list(GTZAN_GENRES)
    assert card["classes"] == list(range(11))
    thresholds = card["calibration"]["thresholds"]
    assert len(thresholds) == 9 and np.all(np.diff(thresholds) >= 0)
    inputs = ("tnd_reviews.csv", "fantano_fetcher_reviews.csv", "features_30_sec.csv", "test_filtered.txt")
    for name in inputs:
        source = next(DATA.rglob(name))
        assert card["data_sha256"][name] == hashlib.sha256(source.read_bytes()).hexdigest()
    for name in ("needlebot.keras", "needlebot.tflite"):
        assert card["sha256"][name] == hashlib.sha256((rebuilt / name).read_bytes()).hexdigest()
    metrics = card["metrics"]
    assert metrics["genre_cv_folds"] == 2
    assert 0.5 < metrics["genre_cv_accuracy"] <= 1.0  # chance is 0.1
    # unseen artists are harder than stratified folds, yet far above chance
    assert 0.3 < metrics["genre_test_accuracy"] < metrics["genre_cv_accuracy"]
    assert len(metrics["genre_test_accuracy_per_seed"]) == 5
    assert metrics["genre_test_tracks"] == {"train": 443, "valid": 197, "test": 290}
    matrix = np.array(metrics["genre_test_confusion"])
    assert matrix.shape == (10, 10) and matrix.sum() == 290
    assert np.trace(matrix) / 290 == metrics["genre_test_accuracy_per_seed"][0]
    assert card["reviews"]["april_fools"] == 2
    table = np.array(card["score_given_genre"])
    assert table.shape == (10, 11)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-9)
    output = np.array(card["calibration"]["output_histogram_1_to_10"])
    target = np.array(card["calibration"]["target_histogram_1_to_10"])
    assert np.abs(output - target).max() < 0.02
    # Albums (means of simulated tracklists) get their own thresholds, fitted to the same histogram.
    album = card["calibration"]
    assert len(album["album_thresholds"]) == 9 and np.all(np.diff(album["album_thresholds"]) >= 0)
    assert np.abs(np.array(album["album_output_histogram_1_to_10"]) - target).max() < 0.02
    assert card["tflite_max_abs_diff"] < 1e-5


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_rebuilt_report_and_plots(rebuilt: Path) -> None:
    text = (rebuilt / "report.md").read_text()
    assert "2-fold accuracy" in text and "always 7" in text
    assert "Accuracy on the fault-filtered test list" in text and "| recall |" in text
    assert "### Albums" in text and "albums, song thresholds" in text
    for picture in ("report_confusion.png", "report_histogram.png"):
        assert (rebuilt / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(rebuilt.glob(".build-*")) and not list(rebuilt.glob("*.tmp"))


SERVE_REBUILT = """
import json, sys
from pathlib import Path
import pytest
from model.scorer import Scorer
from training.bridge import load_gtzan
gtzan = load_gtzan(Path(sys.argv[1]))
scorer = Scorer.load(Path(sys.argv[2]))
rating = scorer.rate(gtzan.features[0, :26], gtzan.features[0, 26:])  # blues.00000's means, variances
with pytest.raises(ValueError, match="variances"):
    scorer.rate(gtzan.features[0, :26])
print(json.dumps({"score": rating.score, "genres": [g for g, _ in rating.genres],
                  "imported": sorted({"tensorflow", "keras"} & set(sys.modules))}))
"""


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_rebuilt_model_serves_without_tensorflow(rebuilt: Path) -> None:
    # A process of its own: an earlier test in this one (the taste model's) may have imported Keras.
    run = subprocess.run([sys.executable, "-c", SERVE_REBUILT, str(DATA), str(rebuilt)],
                         capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    served = json.loads(run.stdout.strip().splitlines()[-1])
    assert 1 <= served["score"] <= 10
    assert len(served["genres"]) == 3 and served["genres"][0] in GTZAN_GENRES
    assert served["imported"] == []
