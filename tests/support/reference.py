"""The 26 features computed the straightforward way: one librosa call per feature, then frame statistics.

This is the definition ``model.features`` must reproduce (tests) and the baseline it is timed against
(``benchmarks.features``). Every STFT pads with ``pad_mode="reflect"`` (librosa's default before 0.10,
what the GTZAN feature table was computed with); rms takes the same argument.
"""

from __future__ import annotations

import librosa
import numpy as np

PAD_MODE = "reflect"


def feature_matrices(y: np.ndarray, sr: float) -> list[np.ndarray]:
    """librosa's per-frame matrices of a mono signal, one per feature in FEATURE_NAMES order.

    Each is (rows, T): chroma has 12 rows, every other feature one (each MFCC coefficient its own).
    """
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, pad_mode=PAD_MODE)
    return [
        librosa.feature.chroma_stft(y=y, sr=sr, pad_mode=PAD_MODE),
        librosa.feature.rms(y=y, pad_mode=PAD_MODE),
        librosa.feature.spectral_centroid(y=y, sr=sr, pad_mode=PAD_MODE),
        librosa.feature.spectral_bandwidth(y=y, sr=sr, pad_mode=PAD_MODE),
        librosa.feature.spectral_rolloff(y=y, sr=sr, pad_mode=PAD_MODE),
        librosa.feature.zero_crossing_rate(y),
        *(row[np.newaxis, :] for row in mfcc),
    ]


def statistics(matrices: list[np.ndarray], frames: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (ddof=0) over the whole matrix of each feature, columns ``frames`` only.

    Returns two (26,) float64 arrays, FEATURE_NAMES order.
    """
    means = [np.mean(m[:, frames], dtype=np.float64) for m in matrices]
    variances = [np.var(m[:, frames], dtype=np.float64) for m in matrices]
    return np.array(means), np.array(variances)


def reference_from_signal(y: np.ndarray, sr: float) -> np.ndarray:
    """Features (the frame means) of a mono signal ``y`` at ``sr`` Hz; shape (26,), FEATURE_NAMES order."""
    return statistics(feature_matrices(y, sr))[0]
