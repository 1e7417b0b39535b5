"""model.scorer: the Rating contract, artifact checks, and the committed bundled model."""

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from model import MODEL_DIR
from model.features import FEATURE_NAMES
from model.scorer import CARD_NAME, TFLITE_NAME, ModelError, Rating, Scorer

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parents[1].parent / "shared" / "data"
NO_DATA = f"{DATA} is absent (the shared data set lives outside the repo)"
GTZAN_BLUES_0 = np.array(
    [0.35, 0.13, 1784.0, 2002.0, 3806.0, 0.083, -113.6, 121.6, -19.2, 42.4, -6.4, 18.6, -13.7, 15.3,
     -12.3, 11.0, -8.3, 8.8, -3.7, 5.7, -5.2, 0.75, -1.7, -0.4, -2.3, 1.2]
)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.load()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    for name in (TFLITE_NAME, CARD_NAME):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    return tmp_path


def test_rating_round_trips_through_json() -> None:
    rating = Rating(score=7, expected=6.4, distribution=tuple([0.0] * 10 + [1.0]),
                    genres=(("hiphop", 0.5), ("pop", 0.3), ("rock", 0.1)))
    again = Rating.from_dict(json.loads(json.dumps(rating.to_dict())))
    assert again == rating


def test_rate_gives_a_consistent_rating(scorer: Scorer) -> None:
    rating = scorer.rate(GTZAN_BLUES_0)
    assert isinstance(rating.score, int) and 1 <= rating.score <= 10
    assert len(rating.distribution) == 11 and sum(rating.distribution) == pytest.approx(1.0)
    assert rating.expected == pytest.approx(float(np.dot(rating.distribution, np.arange(11))))
    labels = [label for label, _ in rating.genres]
    probabilities = [p for _, p in rating.genres]
    assert len(labels) == 3 and set(labels) <= set(scorer.card["genres"])
    assert probabilities == sorted(probabilities, reverse=True)
    assert scorer.rate(GTZAN_BLUES_0) == rating


def test_rate_rejects_bad_features(scorer: Scorer) -> None:
    with pytest.raises(ValueError, match="26 finite features"):
        scorer.rate(np.zeros(25))
    with pytest.raises(ValueError, match="26 finite features"):
        scorer.rate(np.full(26, np.nan))


def test_rate_is_safe_from_many_threads(scorer: Scorer) -> None:
    rows = GTZAN_BLUES_0 * np.random.default_rng(0).uniform(0.7, 1.3, size=(40, 26))
    sequential = [scorer.rate(row) for row in rows]
    results: dict[int, list[Rating]] = {}

    def work(i: int) -> None:
        results[i] = [scorer.rate(row) for row in rows]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == sequential for i in range(4))


def test_missing_model_says_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="python -m training bridge"):
        Scorer.load(tmp_path)


def test_tampered_flatbuffer_is_refused(model_copy: Path) -> None:
    with (model_copy / TFLITE_NAME).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="does not match its card"):
        Scorer.load(model_copy)


def _edit_card(directory: Path, **changes: object) -> None:
    card = json.loads((directory / CARD_NAME).read_text())
    card.update(changes)
    (directory / CARD_NAME).write_text(json.dumps(card))


def test_card_with_other_features_is_refused(model_copy: Path) -> None:
    _edit_card(model_copy, feature_names=list(reversed(FEATURE_NAMES)))
    with pytest.raises(ModelError, match="other features"):
        Scorer.load(model_copy)


def test_card_with_unordered_calibration_is_refused(model_copy: Path) -> None:
    _edit_card(model_copy, calibration={"thresholds": [9, 8, 7, 6, 5, 4, 3, 2, 1]})
    with pytest.raises(ModelError, match="not monotone"):
        Scorer.load(model_copy)


def test_corrupt_card_is_refused(model_copy: Path) -> None:
    (model_copy / CARD_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        Scorer.load(model_copy)


def test_committed_card_describes_the_bridge_model() -> None:
    card = json.loads((MODEL_DIR / CARD_NAME).read_text())
    assert card["kind"] == "bridge" and card["feature_names"] == list(FEATURE_NAMES)
    assert len(card["genres"]) == 10
    assert card["metrics"]["genre_cv_folds"] == 10
    assert card["metrics"]["genre_cv_accuracy"] >= 0.65
    assert np.all(np.diff(card["calibration"]["thresholds"]) >= 0)


def test_committed_model_loads_fast_without_tensorflow() -> None:
    # A fresh process: model.features (librosa) is imported first, so the time is the scorer's own.
    code = textwrap.dedent("""
        import json, sys, time
        import model.features
        start = time.perf_counter()
        from model.scorer import Scorer
        scorer = Scorer.load()
        loaded = time.perf_counter() - start
        scorer.rate([0.35, 0.13, 1784, 2002, 3806, 0.083] + [0.0] * 20)
        print(json.dumps({"seconds": loaded, "tensorflow": "tensorflow" in sys.modules,
                          "keras": "keras" in sys.modules}))
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["tensorflow"] is False and result["keras"] is False
    assert result["seconds"] < 1.0


def test_flatbuffer_matches_the_keras_model(scorer: Scorer, tmp_path: Path) -> None:
    # The .keras file is the source of truth: run it under TensorFlow in its own process on rows spread
    # around its own normalization statistics, and compare with what the scorer serves.
    code = textwrap.dedent("""
        import os, sys
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras, numpy as np
        model = keras.saving.load_model(sys.argv[1])
        norm = model.get_layer("normalize")
        mean, var = (np.asarray(w).reshape(-1) for w in norm.get_weights()[:2])
        rows = mean + np.sqrt(var) * np.random.default_rng(0).normal(size=(64, mean.size))
        genre, score = model.predict(rows.astype("float32"), verbose=0)
        np.savez(sys.argv[2], rows=rows, genre=genre, score=score)
    """)
    out = tmp_path / "keras.npz"
    run = subprocess.run([sys.executable, "-c", code, str(MODEL_DIR / "needlebot.keras"), str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    keras_out = np.load(out)
    labels = scorer.card["genres"]
    for row, genre, score in zip(keras_out["rows"], keras_out["genre"], keras_out["score"], strict=True):
        rating = scorer.rate(row)
        np.testing.assert_allclose(rating.distribution, score, atol=1e-5)
        for label, p in rating.genres:
            assert p == pytest.approx(genre[labels.index(label)], abs=1e-5)


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_gtzan_songs_get_fantanos_histogram(scorer: Scorer) -> None:
    from training.bridge import load_gtzan

    features, _ = load_gtzan(DATA)
    scores = np.array([scorer.rate(row).score for row in features])
    got = np.bincount(scores - 1, minlength=10) / len(scores)
    target = np.array(scorer.card["calibration"]["target_histogram_1_to_10"])
    assert np.abs(got - target).max() < 0.02


@pytest.mark.skipif(not (DATA / "audio").is_dir(), reason=NO_DATA)
def test_real_recordings_get_different_scores(scorer: Scorer) -> None:
    from model.features import extract_features

    paths = sorted(p for p in (DATA / "audio").iterdir() if p.suffix in {".ogg", ".mp3", ".wav"})
    ratings = {p.name: scorer.rate(extract_features(p).values) for p in paths}
    assert len(ratings) >= 5
    assert len({r.score for r in ratings.values()}) > 1, ratings
    assert all(1 <= r.score <= 10 and len(r.genres) == 3 for r in ratings.values())
