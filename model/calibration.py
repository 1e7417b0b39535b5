"""Quantile calibration: the model's expected score -> an integer score 1..10.

A network trained like this regresses to the mean: its expected scores bunch around 6-7 (the original
research's model answered 8 to everything). We keep the model's ORDER and take the SPREAD from Fantano.

Fitting: run the model over a reference set of songs (GTZAN rows for the bundled model, the training
tracks for a `fit` model) to get expected scores e_1..e_n, and take Fantano's histogram of review
scores with 0 merged into 1 (the product shows 1-10), h_1..h_10. With cumulative shares
c_k = h_1 + ... + h_k, threshold t_k is the c_k-quantile of the e_i, for k = 1..9.

Applying: score = 1 + #{k : e >= t_k}, i.e. score k for t_{k-1} <= e < t_k (t_0 = -inf, t_10 = +inf).

Over the reference set the integer scores then reproduce Fantano's histogram (up to ties), and a song
the model likes more never gets a lower score. The nine thresholds are stored in the model card.

The taste model (``model.taste``) answers with a whole distribution, and reads its integer from that
distribution instead (`fit_offsets`, `score_from_distribution`): thresholds on one number can follow his
histogram only by spreading a rank, which costs absolute error on every song the model is unsure about.
"""

import numpy as np

MIN_SCORE = 1
MAX_SCORE = 10


def target_histogram(scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Shares of scores 1..10, with 0 counted as 1.

    Parameters
    ----------
    scores : np.ndarray
        Integer review scores 0..10, shape (n,).
    weights : np.ndarray, optional
        Non-negative weight per score, shape (n,); equal weights when None.

    Returns
    -------
    np.ndarray
        Shares of scores 1..10, shape (10,), summing to 1.
    """
    clipped = np.clip(np.asarray(scores, dtype=np.int64), MIN_SCORE, MAX_SCORE)
    counts = np.bincount(clipped - MIN_SCORE, weights=weights, minlength=MAX_SCORE - MIN_SCORE + 1)
    return counts / counts.sum()


def fit_thresholds(expected: np.ndarray, histogram: np.ndarray) -> np.ndarray:
    """Nine non-decreasing thresholds on expected score so that `calibrate` reproduces `histogram`.

    Parameters
    ----------
    expected : np.ndarray
        The model's expected scores (0..10) over a reference set of songs, shape (n,).
    histogram : np.ndarray
        Target shares of scores 1..10, shape (10,); normalised here.

    Returns
    -------
    np.ndarray
        Thresholds t_1..t_9, shape (9,), float64, non-decreasing.

    Raises
    ------
    ValueError
        ``histogram`` is not 10 non-negative shares with a positive sum.
    """
    shares = np.asarray(histogram, dtype=np.float64)
    if shares.shape != (MAX_SCORE - MIN_SCORE + 1,) or np.any(shares < 0) or shares.sum() <= 0:
        raise ValueError("histogram must hold 10 non-negative shares for scores 1..10")
    # Round-off can lift the last cumulative share past 1 when no reference scores 10; quantile refuses it.
    cumulative = np.minimum(np.cumsum(shares / shares.sum())[:-1], 1.0)
    # "higher" makes calibrate() put exactly the lowest c_k share of distinct values below t_k.
    thresholds = np.quantile(np.asarray(expected, dtype=np.float64), cumulative, method="higher")
    return np.maximum.accumulate(thresholds)


def calibrate(expected: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Integer scores for expected scores: score k for t_(k-1) <= e < t_k.

    Parameters
    ----------
    expected : np.ndarray
        The model's expected scores (0..10), shape (n,).
    thresholds : np.ndarray
        Nine non-decreasing thresholds, shape (9,), as `fit_thresholds` returns them.

    Returns
    -------
    np.ndarray
        Scores 1..10, shape (n,), int64.
    """
    steps = np.searchsorted(np.asarray(thresholds, dtype=np.float64), np.asarray(expected), side="right")
    return (MIN_SCORE + steps).astype(np.int64)


def expected_errors(distributions: np.ndarray) -> np.ndarray:
    """Expected absolute error of answering each integer 1..10 under each distribution.

    Parameters
    ----------
    distributions : np.ndarray
        P(score 0..10), shape (n, 11) (or (11,) for one).

    Returns
    -------
    np.ndarray
        E|k - Y| for k = 1..10, shape (n, 10) (or (10,)).
    """
    dist = np.asarray(distributions, dtype=np.float64)
    gaps = np.abs(np.arange(MIN_SCORE, MAX_SCORE + 1)[:, None] - np.arange(dist.shape[-1])[None, :])
    return dist @ gaps.T


def fit_offsets(distributions: np.ndarray, histogram: np.ndarray, *, steps: int = 3000) -> np.ndarray:
    """Ten per-score offsets so that `score_from_distribution` follows ``histogram`` over a reference set.

    The integer that minimizes the expected absolute error is the distribution's median, which bunches
    on 6-8; asking for a histogram as well is a transport problem whose dual gives one offset per score:
    answer the k minimizing E|k - Y| - offset_k. Unlike thresholds on the expected score, this reads
    each distribution's whole shape: the offsets move the answers whose expected error changes least
    between neighbouring scores, and a distribution sure of one score keeps it (while neighbouring offsets
    differ by less than 1). Fitted by dual ascent (shares below target raise their offset), with a step
    that shrinks to zero.

    Parameters
    ----------
    distributions : np.ndarray
        The model's P(score 0..10) over the reference set, shape (n, 11).
    histogram : np.ndarray
        Target shares of scores 1..10, shape (10,); normalised here.
    steps : int, optional
        Dual-ascent steps; the fit is deterministic.

    Returns
    -------
    np.ndarray
        Offsets for scores 1..10, shape (10,), float64.
    """
    shares = np.asarray(histogram, dtype=np.float64)
    if shares.shape != (MAX_SCORE - MIN_SCORE + 1,) or np.any(shares < 0) or shares.sum() <= 0:
        raise ValueError("histogram must hold 10 non-negative shares for scores 1..10")
    shares = shares / shares.sum()
    errors = expected_errors(distributions)
    offsets = np.zeros(MAX_SCORE - MIN_SCORE + 1)
    for step in range(steps):
        answers = np.argmin(errors - offsets, axis=1)
        got = np.bincount(answers, minlength=offsets.size) / len(answers)
        offsets += 0.05 * (1 - step / steps) * (shares - got)
    return offsets - offsets.mean()


def score_from_distribution(distributions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Integer scores 1..10: the k minimizing E|k - Y| - offsets[k] under each distribution.

    Parameters
    ----------
    distributions : np.ndarray
        P(score 0..10), shape (n, 11).
    offsets : np.ndarray
        Offsets for scores 1..10, shape (10,), as `fit_offsets` returns them.

    Returns
    -------
    np.ndarray
        Scores 1..10, shape (n,), int64.
    """
    errors = expected_errors(np.atleast_2d(distributions)) - np.asarray(offsets, dtype=np.float64)
    return (MIN_SCORE + np.argmin(errors, axis=1)).astype(np.int64)
