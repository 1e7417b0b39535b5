"""Heard tags: musicnn's MSD tagger (Pons & Serra, ISC; see musicnn-LICENSE.md) served from LiteRT.

Front end exactly as musicnn trained: mono 16 kHz, centered STFT frames (n_fft 512, hop 256, Hann,
reflection padding as training-era librosa did), power through librosa's 96-band mel filter, the mel
power quantized to float16 (the training spectrograms were stored so) and ``log10(10000 * S + 1)`` taken
in float32. Under numpy 2, float16 times 10000 would overflow; numpy<2's training pipeline promoted first.

A song is cut into consecutive 187-frame patches (3 s) from its start, as musicnn's extractor does; the
tags are the sigmoid outputs averaged over a sample of SAMPLE_PATCHES patches spread over the song (all
of them for shorter songs; see patch_starts), run one patch at a time: the whole song in one batch needs
about 1 GB of convolution activations. A clip shorter than one patch is repeated to fill it (musicnn's
"repeat-pad").

Pure and synchronous, no TensorFlow: the flatbuffer runs on ai-edge-litert, as model.scorer does.
training/ears.py builds the flatbuffer and the card from the musicnn wheel.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model import MODEL_DIR
from model.litert import load_interpreter

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
N_FFT = 512
HOP = 256
N_MELS = 96
N_FRAMES = 187  # frames per patch: 3 s
LOG_SCALE = 10_000.0
_PATCH_SPAN = (N_FRAMES - 1) * HOP + N_FFT  # samples under one patch's frames
FRONT_END = {
    "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "window": "hann", "center": True,
    "pad_mode": "reflect", "power": 2.0, "n_mels": N_MELS, "mel": "librosa.filters.mel (slaney, htk=False)",
    "log": "log10(10000 * float16(S) + 1), in float32", "patch_frames": N_FRAMES,
    "patches": "consecutive from the start, no overlap; repeat-pad under one patch",
}  # fmt: skip
NETWORK = "MSD_musicnn"  # last.fm's tags (rock, hip-hop, jazz, punk, ...) are the ones Fantano's genres use
MARGIN_S = 0.1  # context resampled each side of a patch; soxr HQ needs far less (measured 1e-7)
SAMPLE_PATCHES = 6  # about 0.35 s of one core; what 4-16 patches keep of all patches' tags: BENCHMARKS.md
CARD_NAME = "musicnn.json"
LICENSE_NAME = "musicnn-LICENSE.md"
REBUILD_HINT = "Rebuild it with `python -m training ears --wheel DIR` (DIR holds musicnn-0.1.0's wheel)."

Tags = tuple[tuple[str, float], ...]


class TaggerError(Exception):
    """The tagger's files are missing or do not match their card; the message says how to fix it."""


