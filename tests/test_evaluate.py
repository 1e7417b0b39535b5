"""training.evaluate, model.calibration and the label helpers, on hand-checkable cases (no TensorFlow)."""

import math

import numpy as np
import pytest

from model.calibration import (
    calibrate,
    expected_errors,
    fit_offsets,
    fit_thresholds,
    score_from_distribution,
    target_histogram,
)
from training.evaluate import (
    baselines,
    confusion,
    good_auc,
    mae,
    permutation_p_value,
    quadratic_kappa,
    score_metrics,
    spearman,
    within_one,
)
from training.fit import album_means, soft_labels


def test_mae_and_within_one_by_hand() -> None:
    truth = np.array([7, 8, 3, 6])
    pred = np.array([7, 6, 4, 6])
    assert mae(truth, pred) == pytest.approx((0 + 2 + 1 + 0) / 4)
    assert within_one(truth, pred) == pytest.approx(3 / 4)


def test_spearman_perfect_reversed_and_constant() -> None:
    truth = np.array([1, 2, 3, 4, 5])
    assert spearman(truth, truth * 10.0) == pytest.approx(1.0)
    assert spearman(truth, -truth) == pytest.approx(-1.0)
    assert math.isnan(spearman(truth, np.full(5, 7.0)))


def test_quadratic_kappa() -> None:
    truth = np.array([2, 4, 6, 8, 10])
    assert quadratic_kappa(truth, truth) == pytest.approx(1.0)
    assert quadratic_kappa(truth, np.full(5, 7)) == 0.0
    # a near miss costs less than a far miss under quadratic weights
    near = quadratic_kappa(truth, np.array([3, 4, 6, 8, 10]))
    far = quadratic_kappa(truth, np.array([10, 4, 6, 8, 2]))
    assert 0 < near < 1 and far < near


