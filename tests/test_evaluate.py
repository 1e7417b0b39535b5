"""training.evaluate, model.calibration and the label helpers, on hand-checkable cases (no TensorFlow)."""

import math

import numpy as np
import pytest

from model.calibration import calibrate, fit_thresholds, target_histogram
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
    base = baselines(truth, truth, seed=0)
    assert base["always 7"].mae == pytest.approx(1.0)
    assert base["always 7"].within1 == pytest.approx(0.5)
    assert base["the mean"].mae == pytest.approx(1.0)  # mean 7
    assert base["always 7"].auc == pytest.approx(0.5)
    assert -0.5 < base["random draws"].spearman < 0.5


def test_score_metrics_of_a_perfect_prediction() -> None:
    truth = np.array([3, 5, 6, 7, 8, 9])
    m = score_metrics(truth, truth.astype(float), truth)
    assert (m.mae, m.within1) == (0.0, 1.0)
    assert m.spearman == pytest.approx(1.0) and m.qwk == pytest.approx(1.0) and m.auc == pytest.approx(1.0)


def test_permutation_p_value_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(3, 10, size=40)
    _, p_signal = permutation_p_value(truth, truth + rng.normal(0, 0.5, 40), 200, seed=1)
    _, p_noise = permutation_p_value(truth, rng.normal(size=40), 200, seed=1)
    assert p_signal < 0.01
    assert p_noise > 0.01
    assert 1 / 201 <= p_signal


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


def test_calibration_rejects_a_bad_histogram() -> None:
    with pytest.raises(ValueError, match="10 non-negative"):
        fit_thresholds(np.arange(5.0), np.ones(11))


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
