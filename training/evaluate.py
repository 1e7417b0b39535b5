"""Metrics and baselines for scores on Fantano's 0..10 scale (pure numpy/scipy/sklearn).

Every metric is reported beside three baselines, because a model that looks reasonable can lose to
"always say 7" (the original research did: 13.5% accuracy against about 25% for the constant):
- always 7: Fantano's most common score;
- the mean: the mean of the training folds' labels, as a constant;
- random draws: scores drawn from the training folds' histogram (averaged over many draws).
Their statistics come from the training folds only, like the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, roc_auc_score

SCORES = np.arange(11)
GOOD = 8  # ROC-AUC is for telling albums scored >= 8 from the rest
RANDOM_DRAWS = 200


@dataclass(frozen=True)
class Metrics:
    """Album-level (or review-level) agreement with Fantano's scores.

    mae: mean absolute error of the integer prediction, in score points.
    spearman: rank correlation of the continuous prediction (nan for a constant prediction).
    qwk: quadratic weighted kappa of the integer prediction on classes 0..10.
    within1: share of integer predictions within 1 point.
    auc: ROC-AUC of the continuous prediction for score >= 8 (nan when only one class is present).
    """

    mae: float
    spearman: float
    qwk: float
    within1: float
    auc: float

    def as_dict(self) -> dict[str, float]:
        """The metrics by field name, as plain floats (JSON-safe; nan stays nan)."""
        return {k: float(v) for k, v in vars(self).items()}


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, shapes (n,) -> float.

    Parameters
    ----------
    y_true : np.ndarray
        True scores 0..10, shape (n,).
    y_pred : np.ndarray
        Predicted scores, shape (n,).

    Returns
    -------
    float
        In score points.
    """
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman rank correlation; nan when either side is constant.

    Parameters
    ----------
    y_true : np.ndarray
        True scores, shape (n,).
    y_pred : np.ndarray
        Predictions, shape (n,).

    Returns
    -------
    float
        -1..1, or nan.
    """
    a, b = np.asarray(y_true, float), np.asarray(y_pred, float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def quadratic_kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Quadratic weighted Cohen's kappa over the classes 0..10; 0 when a side is constant.

    Parameters
    ----------
    y_true : np.ndarray
        True integer scores 0..10, shape (n,).
    y_pred : np.ndarray
        Predicted integer scores 0..10, shape (n,).

    Returns
    -------
    float
        At most 1 (perfect agreement); 0 for chance.
    """
    a, b = np.asarray(y_true, int), np.asarray(y_pred, int)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(cohen_kappa_score(a, b, labels=SCORES, weights="quadratic"))


def within_one(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions at most 1 point from the truth.

    Parameters
    ----------
    y_true : np.ndarray
        True scores 0..10, shape (n,).
    y_pred : np.ndarray
        Predicted scores, shape (n,).

    Returns
    -------
    float
        Share 0..1.
    """
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float)) <= 1))


def good_auc(y_true: np.ndarray, ranking: np.ndarray) -> float:
    """ROC-AUC of `ranking` for y_true >= 8; nan when all albums are on one side.

    Parameters
    ----------
    y_true : np.ndarray
        True scores 0..10, shape (n,).
    ranking : np.ndarray
        Continuous predictions, higher meaning better, shape (n,).

    Returns
    -------
    float
        0..1, or nan.
    """
    positive = np.asarray(y_true) >= GOOD
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, np.asarray(ranking, float)))


def score_metrics(y_true: np.ndarray, ranking: np.ndarray, integer: np.ndarray) -> Metrics:
    """All metrics for one prediction.

    Parameters
    ----------
    y_true : np.ndarray
        (n,) true integer scores 0..10.
    ranking : np.ndarray
        (n,) continuous prediction, e.g. the mean expected score.
    integer : np.ndarray
        (n,) integer prediction, e.g. the calibrated score.

    Returns
    -------
    Metrics
    """
    return Metrics(
        mae=mae(y_true, integer),
        spearman=spearman(y_true, ranking),
        qwk=quadratic_kappa(y_true, integer),
        within1=within_one(y_true, integer),
        auc=good_auc(y_true, ranking),
    )


def baselines(
    y_true: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], seed: int = 0
) -> dict[str, Metrics]:
    """The baselines' out-of-fold metrics on y_true: always 7, the training mean, random draws.

    Each test fold is predicted from its training folds' labels alone (their mean, their histogram),
    as a model would be, so a baseline never sees the labels it is scored on.

    Parameters
    ----------
    y_true : np.ndarray
        (n,) true integer scores 0..10.
    folds : Sequence[tuple[np.ndarray, np.ndarray]]
        (train, test) index pairs into y_true; the test parts cover every index once.
    seed : int, optional
        The random draws (RANDOM_DRAWS of them, metrics averaged).

    Returns
    -------
    dict[str, Metrics]
        Keyed "always 7", "the mean" and "random draws".
    """
    y_true = np.asarray(y_true)
    n = len(y_true)
    means = np.zeros(n)
    for train, test in folds:
        means[test] = np.mean(y_true[train])
    seven = np.full(n, 7.0)
    result = {
        "always 7": score_metrics(y_true, seven, seven),
        # a constant per fold ranks nothing: no rank correlation, no agreement beyond chance
        "the mean": Metrics(
            mae=mae(y_true, means),
            spearman=float("nan"),
            qwk=0.0,
            within1=within_one(y_true, means),
            auc=good_auc(y_true, seven),
        ),
    }
    rng = np.random.default_rng(seed)
    per_draw = []
    for _ in range(RANDOM_DRAWS):
        draw = np.zeros(n, dtype=y_true.dtype)
        for train, test in folds:
            draw[test] = rng.choice(y_true[train], size=len(test))
        per_draw.append(score_metrics(y_true, draw, draw))
    result["random draws"] = Metrics(
        **{k: float(np.nanmean([getattr(m, k) for m in per_draw])) for k in vars(per_draw[0])}
    )
    return result


def permutation_p_value(observed: float, null: Sequence[float]) -> float:
    """One-sided permutation p-value of a statistic: (1 + #{null >= observed}) / (1 + len(null)).

    ``null`` must come from rerunning the whole procedure (refitting included) on shuffled labels;
    shuffling labels against fixed out-of-fold predictions would test only the last step.

    Parameters
    ----------
    observed : float
        The statistic on the true labels (nan counts as no association: p = 1).
    null : Sequence[float]
        The statistic once per label permutation; nan (a constant prediction) counts as 0.

    Returns
    -------
    float
        The p-value, in (0, 1].
    """
    if np.isnan(observed):
        return 1.0
    values = np.nan_to_num(np.asarray(null, dtype=float), nan=0.0)
    return float((1 + np.sum(values >= observed)) / (1 + len(values)))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion counts, (n_classes, n_classes), rows = truth, columns = prediction.

    Parameters
    ----------
    y_true : np.ndarray
        True class indices 0..n_classes-1, shape (n,).
    y_pred : np.ndarray
        Predicted class indices 0..n_classes-1, shape (n,).
    n_classes : int
        Number of classes.

    Returns
    -------
    np.ndarray
        Counts, int64, shape (n_classes, n_classes).
    """
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix
