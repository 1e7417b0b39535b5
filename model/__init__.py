"""Audio -> 26 features -> score distribution. Pure and synchronous: nothing here imports discord or bot."""

import os
from pathlib import Path

# librosa's numba kernels compile on first use (about 15 s); with a persistent cache each later process
# pays about 1 s. Every process that featurizes (bot workers, CLI, training, tests) imports this package.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "needlebot" / "numba"))

MODEL_DIR = Path(__file__).resolve().parent

# Seconds of audio analysed (after the 1 s offset); a longer song is rated on its first part. The one
# default of `[limits] max_audio_seconds` and `extract_features`; here, so the settings need no librosa.
DEFAULT_MAX_SECONDS = 900.0

# The 26 features of the original research, in this order (the `_mean` columns of the GTZAN feature table):
# their per-song means are what `needlebot features` prints and the bundled model's input. A model card may
# also name `<feature>_var` inputs, the per-frame variances (see model.scorer). Defined here, not in
# features.py, so serving never has to import librosa.
FEATURE_NAMES: tuple[str, ...] = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    *(f"mfcc{i}" for i in range(1, 21)),
)
