"""Decode any audio to mono float32 at 22,050 Hz from 1.0 s on, streamed in blocks.

Matches ``librosa.load(path, offset=1.0, sr=22050)``: wav, flac, Ogg Vorbis and mp3 are read
with soundfile, downmixed as the mean of the channels and resampled with soxr HQ (streaming soxr gives the
same samples as one-shot soxr). Everything else (opus, m4a/aac, video files) goes through one ffmpeg
child that cuts the offset, downmixes and resamples with soxr in its filter graph.
"""

from __future__ import annotations

import io
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
OFFSET_S = 1.0

# What a rating needs (the bot asks for these; feature extraction alone takes any audio):
# at least this much audio after the offset: features of a second or two describe a sound, not a song.
MIN_RATED_SECONDS = 3.0
# and a loudest sample at or above this level. Mastered music peaks within a few dB of full scale and even
# quiet classical recordings peak above about -30 dBFS, while 16-bit dither sits near -96 dBFS. A peak under
# -60 dBFS (1/1000 of full scale) stays, at any normal listening volume, under the background noise of a
# quiet room: there is nothing audible to rate, only what a recorder picks up with no input.
QUIET_FLOOR_DBFS = -60.0

# What users may send: file name suffixes an upload may carry, and how every message names the formats.
AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm", ".mp4"}
)
FORMATS = "mp3, wav, flac, ogg, m4a, opus or webm"

# What a file may declare, so that its cost follows its size. Below 4 kHz nothing above 2 kHz is left: no
# music to rate, and a tiny file at 1 Hz would resample into minutes of audio (a 4 KB WAV "lasting" 15
# minutes). Above 384 kHz (the highest rate studio converters offer), or more than 8 channels (7.1), is
# no music file either. Decoding costs per input sample, so rate times channels is bounded as well:
# 768,000 samples per second is 96 kHz 7.1 or 384 kHz stereo; with the output cap of max_seconds at
# SAMPLE_RATE, no file makes a worker decode more than max_seconds of that.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8
MAX_SAMPLES_PER_SECOND = 768_000

Sink = Callable[[np.ndarray], None]

# Native-rate frames read from libsndfile per call, and float32 bytes read from ffmpeg per call.
_SF_BLOCK = 1 << 16
_PIPE_BLOCK_BYTES = 4 << 16
# Cut the offset on sample counts (input -ss skips decoder pre-roll), downmix as the channel mean (the
# "<" renormalises the gains over the channels present), and resample with soxr at HQ's 20-bit precision.
_FFMPEG_FILTER = (
    f"asetpts=N/SR/TB,atrim=start={OFFSET_S},asetpts=N/SR/TB,"
    "pan=mono|c0<c0+c1+c2+c3+c4+c5+c6+c7,"
    f"aresample={SAMPLE_RATE}:resampler=soxr:precision=20"
)


_UNRECOGNISED = ("Error opening input", "Failed to find two consecutive MPEG audio frames")


class AudioError(Exception):
    """Audio that cannot be analysed; ``str(e)`` is a message a user can act on."""


class NotAudioError(AudioError):
    """The input is not an audio or video file."""


class CorruptAudioError(AudioError):
    """The input looks like audio but cannot be decoded."""


class EmptyAudioError(AudioError):
    """The input has no bytes or no audio samples."""


class TooShortError(AudioError):
    """The audio ends before the analysis offset."""


class UnsupportedAudioError(AudioError):
    """The audio declares a sample rate or channel count outside what we decode (see MIN_SAMPLE_RATE)."""


class SilentAudioError(AudioError):
    """The audio is digital silence."""


class QuietAudioError(SilentAudioError):
    """The audio peaks below the loudness floor: too quiet to hear."""


def ffmpeg_executable(configured: str | None = None) -> str:
    """The ffmpeg binary to run.

    Parameters
    ----------
    configured : str, optional
        A binary named in the settings; empty or None means imageio-ffmpeg's bundled static build.

    Returns
    -------
    str
        Path (or command name) of the ffmpeg executable.
    """
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(
    source: str | os.PathLike | bytes,
    sink: Sink,
    *,
    max_seconds: float,
    ffmpeg: str | None = None,
    min_seconds: float = 0.0,
    floor_dbfs: float | None = None,
) -> bool:
    """Decode ``source`` and pass mono float32 blocks at SAMPLE_RATE, from OFFSET_S on, to ``sink``.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path, or the file's bytes.
    sink : Callable[[np.ndarray], None]
        Called with each block, float32, shape (n,), in order; at most ``max_seconds`` of audio in all.
    max_seconds : float
        Cap on the decoded duration after the offset, in seconds; the rest is not decoded.
    ffmpeg : str, optional
        ffmpeg binary for formats libsndfile cannot read; default imageio-ffmpeg's.
    min_seconds : float
        Refuse (TooShortError) input with less audio than this after the offset, in seconds; see
        MIN_RATED_SECONDS. Checked once decoding ends, like ``floor_dbfs``: the sink has seen the blocks.
    floor_dbfs : float, optional
        Refuse input whose peak is below this level (SilentAudioError when it is all zeros, else
        QuietAudioError); see QUIET_FLOOR_DBFS. None accepts any level.

    Returns
    -------
    bool
        True when the input went on past the cap and the rest was not decoded (truncated).

    Raises
    ------
    AudioError
        A subclass saying why the input cannot be decoded, with a message for the user.
    """
    meter = _Meter(sink)
    truncated = _decode(source, meter, max_seconds, ffmpeg)
    meter.check(min_seconds=0.0 if truncated else min_seconds, floor_dbfs=floor_dbfs)
    return truncated


