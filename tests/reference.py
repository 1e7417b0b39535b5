"""The 26 features computed the straightforward way: one librosa call per feature, then frame means.

This is the definition ``model.features`` must reproduce (tests) and the baseline it is timed against
(``benchmarks.features``).
"""

from __future__ import annotations

import librosa
import numpy as np


def reference_from_signal(y: np.ndarray, sr: float) -> np.ndarray:
    """Features of a mono signal ``y`` at ``sr`` Hz; shape (26,), FEATURE_NAMES order."""
    scalars = [
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.spectral_bandwidth(y=y, sr=sr),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
    ]
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    return np.array(
        [np.mean(s, dtype=np.float64) for s in scalars] + list(np.mean(mfcc, axis=1, dtype=np.float64))
    )
