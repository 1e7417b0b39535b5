"""Audio -> the 26 per-song features the model is trained on and served, their variances, and sections.

The features are the frame means of librosa's chroma_stft, rms, spectral centroid, bandwidth, rolloff,
zero-crossing rate and 20 MFCCs (librosa defaults: n_fft 2048, hop 512, centered frames, 128 mels) on the
audio decoded like ``librosa.load(path, offset=1.0, sr=22050)``. Centered frames are padded with
``pad_mode="reflect"``, librosa's default before 0.10 and what the GTZAN feature table was computed
with (librosa 0.11 pads with zeros, which moves some MFCC means of a 30-s clip by up to 6 %).

Beside the means, the same pass gives the variances over frames (``ddof=0``; over the whole 12 x T
matrix for chroma, per coefficient for MFCCs: the GTZAN table's ``_var`` columns) and the means and
variances of each 30-second section (see :class:`Section`): the sums are only split by frame index.

One pass computes one STFT per block of frames as the audio decodes and accumulates every frame-local
sum. Two features depend on the whole song, and are settled afterwards without another STFT:

- chroma uses the tuning estimated from every frame's pitch peaks. After the first 48 s the pass
  guesses it and accumulates chroma for the nine tunings around the guess (the final estimate lands
  there in practice); when it does not, a second pass re-reads the decoded signal from a spool file.
- the MFCCs clip the log-mel 80 dB below its loudest value; the mel rows are spooled and summed once
  that maximum is known.

Both hold for the sections too: a section's chroma uses the whole song's tuning and its MFCCs the whole
song's 80 dB floor, so section values are exactly means over a slice of the whole song's librosa feature
matrices (not librosa run on the section's audio alone).

Spools are anonymous temporary files, so memory stays bounded whatever the length.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import librosa
import numpy as np
import scipy.fft
from librosa.core.pitch import _parabolic_interpolation

from model import DEFAULT_MAX_SECONDS, FEATURE_NAMES
from model.decode import (
    OFFSET_S,
    SAMPLE_RATE,
    AudioError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    SilentAudioError,
    TooShortError,
    decode,
    ffmpeg_executable,
)
from model.filetags import FileTags

if TYPE_CHECKING:
    from model.tagger import Tagger, Tags

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "FEATURE_NAMES",
    "OFFSET_S",
    "SAMPLE_RATE",
    "AudioError",
    "CorruptAudioError",
    "EmptyAudioError",
    "FeatureResult",
    "NotAudioError",
    "Section",
    "SilentAudioError",
    "TooShortError",
    "extract_features",
    "ffmpeg_executable",
]

log = logging.getLogger(__name__)

N_FFT = 2048
HOP = 512
N_MELS = 128
N_MFCC = 20
MEL_DB_COLUMNS = 512
BLOCK_FRAMES = 1024  # frames per block: about 24 s of audio, 8 MB of complex STFT
_PAD = N_FFT // 2
_TINY = np.finfo(np.float32).tiny  # librosa.util.normalize leaves columns below this unnormalised
_ZC_THRESHOLD = 1e-10  # librosa.zero_crossings: |x| <= this counts as zero
_PIP_FMIN, _PIP_FMAX, _PIP_THRESHOLD = 150.0, 4000.0, 0.1  # piptrack defaults used by estimate_tuning
_TOP_DB = 80.0
# librosa.pitch_tuning's histogram bins: the estimate is always one of these, 0.01 apart.
_TUNINGS = np.linspace(-0.5, 0.5, 101)[:-1]
_TUNING_SPREAD = 4  # candidate tunings each side of the guess
_GUESS_FRAMES = 2048  # frames (48 s, 8 MB of power spectra held back) the tuning guess is made from
_WINDOW = librosa.filters.get_window("hann", N_FFT, fftbins=True)  # float64, as librosa.stft uses
# MFCCs 1..20 of a log-mel column: rows of the orthonormal DCT-II, as librosa.feature.mfcc takes them.
_DCT = scipy.fft.dct(np.eye(N_MELS), type=2, norm="ortho", axis=0)[:N_MFCC]  # (20, 128) float64
SECTION_S = 30.0  # the genre network learnt from 30-second GTZAN clips
MIN_SECTION_S = 10.0  # a shorter last section is merged into the one before it
_SECTION_SAMPLES = round(SECTION_S * SAMPLE_RATE)


@dataclass(frozen=True)
class Section:
    """One stretch of a song, about 30 s long: the features over its frames.

    Sections are consecutive 30-second stretches of the analysed audio (frame t, centred at sample
    t * 512, belongs to section t * 512 // (30 * 22050)); a last one shorter than MIN_SECTION_S is merged
    into the one before, and a song shorter than one section has one.

    Attributes
    ----------
    start_s, end_s : where the section starts and ends, in seconds of the input file (the analysed audio
        starts OFFSET_S into it).
    values : shape (26,), float64, FEATURE_NAMES order: means over the section's frames.
    variances : shape (26,), float64: variances over the section's frames (ddof=0).
    """

    start_s: float
    end_s: float
    values: np.ndarray
    variances: np.ndarray


@dataclass(frozen=True)
class FeatureResult:
    """The 26 features of one input.

    Attributes
    ----------
    values : shape (26,), float64, in FEATURE_NAMES order: the means over every frame.
    variances : shape (26,), float64, FEATURE_NAMES order: the variances over every frame (ddof=0; for
        chroma over all 12 pitch classes of every frame, for MFCCs per coefficient).
    sections : the song's consecutive ~30-s sections, in order; at least one.
    seconds : seconds of audio analysed (after the 1.0 s offset and the cap).
    truncated : True when the input went on past offset + max_seconds and the rest was not analysed.
    mel_db : (128, T) float32 log-mel (dB relative to its max), averaged in time to at most 512 columns.
    tags : every tag the tagger hears (model.tagger) with its probability, best first; () when the
        extraction was not given a tagger.
    file_tags : the artist, title and album the file's own tags name (set by bot.worker for uploads).
    """

    values: np.ndarray
    variances: np.ndarray
    sections: tuple[Section, ...]
    seconds: float
    truncated: bool
    mel_db: np.ndarray
    tags: Tags = ()
    file_tags: FileTags = field(default_factory=FileTags)

    def as_dict(self) -> dict[str, float]:
        """Feature name -> value, in FEATURE_NAMES order."""
        return {name: float(v) for name, v in zip(FEATURE_NAMES, self.values, strict=True)}


def extract_features(
    source: str | os.PathLike | bytes,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    ffmpeg: str | None = None,
    min_seconds: float = 0.0,
    floor_dbfs: float | None = None,
    tagger: Tagger | None = None,
) -> FeatureResult:
    """Decode ``source`` (a path or a file's bytes) and compute its 26 features.

    Parameters
    ----------
    source : audio or video file, by path or contents.
    max_seconds : analyse at most this many seconds after the 1.0 s offset.
    ffmpeg : ffmpeg binary for formats libsndfile cannot read (webm, m4a, ...); default imageio-ffmpeg's.
    min_seconds, floor_dbfs : refuse shorter or quieter audio, as `model.decode.decode` does (ratings do).
    tagger : also tag the analysed audio (FeatureResult.tags), reading its sampled patches back from the
        decoded signal's spool: the song is decoded once.

    Raises
    ------
    AudioError : a subclass saying why the input cannot be analysed, with a message for the user.
    """
    return _extract(
        source, max_seconds=max_seconds, ffmpeg=ffmpeg, min_seconds=min_seconds, floor_dbfs=floor_dbfs,
        tagger=tagger,
    )  # fmt: skip


def _extract(
    source: str | os.PathLike | bytes,
    *,
    max_seconds: float,
    ffmpeg: str | None,
    block_frames: int = BLOCK_FRAMES,
    min_seconds: float = 0.0,
    floor_dbfs: float | None = None,
    tagger: Tagger | None = None,
) -> FeatureResult:
    """extract_features with the block size exposed, so tests can put block edges anywhere."""
    with (
        tempfile.TemporaryFile(prefix="needlebot-") as signal_spool,
        tempfile.TemporaryFile(prefix="needlebot-") as mel_spool,
    ):
        first = _FirstPass(signal_spool, mel_spool, block_frames)
        truncated = decode(
            source, first.feed, max_seconds=max_seconds, ffmpeg=ffmpeg, min_seconds=min_seconds,
            floor_dbfs=floor_dbfs,
        )  # fmt: skip
        first.finish()
        tuning = first.tuning()
        chroma = first.chroma_sums(tuning)
        if chroma is None:
            log.debug("tuning %.2f was not among the guessed candidates; second pass", tuning)
            chroma = _chroma_pass(signal_spool, tuning, block_frames)
        mfcc, mel_db = _mel_pass(mel_spool, first.n_frames, first.mel_max)
        tags = () if tagger is None else tagger.tag_signal(_spool_reader(signal_spool), first.n_samples,
                                                             SAMPLE_RATE)  # fmt: skip
    # (sections, 26) sums of each per-frame value and of its square, in FEATURE_NAMES order
    frames = first.frame_sums
    sums = np.hstack([chroma.sums[:, :1], frames.sums[:, :5], mfcc.sums[:, :N_MFCC]])
    squares = np.hstack([chroma.sums[:, 1:], frames.sums[:, 5:], mfcc.sums[:, N_MFCC:]])
    seconds = first.n_samples / SAMPLE_RATE
    values, variances = _moments(sums.sum(axis=0), squares.sum(axis=0), first.n_frames)
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(variances)):
        raise CorruptAudioError("The audio could not be analysed (it decodes to invalid values).")
    return FeatureResult(
        values, variances, _sections(sums, squares, frames.counts, seconds), seconds, truncated, mel_db, tags
    )


def _spool_reader(spool: IO[bytes]) -> Callable[[int, int], np.ndarray]:
    """``read(start, count)``: float32 samples start .. start + count - 1 of a spooled signal."""

    def read(start: int, count: int) -> np.ndarray:
        spool.seek(start * 4)
        return np.fromfile(spool, dtype=np.float32, count=count)

    return read


def _moments(sums: np.ndarray, squares: np.ndarray, count: float) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (ddof=0) from sums of values and of their squares over ``count`` frames."""
    means = sums / count
    # E[x^2] - E[x]^2 in float64 loses digits in proportion to E[x^2] / var, a few dozen for these features
    # (checked against np.var to 1e-4 in the tests); clip the round-off below zero of constant input.
    return means, np.maximum(squares / count - means**2, 0.0)


def _sections(
    sums: np.ndarray, squares: np.ndarray, counts: np.ndarray, seconds: float
) -> tuple[Section, ...]:
    """Sections from per-30-s (sections, 26) sums, merging a last one shorter than MIN_SECTION_S."""
    n = len(counts)
    if n > 1 and seconds - SECTION_S * (n - 1) < MIN_SECTION_S:
        sums, squares, counts = (np.concatenate([a[:-2], a[-2:].sum(axis=0, keepdims=True)])
                                 for a in (sums, squares, counts))  # fmt: skip
        n -= 1
    sections = []
    for i in range(n):
        values, variances = _moments(sums[i], squares[i], counts[i])
        end = seconds if i == n - 1 else SECTION_S * (i + 1)
        sections.append(Section(OFFSET_S + SECTION_S * i, OFFSET_S + end, values, variances))
    return tuple(sections)


class _SectionSums:
    """Sums of per-frame values, split by the 30-s section each frame belongs to.

    ``sums`` is (sections, width) float64, ``counts`` the frames per section.
    """

    def __init__(self, width: int) -> None:
        self.sums = np.zeros((0, width))
        self.counts = np.zeros(0)

    def add(self, first_frame: int, values: np.ndarray) -> None:
        """Accumulate (n, width) values of the frames first_frame .. first_frame + n - 1."""
        section = np.arange(first_frame, first_frame + len(values)) * HOP // _SECTION_SAMPLES
        grow = section[-1] + 1 - len(self.sums)
        if grow > 0:
            self.sums = np.concatenate([self.sums, np.zeros((grow, self.sums.shape[1]))])
            self.counts = np.concatenate([self.counts, np.zeros(grow)])
        starts = np.flatnonzero(np.diff(section, prepend=-1))  # frames are consecutive: runs per section
        self.sums[section[starts]] += np.add.reduceat(values, starts, axis=0, dtype=np.float64)
        self.counts[section[starts]] += np.diff(np.append(starts, len(values)))


class _Framer:
    """Cut a stream of samples into blocks of centered frames (n_fft 2048, hop 512).

    The signal is padded with n_fft // 2 samples at each end, reflected as ``np.pad(y, 1024,
    mode="reflect")`` (what librosa's ``pad_mode="reflect"`` amounts to), so frame t covers samples
    [t * HOP - 1024, t * HOP + 1024). Subclasses get ``_block(seg, head, tail)``: ``seg`` is the padded
    waveform under the block's frames, ``head``/``tail`` the number of padding samples at its start/end.
    """

    def __init__(self, block_frames: int) -> None:
        self.block_frames = block_frames
        self.n_samples = 0
        self.n_frames = 0  # frames handed out so far
        # Unprocessed samples: _buf (from padded index _buf_start) followed by the chunks in _pending.
        # Chunks are joined once per block, not once per chunk, which would copy the buffer each time.
        # The head padding reflects samples 1..1024, so it is prepended once they have arrived.
        self._buf = np.zeros(0, np.float32)
        self._buf_start = _PAD
        self._headed = False
        self._pending: list[np.ndarray] = []
        self._pending_len = 0

    def feed(self, chunk: np.ndarray) -> None:
        """Add samples; processes every full block they complete."""
        self.n_samples += len(chunk)
        self._pending.append(chunk.astype(np.float32, copy=False))
        self._pending_len += len(chunk)
        if len(self._buf) + self._pending_len + (0 if self._headed else _PAD) >= _span(self.block_frames):
            self._join()
            while self._headed and len(self._buf) >= _span(self.block_frames):
                self._emit(self.block_frames, tail=0)

    def finish(self) -> None:
        """Pad the end and process the remaining frames."""
        total = 1 + self.n_samples // HOP
        self._join()
        if not self._headed:  # at most 1024 samples: np.pad reflects them as often as it takes
            self._buf = np.pad(self._buf, _PAD, mode="reflect")
            self._buf_start = 0
            self._headed = True
        else:
            # The buffer always holds more than the last 1025 samples: a frame is only emitted once the
            # samples under the next one (1536 beyond the emitted ones) have arrived.
            self._buf = np.concatenate([self._buf, self._buf[-2 : -_PAD - 2 : -1]])
        real_end = self.n_samples + _PAD  # padded index where the tail padding starts
        while self.n_frames < total:
            n = min(self.block_frames, total - self.n_frames)
            seg_end = self._buf_start + _span(n)
            self._emit(n, tail=max(0, seg_end - real_end))

    def _join(self) -> None:
        self._buf = np.concatenate([self._buf, *self._pending])
        self._pending = []
        self._pending_len = 0
        if not self._headed and len(self._buf) > _PAD:
            self._buf = np.concatenate([self._buf[_PAD:0:-1], self._buf])
            self._buf_start = 0
            self._headed = True

    def _emit(self, n: int, tail: int) -> None:
        self._block(self._buf[: _span(n)], max(0, _PAD - self._buf_start), tail)
        self._buf = self._buf[n * HOP :]
        self._buf_start += n * HOP
        self.n_frames += n

    def _block(self, seg: np.ndarray, head: int, tail: int) -> None:
        raise NotImplementedError


def _span(n_frames: int) -> int:
    """Samples under ``n_frames`` consecutive frames."""
    return (n_frames - 1) * HOP + N_FFT


def _magnitude_spectrogram(seg: np.ndarray) -> np.ndarray:
    """|STFT| of the frames under ``seg``, shape (n_frames, 1025) float32, one row per frame.

    Bit-identical to ``np.abs(librosa.stft(seg, center=False)).T``: librosa also windows in float64 and
    stores complex64; rows keep every per-frame reduction on contiguous memory.
    """
    frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP]
    return np.abs(scipy.fft.rfft(frames * _WINDOW, axis=-1).astype(np.complex64))


class _FirstPass(_Framer):
    """The pass over the decoding audio.

    Spools the signal and the mel rows; accumulates rms, zcr, centroid, bandwidth, rolloff (and their
    squares) per section, and chroma at the candidate tunings; collects the pitch peaks the tuning is
    estimated from.
    """

    def __init__(self, signal_spool: IO[bytes], mel_spool: IO[bytes], block_frames: int) -> None:
        super().__init__(block_frames)
        self._signal_spool = signal_spool
        self._mel_spool = mel_spool
        # rms, centroid, bandwidth, rolloff, zcr (FEATURE_NAMES order), then their squares
        self.frame_sums = _SectionSums(10)
        self._peak = 0.0
        self.mel_max = 0.0
        self._pitches: list[np.ndarray] = []
        self._pitch_mags: list[np.ndarray] = []
        freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
        self._freqs = freqs
        # (1025, 3): float32 sums are plenty for means checked to 1e-4, and 4x faster than float64
        self._moments = np.stack([np.ones_like(freqs), freqs, freqs**2], axis=1).astype(np.float32)
        band = np.flatnonzero((freqs >= _PIP_FMIN) & (freqs < _PIP_FMAX))
        self._band = (int(band[0]), int(band[-1]) + 1)
        self._mel_basis_t = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).T  # (1025, 128)
        self._tunings = np.zeros(0)  # candidate tunings, chosen after _GUESS_FRAMES frames (or at the end)
        self._chroma: _Chroma | None = None
        self._held: list[tuple[int, np.ndarray]] = []  # (first frame, power spectra) before the guess

    def feed(self, chunk: np.ndarray) -> None:
        if not np.all(np.isfinite(chunk)):
            raise CorruptAudioError("The audio is damaged: it decodes to invalid (NaN or infinite) samples.")
        if len(chunk):
            self._peak = max(self._peak, float(np.max(np.abs(chunk))))
        chunk.astype(np.float32, copy=False).tofile(self._signal_spool)
        super().feed(chunk)

    def finish(self) -> None:
        if self.n_samples == 0:
            raise EmptyAudioError("The file contains no audio samples.")
        if self._peak == 0.0:
            raise SilentAudioError("The audio is completely silent.")
        super().finish()
        if self._chroma is None:
            self._start_chroma()
        self._signal_spool.flush()
        self._mel_spool.flush()

    def _block(self, seg: np.ndarray, head: int, tail: int) -> None:
        n = (len(seg) - N_FFT) // HOP + 1
        magnitude = _magnitude_spectrogram(seg)
        power = magnitude**2
        per_frame = np.stack([
            _rms(seg, n), *self._spectral_shape(magnitude), _zero_crossing_rate(_edge_pad(seg, head, tail), n)
        ], axis=1)  # fmt: skip
        self.frame_sums.add(self.n_frames, np.hstack([per_frame, per_frame**2]))
        self._collect_pitches(power)
        if self._chroma is not None:
            self._chroma.add(self.n_frames, power)
        else:
            self._held.append((self.n_frames, power))
            if self.n_frames + n >= _GUESS_FRAMES:
                self._start_chroma()
        mel = power @ self._mel_basis_t  # (n, 128)
        self.mel_max = max(self.mel_max, float(np.max(mel)))
        mel.tofile(self._mel_spool)

    def _spectral_shape(self, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centroid, bandwidth (p=2) and rolloff (85 %), each (n,) float64, of (n, 1025) magnitudes."""
        s0, s1, s2 = (magnitude @ self._moments).T.astype(np.float64)  # sums of M, f M, f^2 M per frame
        norm = np.where(s0 < _TINY, 1.0, s0)
        centroid = s1 / norm
        # sum(M / norm * (f - c)^2), expanded over the moments
        bandwidth = np.sqrt(np.maximum(0.0, (s2 - 2 * centroid * s1 + centroid**2 * s0) / norm))
        cumulative = np.cumsum(magnitude, axis=1)
        rolloff = self._freqs[np.argmax(cumulative >= 0.85 * cumulative[:, -1:], axis=1)]
        return centroid, bandwidth, rolloff

    def _collect_pitches(self, power: np.ndarray) -> None:
        """librosa.piptrack on a power spectrogram, computed only over the 150-4000 Hz band it reports.

        Every step is per bin from its two neighbours, so one extra row each side makes the band exact;
        the per-frame reference is still the max over all bins.
        """
        lo, hi = self._band
        sub = power[:, lo - 1 : hi + 1]
        ref = _PIP_THRESHOLD * np.max(power, axis=1, keepdims=True)
        shift = _parabolic_interpolation(sub, axis=-1)
        dskew = 0.5 * np.gradient(sub, axis=1) * shift
        peaks = librosa.util.localmax(sub * (sub > ref), axis=-1)
        frames, bins = np.nonzero(peaks[:, 1:-1])
        bins_sub = bins + 1
        pitch = ((bins + lo + shift[frames, bins_sub]) * float(SAMPLE_RATE) / N_FFT).astype(np.float32)
        self._pitches.append(pitch)
        self._pitch_mags.append(sub[frames, bins_sub] + dskew[frames, bins_sub])

    def tuning(self) -> float:
        """librosa.estimate_tuning over every frame: peaks at least as strong as the median, binned."""
        pitch = np.concatenate(self._pitches)
        mags = np.concatenate(self._pitch_mags)
        keep = pitch > 0
        if not keep.any():
            return 0.0  # what librosa returns (with a warning) when no frame has a pitch peak
        selected = pitch[(mags >= np.median(mags[keep])) & keep]
        return float(librosa.pitch_tuning(selected, bins_per_octave=12))

    def _start_chroma(self) -> None:
        """Guess the tuning from the frames so far; from now on accumulate chroma at the tunings around it."""
        guess = int(np.argmin(np.abs(_TUNINGS - self.tuning())))
        self._tunings = _TUNINGS[max(0, guess - _TUNING_SPREAD) : guess + _TUNING_SPREAD + 1]
        self._chroma = _Chroma(self._tunings)
        for first_frame, power in self._held:
            self._chroma.add(first_frame, power)
        self._held = []

    def chroma_sums(self, tuning: float) -> _SectionSums | None:
        """Chroma sums at ``tuning`` (see _Chroma.at), or None when it was not among the candidates."""
        if self._chroma is None or tuning not in self._tunings:
            return None
        return self._chroma.at(int(np.flatnonzero(self._tunings == tuning)[0]))


def _rms(seg: np.ndarray, n: int) -> np.ndarray:
    """librosa.feature.rms of the n frames under ``seg``: sums of four 512-sample chunks of y**2."""
    chunks = np.sum(np.square(seg, dtype=np.float64).reshape(-1, HOP), axis=1)
    per_frame = chunks[0:n] + chunks[1 : n + 1] + chunks[2 : n + 2] + chunks[3 : n + 3]
    return np.sqrt(per_frame / N_FFT)


def _edge_pad(seg: np.ndarray, head: int, tail: int) -> np.ndarray:
    """``seg`` with its zero padding replaced by the nearest real sample (zero_crossing_rate pads 'edge')."""
    if not head and not tail:
        return seg
    out = seg.copy()
    out[:head] = seg[head]
    if tail:
        out[len(seg) - tail :] = seg[len(seg) - tail - 1]
    return out


def _zero_crossing_rate(seg: np.ndarray, n: int) -> np.ndarray:
    """librosa.feature.zero_crossing_rate of the n frames under ``seg``.

    A crossing is a sign change between a sample and the one before it, both inside the frame; samples
    within the threshold count as positive zero.
    """
    negative = seg.astype(np.float64) < -_ZC_THRESHOLD
    crossings = np.concatenate([[0], np.cumsum(negative[1:] != negative[:-1])])
    starts = np.arange(n) * HOP
    return (crossings[starts + N_FFT - 1] - crossings[starts]) / N_FFT


class _Chroma:
    """Sums of librosa.feature.chroma_stft (max-normalised per frame) at several tunings at once.

    Per frame and tuning it sums the mean over the 12 pitch classes and the mean of their squares, so
    the mean and variance over the whole 12 x T matrix come out as for any one-value-per-frame feature.
    """

    def __init__(self, tunings: np.ndarray) -> None:
        banks = [librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=t) for t in tunings]
        self._banks_t = np.concatenate(banks).T  # (1025, 12 * len(tunings))
        self._n = len(tunings)
        self.sections = _SectionSums(2 * self._n)  # class means for each tuning, then squares

    def add(self, first_frame: int, power: np.ndarray) -> None:
        """Accumulate the chroma of (n, 1025) power spectra, frames first_frame onwards."""
        raw = (power @ self._banks_t).reshape(len(power), self._n, 12)
        peak = np.max(raw, axis=2, keepdims=True)
        chroma = raw / np.where(peak < _TINY, 1.0, peak)
        per_frame = np.hstack([np.mean(chroma, axis=2, dtype=np.float64),
                               np.mean(np.square(chroma, dtype=np.float64), axis=2)])  # fmt: skip
        self.sections.add(first_frame, per_frame)

    def at(self, i: int) -> _SectionSums:
        """The sums at tuning number ``i``: width 2 (mean over the pitch classes, mean of squares)."""
        out = _SectionSums(2)
        out.sums = self.sections.sums[:, [i, self._n + i]]
        out.counts = self.sections.counts
        return out


class _ChromaPass(_Framer):
    """Chroma at a known tuning, from the spooled signal: the fallback when the guess missed."""

    def __init__(self, tuning: float, block_frames: int) -> None:
        super().__init__(block_frames)
        self.chroma = _Chroma(np.array([tuning]))

    def _block(self, seg: np.ndarray, head: int, tail: int) -> None:
        self.chroma.add(self.n_frames, _magnitude_spectrogram(seg) ** 2)


def _chroma_pass(signal_spool: IO[bytes], tuning: float, block_frames: int) -> _SectionSums:
    """Chroma sums at ``tuning`` (see _Chroma.at) of the signal in ``signal_spool`` (float32 samples)."""
    chroma_pass = _ChromaPass(tuning, block_frames)
    signal_spool.seek(0)
    while len(chunk := np.fromfile(signal_spool, dtype=np.float32, count=block_frames * HOP)):
        chroma_pass.feed(chunk)
    chroma_pass.finish()
    return chroma_pass.chroma.at(0)


def _mel_pass(mel_spool: IO[bytes], n_frames: int, mel_max: float) -> tuple[_SectionSums, np.ndarray]:
    """MFCC sums and the mel picture from the spooled (n_frames, 128) float32 mel power rows.

    power_to_db clips 80 dB below the loudest value of the whole song, so the MFCCs wait for it. Returns
    per-section sums of the 20 MFCCs of each frame, then of their squares, and the picture.
    """
    floor_db = _power_db(np.float32(mel_max)) - _TOP_DB
    columns = min(MEL_DB_COLUMNS, n_frames)
    mfcc = _SectionSums(2 * N_MFCC)
    pooled = np.zeros((columns, N_MELS))
    mel_spool.seek(0)
    start = 0
    while len(rows := np.fromfile(mel_spool, dtype=np.float32, count=BLOCK_FRAMES * N_MELS)):
        mel = rows.reshape(-1, N_MELS)
        per_frame = np.maximum(_power_db(mel), floor_db).astype(np.float64) @ _DCT.T  # (n, 20)
        mfcc.add(start, np.hstack([per_frame, per_frame**2]))
        # picture column of frame t: t * columns // n_frames
        bins = np.arange(start, start + len(mel)) * columns // n_frames
        firsts = np.flatnonzero(np.diff(bins, prepend=-1))
        pooled[bins[firsts]] += np.add.reduceat(mel, firsts, axis=0, dtype=np.float64)
        start += len(mel)
    counts = np.bincount(np.arange(n_frames) * columns // n_frames, minlength=columns)
    mel_db = librosa.power_to_db((pooled / counts[:, None]).T, ref=np.max, top_db=_TOP_DB)
    return mfcc, mel_db.astype(np.float32)


def _power_db(power: np.ndarray) -> np.ndarray:
    """librosa.power_to_db with ref=1.0 and no top_db clipping."""
    return 10.0 * np.log10(np.maximum(1e-10, power))
