"""Audio -> 26 features -> score distribution. Pure and synchronous: nothing here imports discord or bot."""

import os
from pathlib import Path

# librosa's numba kernels compile on first use (about 15 s); with a persistent cache each later process
# pays about 1 s. Every process that featurizes (bot workers, CLI, training, tests) imports this package.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "needlebot" / "numba"))

MODEL_DIR = Path(__file__).resolve().parent