def _decode(source: str | os.PathLike | bytes, sink: Sink, max_seconds: float, ffmpeg: str | None) -> bool:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise EmptyAudioError("The file is empty (0 bytes).")
        sf_file = _open_soundfile(io.BytesIO(data))
        if sf_file is not None:
            return _decode_soundfile(sf_file, sink, max_seconds)
        # A real file rather than stdin: mp4/m4a with the index at the end needs a seekable input. The
        # name is tempfile's, never the upload's.
        with tempfile.NamedTemporaryFile(prefix="needlebot-", suffix=".audio") as tmp:
            tmp.write(data)
            tmp.flush()
            return _decode_ffmpeg(tmp.name, sink, max_seconds, ffmpeg_executable(ffmpeg))
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"There is no file at {path}.")
    if path.stat().st_size == 0:
        raise EmptyAudioError("The file is empty (0 bytes).")
    sf_file = _open_soundfile(path)
    if sf_file is not None:
        return _decode_soundfile(sf_file, sink, max_seconds)
    return _decode_ffmpeg(str(path), sink, max_seconds, ffmpeg_executable(ffmpeg))


class _Meter:
    """A sink in front of the caller's that counts the samples and keeps the peak, block by block."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.samples = 0
        self.peak = 0.0

    def __call__(self, block: np.ndarray) -> None:
        if len(block):
            self.samples += len(block)
            self.peak = max(self.peak, float(np.max(np.abs(block))))
        self._sink(block)

    def check(self, *, min_seconds: float, floor_dbfs: float | None) -> None:
        """Raise if there was less than ``min_seconds`` of audio, or its peak is under ``floor_dbfs``."""
        seconds = self.samples / SAMPLE_RATE
        if seconds < min_seconds:
            raise TooShortError(
                f"The audio is too short: I rate songs with at least {OFFSET_S + min_seconds:g} s of audio,"
                f" and this one has {OFFSET_S + seconds:.1f} s."
            )
        if floor_dbfs is None:
            return
        if self.peak == 0.0:
            raise SilentAudioError("The audio is completely silent.")
        if (level := 20 * math.log10(self.peak)) < floor_dbfs:
            raise QuietAudioError(
                f"The audio is too quiet to hear: its loudest moment is at {level:.0f} dBFS, and I need"
                f" at least {floor_dbfs:g} dBFS. Turn it up and send it again."
            )


def _open_soundfile(file: Path | IO[bytes]) -> sf.SoundFile | None:
    """Open ``file`` with libsndfile, or None when ffmpeg should decode it instead."""
    try:
        opened = sf.SoundFile(file)
    except sf.LibsndfileError as e:
        log.debug("libsndfile cannot open the input (%s); trying ffmpeg", e)
        return None
    if opened.subtype == "OPUS":
        # libsndfile 1.2 opens Ogg Opus but fails partway through many files ffmpeg writes ("malformed"),
        # after samples have gone to the sink; librosa falls back to ffmpeg for them too.
        opened.close()
        return None
    return opened


def _decode_soundfile(file: sf.SoundFile, sink: Sink, max_seconds: float) -> bool:
    """Stream a libsndfile-readable input the way librosa.load does; returns ``truncated``."""
    with file:
        sr = file.samplerate
        check_layout(sr, file.channels)
        start = int(OFFSET_S * sr)
        cap = int(max_seconds * sr)
        if file.frames <= 0:
            raise EmptyAudioError("The file contains no audio samples.")
        if file.frames <= start:
            raise TooShortError(_too_short_message())
        resampler = None if sr == SAMPLE_RATE else soxr.ResampleStream(sr, SAMPLE_RATE, 1, "float32", "HQ")
        try:
            file.seek(start)
            n_in = 0
            n_out = 0
            while n_in < cap:
                block = file.read(min(_SF_BLOCK, cap - n_in), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                n_in += len(block)
                mono = _downmix(block)
                if resampler is not None:
                    mono = resampler.resample_chunk(mono)
                n_out += len(mono)
                sink(mono)
            truncated = n_in >= cap and file.frames - start > cap
        except sf.LibsndfileError as e:
            raise CorruptAudioError(
                f"The audio is damaged and could not be decoded ({e.error_string})."
            ) from e
    if resampler is not None:
        # librosa pads (or trims) the resampled signal to ceil(n * ratio) samples.
        tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        want = math.ceil(n_in * SAMPLE_RATE / sr) - n_out
        if want > 0:
            sink(np.pad(tail[:want], (0, max(0, want - len(tail)))))
    if n_in == 0:
        raise TooShortError(_too_short_message())
    return truncated


def check_layout(sample_rate: int, channels: int) -> None:
    """Refuse a sample rate or channel count no music file has, before decoding any of it.

    Parameters
    ----------
    sample_rate : int
        Frames per second the file declares, in Hz.
    channels : int
        Samples per frame.

    Raises
    ------
    UnsupportedAudioError
        Outside MIN_SAMPLE_RATE..MAX_SAMPLE_RATE, more than MAX_CHANNELS, or more than
        MAX_SAMPLES_PER_SECOND; the message says what the file declares and what is taken.
    """
    declared = f"This file declares {channels} channel{'s' if channels != 1 else ''} at {sample_rate:,} Hz"
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            f"{declared}; I take sample rates from {MIN_SAMPLE_RATE // 1000} to"
            f" {MAX_SAMPLE_RATE // 1000} kHz."
        )
    if channels > MAX_CHANNELS or sample_rate * channels > MAX_SAMPLES_PER_SECOND:
        raise UnsupportedAudioError(
            f"{declared}; I take up to {MAX_CHANNELS} channels, and at most 96 kHz with 8 channels or"
            f" 384 kHz stereo. Export it at 48 kHz stereo and send it again."
        )


def _downmix(block: np.ndarray) -> np.ndarray:
    """Channel mean of (n, channels) float32, summed in channel order like librosa.to_mono's np.mean.

    np.mean along the short contiguous axis is several times slower than adding columns.
    """
    mono = block[:, 0].copy()
    for c in range(1, block.shape[1]):
        mono += block[:, c]
    if block.shape[1] > 1:
        mono /= np.float32(block.shape[1])
    return mono


def _too_short_message() -> str:
    return f"The audio is too short: it needs to last more than {OFFSET_S:g} s."


def _decode_ffmpeg(path: str, sink: Sink, max_seconds: float, exe: str) -> bool:
    """Stream ``path`` through one ffmpeg child; returns ``truncated``. The child never outlives this call."""
    cap = round(max_seconds * SAMPLE_RATE)
    # "file:" keeps ffmpeg from reading a name like "http://..." or "concat:..." as a protocol.
    cmd = [
        exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", f"file:{path}",
        "-map", "0:a:0", "-af", _FFMPEG_FILTER, "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    n_out = 0
    truncated = False
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        try:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(_PIPE_BLOCK_BYTES):
                block = np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype="<f4")
                if n_out + len(block) > cap:
                    block = block[: cap - n_out]
                    truncated = True
                n_out += len(block)
                sink(block)
                if truncated:
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            returncode = proc.wait()
        if truncated:
            return True
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if returncode != 0 and "Cannot allocate memory" in stderr:
        # The worker's memory ceiling (which its children inherit), not the file's fault as such.
        raise MemoryError(f"ffmpeg ran out of memory: {stderr.strip()[-200:]}")
    if returncode != 0:
        raise _ffmpeg_error(stderr, returncode)
    if stderr.strip():
        log.warning("ffmpeg decoded the audio with errors: %s", stderr.strip()[-500:])
    if n_out == 0:
        raise TooShortError(_too_short_message())
    return False


def _ffmpeg_error(stderr: str, returncode: int) -> AudioError:
    """Map a failed ffmpeg run to the error a user can act on."""
    log.info("ffmpeg failed (exit %d): %s", returncode, stderr.strip()[-500:])
    if "matches no streams" in stderr:
        return NotAudioError(
            f"The file has no audio in it; send an audio file ({FORMATS})."
        )
    # When no demuxer recognises the input, ffmpeg prints only its generic "Error opening input" lines
    # (plus, for a name ending in .mp3, that it found no MPEG frames); anything else, e.g. "moov atom not
    # found", comes from a demuxer that knew the format.
    lines = [line for line in stderr.splitlines() if line.strip()]
    if lines and all(any(m in line for m in _UNRECOGNISED) for line in lines):
        return NotAudioError(f"This is not an audio file; send {FORMATS}.")
    return CorruptAudioError(
        "The audio is damaged and could not be decoded; try re-exporting or re-downloading it."
    )
