"""The one rule from track ratings to an album rating, shared by the bot and by training.

Album expected score = the plain mean of its tracks' expected scores (0..10, before calibration). Every
track counts once, whatever its length: Fantano reviews an album as a sequence of songs, and a 9-minute
closer is not worth three singles.

Averaging shrinks the spread: twelve tracks of one album sit closer to the album mean than single songs
sit to the overall mean, so the per-song thresholds would give almost every album a 5-7. The album mean
therefore goes through its OWN nine thresholds (``card["calibration"]["album_thresholds"]``), fitted the
same quantile way as ``model.calibration`` but over album means, so that album scores follow Fantano's
histogram of album scores. How the bundled model gets them: ``training/album.py``.

Favourite and least favourite tracks are picked on the same expected scores: the best ``FAVOURITES`` (at
most a third of the album, at least one), and the worst one, which is never also a favourite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.calibration import calibrate

FAVOURITES = 3  # Fantano usually names three to five favourite tracks; three fits an embed line


def album_expected(track_expected: Sequence[float]) -> float:
    """The album's expected score (0..10): the mean of its tracks' expected scores.

    Parameters
    ----------
    track_expected : sequence of float, length n >= 1
        Each rated track's expected score (``Rating.expected``).

    Returns
    -------
    float
        The mean, 0..10.

    Raises
    ------
    ValueError
        No tracks, not one-dimensional, or a score that is not finite.
    """
    values = np.asarray(track_expected, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("an album needs at least one finite track score")
    return float(values.mean())


def album_score(track_expected: Sequence[float], album_thresholds: Sequence[float]) -> int:
    """The album's integer score 1..10: :func:`album_expected` through the album thresholds (9,).

    Parameters
    ----------
    track_expected : sequence of float, length n >= 1
        Each rated track's expected score (0..10).
    album_thresholds : sequence of float, length 9
        The album thresholds t_1..t_9 from the model card, non-decreasing.

    Returns
    -------
    int
        The album score, 1..10.

    Raises
    ------
    ValueError
        As :func:`album_expected`.
    """
    return int(calibrate(np.array([album_expected(track_expected)]), np.asarray(album_thresholds))[0])


def picks(track_expected: Sequence[float]) -> tuple[tuple[int, ...], int | None]:
    """Indices of the favourite tracks (best first) and of the least favourite one.

    Ties keep track order. A one-track album has a favourite and no least favourite.

    Parameters
    ----------
    track_expected : sequence of float, length n >= 1
        Each track's expected score (0..10), in tracklist order.

    Returns
    -------
    favourites : tuple of int
        Indices into ``track_expected`` of 1..``FAVOURITES`` tracks (at most n // 3 unless n < 3), best first.
    least : int or None
        Index of the lowest-scored track, never a favourite; None for a one-track album.
    """
    values = np.asarray(track_expected, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    n_fav = max(1, min(FAVOURITES, len(values) // 3))
    favourites = tuple(int(i) for i in order[:n_fav])
    least = int(order[-1]) if len(values) > n_fav else None
    return favourites, least