def test_good_auc() -> None:
    truth = np.array([5, 6, 8, 9])
    assert good_auc(truth, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(1.0)
    assert good_auc(truth, np.array([4.0, 3.0, 2.0, 1.0])) == pytest.approx(0.0)
    assert math.isnan(good_auc(np.array([5, 6]), np.array([1.0, 2.0])))


def test_baselines_by_hand() -> None:
    truth = np.array([7, 7, 5, 9])
    folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    base = baselines(truth, folds, seed=0)
    assert base["always 7"].mae == pytest.approx(1.0)
    assert base["always 7"].within1 == pytest.approx(0.5)
    assert base["the mean"].mae == pytest.approx(1.0)  # 7 from either side's training fold
    assert base["always 7"].auc == pytest.approx(0.5)
    assert -0.5 < base["random draws"].spearman < 0.5


def test_baselines_know_only_the_training_folds() -> None:
    # Each fold's training labels are the other score, so a baseline that saw its test labels would
    # be right; one that sees only its training folds is 6 points off every time.
    truth = np.array([3, 3, 9, 9])
    folds = [(np.array([0, 1]), np.array([2, 3])), (np.array([2, 3]), np.array([0, 1]))]
    base = baselines(truth, folds, seed=0)
    assert base["the mean"].mae == pytest.approx(6.0)
    assert base["random draws"].mae == pytest.approx(6.0)
    assert base["random draws"].within1 == 0.0


def test_score_metrics_of_a_perfect_prediction() -> None:
    truth = np.array([3, 5, 6, 7, 8, 9])
    m = score_metrics(truth, truth.astype(float), truth)
    assert (m.mae, m.within1) == (0.0, 1.0)
    assert m.spearman == pytest.approx(1.0) and m.qwk == pytest.approx(1.0) and m.auc == pytest.approx(1.0)


def test_permutation_p_value_counts_the_null_at_or_above_the_observed() -> None:
    assert permutation_p_value(0.5, [0.1, -0.2, 0.3, 0.0]) == pytest.approx(1 / 5)
    assert permutation_p_value(0.5, [0.6, 0.5, 0.1, 0.0]) == pytest.approx(3 / 5)
    assert permutation_p_value(0.2, [float("nan"), 0.1]) == pytest.approx(1 / 3)  # constant: no association
    assert permutation_p_value(float("nan"), [0.1, 0.2]) == 1.0


def test_confusion_counts() -> None:
    matrix = confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_target_histogram_merges_zero_into_one() -> None:
    hist = target_histogram(np.array([0, 1, 7, 7]))
    assert hist.shape == (10,)
    assert hist[0] == pytest.approx(0.5) and hist[6] == pytest.approx(0.5)


def test_calibration_reproduces_the_histogram_and_keeps_order() -> None:
    expected = np.random.default_rng(0).normal(6.5, 0.2, size=1000)  # bunched, like a real model
    target = np.array([1, 2, 4, 7, 15, 20, 25, 22, 3.5, 0.5]) / 100
    thresholds = fit_thresholds(expected, target)
    assert thresholds.shape == (9,) and np.all(np.diff(thresholds) >= 0)
    scores = calibrate(expected, thresholds)
    got = np.bincount(scores - 1, minlength=10) / len(scores)
    assert np.abs(got - target).max() < 0.005
    order = np.argsort(expected)
    assert np.all(np.diff(scores[order]) >= 0)
    assert calibrate(np.array([-100.0, 100.0]), thresholds).tolist() == [1, 10]


def test_calibration_survives_round_off_in_the_cumulative_shares() -> None:
    # These 27 scores' shares sum past 1 in float64 before the last (empty) class.
    scores = np.array([8, 7, 7, 4, 8, 2, 6, 7, 8, 5, 4, 3, 4, 5, 7, 9, 1, 9, 5, 4, 7, 6, 3, 3, 7, 6, 5])
    shares = target_histogram(scores)
    assert np.cumsum(shares / shares.sum())[:-1].max() > 1.0
    thresholds = fit_thresholds(np.linspace(5.0, 7.0, 27), shares)
    assert thresholds.shape == (9,) and np.all(np.diff(thresholds) >= 0)
    assert calibrate(np.array([5.0, 6.0]), thresholds).tolist() == [1, 6]


def _distributions(n: int, seed: int) -> np.ndarray:
    """Peaked around a centre near 6.5, some sharp and some broad: like the taste model's answers."""
    rng = np.random.default_rng(seed)
    centre, width = rng.normal(6.5, 0.8, n), rng.uniform(0.8, 3.0, n)
    dist = np.exp(-0.5 * ((np.arange(11)[None, :] - centre[:, None]) / width[:, None]) ** 2)
    return dist / dist.sum(axis=1, keepdims=True)


def test_expected_errors_by_hand() -> None:
    certain_seven = np.eye(11)[7]
    assert expected_errors(certain_seven).tolist() == [6, 5, 4, 3, 2, 1, 0, 1, 2, 3]
    half = 0.5 * (np.eye(11)[2] + np.eye(11)[8])
    assert expected_errors(half)[[0, 3, 6, 9]].tolist() == [4.0, 3.0, 3.0, 5.0]  # k = 1, 4, 7, 10


def test_offsets_follow_the_histogram_and_leave_sure_answers_alone() -> None:
    dist = _distributions(2000, 0)
    target = np.array([1, 2, 4, 7, 15, 20, 25, 22, 3.5, 0.5]) / 100
    offsets = fit_offsets(dist, target)
    scores = score_from_distribution(dist, offsets)
    got = np.bincount(scores - 1, minlength=10) / len(scores)
    assert 0.5 * np.abs(got - target).sum() < 0.03
    # without offsets the rule is the median (of least absolute error), which bunches
    medians = np.argmax(np.cumsum(dist, axis=1) >= 0.5, axis=1)
    assert score_from_distribution(dist, np.zeros(10)).tolist() == np.clip(medians, 1, 10).tolist()
    assert len(set(medians.tolist())) < len(set(scores.tolist()))
    # a model sure of k answers k: the offsets only move answers the model is unsure about
    assert score_from_distribution(np.eye(11)[1:], offsets).tolist() == list(range(1, 11))
    # fitted again on new answers, the same histogram: deterministic, and it carries over
    assert np.array_equal(fit_offsets(dist, target), offsets)
    again = score_from_distribution(_distributions(2000, 1), offsets)
    assert 0.5 * np.abs(np.bincount(again - 1, minlength=10) / 2000 - target).sum() < 0.06


def test_calibration_rejects_a_bad_histogram() -> None:
    with pytest.raises(ValueError, match="10 non-negative"):
        fit_thresholds(np.arange(5.0), np.ones(11))
    with pytest.raises(ValueError, match="10 non-negative"):
        fit_offsets(np.full((3, 11), 1 / 11), -np.ones(10))


def test_soft_labels_split_fractions_between_neighbours() -> None:
    labels = soft_labels(np.array([7, 7, 10, 0]), np.array([False, True, True, False]), 0.5)
    assert labels.shape == (4, 11)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0)
    assert labels[0, 7] == 1.0
    assert labels[1, 7] == pytest.approx(0.5) and labels[1, 8] == pytest.approx(0.5)
    assert labels[2, 10] == 1.0  # capped at 10
    assert labels[3, 0] == 1.0
    quarter = soft_labels(np.array([6]), np.array([True]), 0.25)
    assert quarter[0, 6] == pytest.approx(0.75) and quarter[0, 7] == pytest.approx(0.25)


def test_album_means() -> None:
    ids, means = album_means(np.array(["b", "a", "b"]), np.array([1.0, 5.0, 3.0]))
    assert ids.tolist() == ["a", "b"]
    assert means.tolist() == [5.0, 2.0]
