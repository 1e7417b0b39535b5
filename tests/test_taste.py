"""The taste model: leak-free evidence, the served flatbuffer, its card, the score rule and the anchors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import MODEL_DIR
from model.taste import (
    FEATURE_NAMES,
    TAG_TABLE,
    TASTE_CARD,
    TASTE_TFLITE,
    AlbumReview,
    ArtistHistory,
    Evidence,
    ModelError,
    Taste,
    anchored,
    histogram_tv,
    load_tag_table,
    load_taste,
    term_matches,
)
from training.taste import TndReview, evidence_rows, group_mask, masked

CONFUSION = np.eye(10)


def _review(day: int, artist: str, score: int, tags: tuple[str, ...] = ("indie rock",)) -> TndReview:
    return TndReview(f"2020-01-{day:02d}T00:00:00Z", artist, artist, score, tags)


def _rows(reviews: list[TndReview]) -> np.ndarray:
    return evidence_rows(reviews, load_tag_table(MODEL_DIR / TAG_TABLE), CONFUSION, seed=0)[0]


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def taste() -> Taste:
    return load_taste()


def test_evidence_never_sees_the_reviews_own_score_or_later_ones() -> None:
    # Same history, different own scores and different later reviews: every row up to the changed one
    # must be identical, or a score leaked into its own evidence or into an earlier one.
    base = [_review(1, "a", 8), _review(2, "a", 6), _review(3, "b", 5), _review(4, "a", 9)]
    changed = [_review(1, "a", 8), _review(2, "a", 6), _review(3, "b", 5), _review(4, "a", 1)]
    later = [*base, _review(5, "a", 0), _review(6, "a", 0)]
    rows, other, longer = _rows(base), _rows(changed), _rows(later)
    np.testing.assert_array_equal(rows, other)  # the last review's own score is in no row
    np.testing.assert_array_equal(rows, longer[:4])  # later reviews change no earlier row
    # and the history is there: review 4 sees two earlier reviews of "a" (8 and 6), latest 6
    assert rows[3, col("artist_log_count")] == pytest.approx(np.log1p(2))
    mu = (8 + 6 + 5) / 3
    assert rows[3, col("artist_latest")] == pytest.approx(6 - mu)
    assert rows[0, col("artist_reviewed")] == 0 and rows[0, col("genre_present")] == 0


def test_masking_zeroes_exactly_the_groups_left_out() -> None:
    rows = _rows([_review(1, "a", 8), _review(2, "a", 6)])
    x, y = masked(rows, np.array([8, 6]))
    assert x.shape == (2 * 16, len(FEATURE_NAMES)) and list(y[:16]) == [8] * 16
    artist_only = rows[1] * group_mask(("artist",))
    assert artist_only[col("artist_reviewed")] == 1 and artist_only[col("genre_present")] == 0
    assert artist_only[col("overall_mean")] == rows[1, col("overall_mean")]  # context always stays


def test_tag_terms_match_whole_words() -> None:
    assert term_matches("rock", "post-rock") and term_matches("hip hop", "conscious hip hop")
    assert not term_matches("rock", "krautrock") and not term_matches("pop", "k-popular")


def test_every_tag_table_line_gives_a_reason() -> None:
    import csv

    with (MODEL_DIR / TAG_TABLE).open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) >= 90 and all(line["why"].strip() for line in lines)
    names = [line["name"].lower() for line in lines]
    assert len(names) == len(set(names)), "one line per tag name"


def test_tv_of_histograms_by_hand() -> None:
    assert histogram_tv(np.array([7, 7, 8, 8]), np.array([7, 8, 7, 8])) == 0.0
    assert histogram_tv(np.array([7, 7]), np.array([8, 8])) == 1.0
    # 0 counts as 1; half of |0.5-0| + |0.5-1| = 0.5
    assert histogram_tv(np.array([0, 5]), np.array([1, 1])) == 0.5


def test_flatbuffer_matches_keras(taste: Taste) -> None:
    pytest.importorskip("keras")
    from training import network

    model = network.keras.saving.load_model(MODEL_DIR / "taste.keras")
    rng = np.random.default_rng(0)
    rows = rng.normal(scale=0.5, size=(5, len(FEATURE_NAMES)))
    keras_out = model.predict(rows.astype(np.float32), verbose=0)
    lite = np.stack([taste.distribution(r) for r in rows])
    assert np.max(np.abs(keras_out - lite)) < 1e-4


def test_no_evidence_gives_his_overall_histogram_and_says_little(taste: Taste) -> None:
    result = taste.rate(evidence=Evidence())
    overall = np.array(taste.card["stats"]["overall"])
    mean = overall[1] / overall[0]
    assert abs(result.rating.expected - mean) < 0.3
    assert result.rating.evidence == "little" and result.basis == ()
    assert result.rating.score in (6, 7)


def test_more_evidence_moves_the_score_the_way_his_history_points(taste: Taste) -> None:
    def rate(mean: float, latest: int) -> object:
        history = ArtistHistory(5, mean, latest)
        return taste.rate(evidence=Evidence(artist_known=True, artist=history, genres=("art pop",)))

    loved, hated = rate(8.8, 9), rate(3.0, 2)
    assert loved.rating.score >= 8 and hated.rating.score <= 5  # his record is shrunk toward his mean
    assert loved.rating.evidence == hated.rating.evidence == "strong"
    assert loved.basis == ("artist", "genre")


def test_his_album_review_anchors_and_his_picks_move_a_point(taste: Taste) -> None:
    review = taste.rate(evidence=Evidence(album=AlbumReview(6)))
    assert review.rating.score == 6 and review.rating.evidence == "review"
    assert taste.rate(evidence=Evidence(album=AlbumReview(6, favourite=True))).rating.score == 7
    assert anchored(AlbumReview(1, least_favourite=True))[0] == 1  # never below 1
    score, dist = anchored(AlbumReview(10))
    assert score == 10 and dist.sum() == pytest.approx(1) and dist[10] == pytest.approx(0.85)


def test_heard_tags_alone_are_weak_evidence(taste: Taste) -> None:
    heard = taste.rate(evidence=Evidence(tags=(("Hip-Hop", 0.6), ("rock", 0.1), ("beautiful", 0.3))))
    assert heard.basis == ("heard",) and heard.rating.evidence == "little"
    assert 5 <= heard.rating.score <= 8


def test_card_and_files_belong_together(tmp_path: Path) -> None:
    for name in (TASTE_TFLITE, TASTE_CARD, TAG_TABLE):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    Taste.load(tmp_path)
    (tmp_path / TAG_TABLE).write_text("name,source,terms,why\nrock,msd,metal,changed\n", encoding="utf-8")
    with pytest.raises(ModelError, match="tag table"):
        Taste.load(tmp_path)
    shutil.copy(MODEL_DIR / TAG_TABLE, tmp_path / TAG_TABLE)
    card = json.loads((tmp_path / TASTE_CARD).read_text(encoding="utf-8"))
    card["calibration"]["thresholds"] = card["calibration"]["thresholds"][::-1]
    (tmp_path / TASTE_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match="monotone"):
        Taste.load(tmp_path)
    card["calibration"]["thresholds"] = card["calibration"]["thresholds"][::-1]
    card["calibration"]["offsets"] = card["calibration"]["offsets"][:9]
    (tmp_path / TASTE_CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match="offsets"):
        Taste.load(tmp_path)


def test_committed_card_records_the_honest_test() -> None:
    card = json.loads((MODEL_DIR / TASTE_CARD).read_text(encoding="utf-8"))
    metrics = card["metrics"]["metrics"]
    assert card["reviews"]["train_until"] == "2021-01-01" and card["metrics"]["test_reviews"] > 400
    # what issue 16 asks, as reached; a rebuild that loses them fails here
    assert metrics["taste: artist + genre"]["spearman"] >= 0.45
    assert metrics["taste: artist, repeat artists only"]["spearman"] >= 0.35
    assert metrics["taste: artist + genre"]["mae"] <= 1.22
    assert card["metrics"]["tv"]["taste: artist + genre"] <= 0.10
    # the backtest two years back: the rule beats the previous one there on both counts
    back = card["metrics"]["backtest"]["figures"]
    rule, previous = back["taste: artist + genre"], back["taste: artist + genre (previous rule)"]
    assert rule["mae"] < previous["mae"] and rule["tv"] < previous["tv"]
    assert card["tflite_max_abs_diff"] < 1e-4


def test_artist_history_comes_from_the_table_oldest_first_whatever_the_spelling(tmp_path: Path) -> None:
    from sources.fantano import FantanoReview, FantanoScores, dump

    rows = [FantanoReview("Björk", "Late", 2022, 4, (), None, "2022-05-01", ("art pop",)),
            FantanoReview("Bjork", "Early", 2015, 9, ("STONEMILKER",), None, "2015-01-20", ()),
            FantanoReview("Other", "X", 2019, 2, (), None, "2019-01-01", ())]
    dump(rows, tmp_path / "scores.csv")
    table = FantanoScores.load(tmp_path / "scores.csv")
    assert table.artist_scores("BJÖRK") == (9, 4) and table.artist_scores("nobody") == ()
    assert table.find("bjork", "late").genres == ("art pop",)


def test_his_picks_are_matched_without_bracketed_parts() -> None:
    from bot.service import album_review
    from sources.fantano import FantanoReview

    review = FantanoReview("A", "B", 2015, 7, ("STONEMILKER", "LIONSONG"), "BLACK LAKE")
    assert album_review(review, "Stonemilker (Official Video)") == AlbumReview(7, favourite=True)
    assert album_review(review, "Black Lake") == AlbumReview(7, least_favourite=True)
    assert album_review(review, None) == AlbumReview(7) and album_review(None, "x") is None


def test_the_genre_line_never_argues_with_the_score() -> None:
    from bot import replies
    from bot.store import SongRecord
    from model.scorer import Rating

    def text(score: int) -> str:
        rating = Rating(score, 6.0, (1 / 11,) * 11, (("pop", 0.7),), genre_means=(6.2,))
        return replies.rating_text(SongRecord("k", "T", None, rating, 60.0, False, b"", ()), cached=False)

    assert "averages 6.2" not in text(5)  # issue 16: "a genre Melon averages 6.2 on" beside 5/10
    assert "averages 6.2" in text(6)


def test_the_reply_says_when_it_has_little_to_go_on() -> None:
    from bot import replies
    from bot.store import SongRecord
    from model.scorer import Rating

    def text(evidence: str) -> str:
        rating = Rating(7, 6.5, (1 / 11,) * 11, (), evidence=evidence)
        return replies.rating_text(SongRecord("k", "T", None, rating, 60.0, False, b"", ()), cached=False)

    assert "little to go on" in text("little") and "anchors mine" in text("review")
    assert "little to go on" not in text("strong") and "anchors" not in text("")


def test_a_reviewed_album_takes_his_score_and_his_picks() -> None:
    from bot.album import TrackResult, _summarize
    from bot.store import AlbumRecord, SongRecord, StoredTrack
    from model.scorer import Rating
    from sources.fantano import FantanoReview

    titles = ("Intro", "Big Single", "Deep Cut", "Filler")
    tracks = tuple(StoredTrack(t, 1, i + 1, 180.0) for i, t in enumerate(titles))
    album = AlbumRecord("rel", "Artist", "Album", 2020, None, "test", tracks, "")
    # The model alone would pick "Filler" (its highest expected score) as the favourite.
    flat = (1 / 11,) * 11
    songs = [SongRecord(f"k{i}", t.title, None, Rating(6, 6.0 + i / 10, flat, ()), 180.0, False, b"")
             for i, t in enumerate(tracks)]
    results = tuple(TrackResult(i, t, songs[i], None, None, None, cached=True) for i, t in enumerate(tracks))
    review = FantanoReview("Artist", "Album", 2020, 8, ("BIG SINGLE",), "FILLER")
    rated = _summarize(album, results, [5.0 + k / 2 for k in range(9)], complete=True, review=review)
    assert rated.score == 8
    assert [r.song.rating.score for r in rated.results] == [8, 9, 8, 7]
    assert rated.favourites[0] == 1 and rated.least == 3
    assert all(r.song.rating.evidence == "review" for r in rated.results)
    unreviewed = _summarize(album, results, [5.0 + k / 2 for k in range(9)], complete=True)
    assert unreviewed.favourites[0] == 3  # without his review the model's own order stands