def tflite_name(network: str) -> str:
    """The flatbuffer file of a musicnn network, e.g. ``msd_musicnn.tflite``."""
    return f"{network.lower()}.tflite"


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input representation of a whole 16 kHz signal.

    Parameters
    ----------
    y : np.ndarray
        (n,) mono samples at SAMPLE_RATE.

    Returns
    -------
    np.ndarray
        (1 + n // HOP, 96) float32 log-compressed mel power, one row per frame.
    """
    return _frames_log_mel(_padded(y), 0, 1 + len(y) // HOP)


def _padded(y: np.ndarray) -> np.ndarray:
    """The signal with n_fft // 2 reflected samples each side (centered frames); frame t starts at t * HOP."""
    y = np.asarray(y, np.float32)
    if len(y) <= N_FFT // 2:  # reflection needs more samples than it pads: repeat instead
        y = np.resize(y, N_FFT // 2 + 1)
    return np.pad(y, N_FFT // 2, mode="reflect")


_MEL_T: np.ndarray | None = None
_WINDOW: np.ndarray | None = None


def _frames_log_mel(padded: np.ndarray, first: int, count: int) -> np.ndarray:
    """Log-mel rows of frames first .. first + count - 1 of a padded signal: (count, 96) float32."""
    global _MEL_T, _WINDOW
    if _MEL_T is None or _WINDOW is None:
        import librosa  # the worker has it loaded already (model.features); the bot never calls this

        _MEL_T = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).T.astype(np.float32)
        _WINDOW = librosa.filters.get_window("hann", N_FFT, fftbins=True)
    seg = padded[first * HOP : (first + count - 1) * HOP + N_FFT]
    frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=-1).astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    mel = (power @ _MEL_T).astype(np.float16).astype(np.float32)
    return np.log10(LOG_SCALE * mel + 1.0)


def patch_starts(n_frames: int, sample: int | None) -> list[int]:
    """First frames of the patches tagged in a song of ``n_frames`` frames.

    Parameters
    ----------
    n_frames : int
        Frames of the song's representation (1 + samples // HOP).
    sample : int or None
        At most this many patches: the song's consecutive patches are split into ``sample`` equal
        stretches and the middle patch of each is taken (so intros and outros weigh no more than the rest;
        measured against spacing from the first to the last patch in BENCHMARKS.md); None for every patch.

    Returns
    -------
    list[int]
        Frame indices, ascending; [0] for a song shorter than one patch.
    """
    n_patches = max(1, n_frames // N_FRAMES)
    if sample is None or sample >= n_patches:
        return [i * N_FRAMES for i in range(n_patches)]
    return [int((i + 0.5) * n_patches / sample) * N_FRAMES for i in range(sample)]


class Tagger:
    """A loaded musicnn network: `tag` a song's samples, get its tags, best first.

    Parameters
    ----------
    tags : list[str]
        The network's tag names, in output order.
    interpreter : object
        A LiteRT Interpreter with its tensors allocated; use `load`.
    """

    def __init__(self, tags: list[str], interpreter: object) -> None:
        self.tags = tags
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()  # the interpreter keeps per-call tensor state

    @classmethod
    def load(cls, model_dir: Path = MODEL_DIR, *, network: str = NETWORK) -> Tagger:
        """Load a network from ``model_dir`` after checking its flatbuffer against the card.

        Raises
        ------
        TaggerError
            The card or the flatbuffer is missing, or the flatbuffer's sha256 is not the card's.
        """
        from model.scorer import sha256_file

        try:
            card = json.loads((model_dir / CARD_NAME).read_text(encoding="utf-8"))
            entry = card["networks"][network]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TaggerError(f"The tagger card {model_dir / CARD_NAME} is missing or has no {network} "
                              f"({e!r}). {REBUILD_HINT}") from e
        path = model_dir / entry["file"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise TaggerError(f"The tagger file {path} is missing or does not match its card. {REBUILD_HINT}")
        interpreter = load_interpreter(path)
        return cls(list(entry["tags"]), interpreter)

    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """Sigmoid outputs of (n, 187, 96) log-mel patches, one invoke per patch: (n, 50) float32."""
        out = np.empty((len(patches), len(self.tags)), np.float32)
        with self._lock:
            for i, patch in enumerate(np.asarray(patches, np.float32)):
                self._interpreter.set_tensor(self._input, patch[np.newaxis])
                self._interpreter.invoke()
                out[i] = self._interpreter.get_tensor(self._output)[0]
        return out

    def tag(self, y: np.ndarray, *, sample: int | None = SAMPLE_PATCHES) -> Tags:
        """A song's tags from its mono 16 kHz samples.

        Parameters
        ----------
        y : np.ndarray
            (n,) float samples at SAMPLE_RATE; not empty.
        sample : int or None
            Patches averaged (see patch_starts); None for every patch.

        Returns
        -------
        tuple[tuple[str, float], ...]
            Every tag with its probability averaged over the patches, best first.
        """
        n_frames = 1 + len(y) // HOP
        if n_frames < N_FRAMES:  # repeat-pad: the clip over and over until it fills a patch
            return self.tag(np.resize(np.asarray(y, np.float32), (N_FRAMES - 1) * HOP), sample=None)
        padded = _padded(y)
        starts = patch_starts(n_frames, sample)
        probabilities = np.zeros(len(self.tags))
        for start in starts:  # one patch at a time: memory stays one patch's activations
            probabilities += self.probabilities(_frames_log_mel(padded, start, N_FRAMES)[np.newaxis])[0]
        return ranked(self.tags, probabilities / len(starts))

    def tag_signal(self, read: Callable[[int, int], np.ndarray], n_samples: int, sr: int, *,
                   sample: int | None = SAMPLE_PATCHES) -> Tags:
        """Tags of a song held elsewhere at another sample rate (the features' spool), read patch by patch.

        Only the sampled patches are read and resampled to 16 kHz (soxr, HQ), each with MARGIN_S of
        context either side and cut at a point where both sample grids meet, so a patch's samples equal
        those of the whole song resampled at once (to about 1e-7).

        Parameters
        ----------
        read : Callable[[int, int], np.ndarray]
            ``read(start, count)`` returns the float32 mono samples start .. start + count - 1.
        n_samples : int
            Samples in the song, at ``sr``.
        sr : int
            Their sample rate in Hz.
        sample : int or None
            As for `tag`.
        """
        import soxr

        step_in, step_out = sr // math.gcd(sr, SAMPLE_RATE), SAMPLE_RATE // math.gcd(sr, SAMPLE_RATE)
        n = round(n_samples * step_out / step_in)  # what soxr.resample makes of the whole song
        n_frames = 1 + n // HOP
        if n_frames < N_FRAMES:  # short: resample it whole
            return self.tag(soxr.resample(read(0, n_samples), sr, SAMPLE_RATE, quality="HQ"), sample=sample)
        margin = math.ceil(MARGIN_S * SAMPLE_RATE / step_out)  # in steps of the common grid
        probabilities = np.zeros(len(self.tags))
        starts = patch_starts(n_frames, sample)
        for frame in starts:
            # 16 kHz samples under the patch's frames, centered: [frame * HOP - N_FFT // 2, ... + span)
            lo = frame * HOP - N_FFT // 2
            hi = lo + _PATCH_SPAN
            first = max(0, lo // step_out - margin)  # in common-grid steps
            last = min(-(-n_samples // step_in), -(-hi // step_out) + margin)
            audio = read(first * step_in, min(n_samples, last * step_in) - first * step_in)
            local = soxr.resample(audio, sr, SAMPLE_RATE, quality="HQ")
            # padded-signal positions lo .. hi - 1, reflected at the song's ends like np.pad(mode="reflect")
            index = np.arange(lo, hi)
            index = np.where(index < 0, -index, index)
            index = np.where(index >= n, 2 * (n - 1) - index, index) - first * step_out
            padded = local[np.clip(index, 0, len(local) - 1)]
            rows = _frames_log_mel(padded, 0, N_FRAMES)
            probabilities += self.probabilities(rows[np.newaxis])[0]
        return ranked(self.tags, probabilities / len(starts))


def ranked(names: list[str], probabilities: np.ndarray) -> Tags:
    """(name, probability) pairs, best first (ties keep the network's order)."""
    order = np.argsort(-probabilities, kind="stable")
    return tuple((names[i], float(probabilities[i])) for i in order)
