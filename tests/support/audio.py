"""Synthesized audio for tests and benchmarks: deterministic songs and files in any format we decode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from model.features import ffmpeg_executable

# Codec arguments for the formats libsndfile cannot write; these are what YouTube and phones serve.
_FFMPEG_CODECS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "webm": ["-c:a", "libopus", "-b:a", "96k", "-f", "webm"],
    "m4a": ["-c:a", "aac", "-b:a", "128k", "-f", "ipod"],
}
_SOUNDFILE_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
}
AUDIO_FORMATS: tuple[str, ...] = (*_SOUNDFILE_FORMATS, *_FFMPEG_CODECS)

_SEMITONES = np.array([0, 2, 4, 5, 7, 9, 11])  # major scale degrees


def _tone(t: np.ndarray, freq: float, harmonics: int = 4) -> np.ndarray:
    """A harmonic tone with 1/k partial amplitudes; t in seconds, returns the same shape."""
    return sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))


def synth_song(seconds: float, sr: int = 44100, seed: int = 0, channels: int = 2) -> np.ndarray:
    """Synthesize a plausible song: a chord progression, a bass line, kick/snare/hi-hat and noise.

    Parameters
    ----------
    seconds : duration in seconds.
    sr : sample rate in Hz.
    seed : the same seed gives the same samples; different seeds change key, tempo and chords.
    channels : 1 gives shape (n,), otherwise (n, channels) with slightly different mixes per channel.

    Returns
    -------
    float32 array, peak amplitude 0.8.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    root = 220.0 * 2 ** (rng.integers(-5, 6) / 12)
    beat = 60.0 / rng.uniform(90, 140)
    bar = 4 * beat
    degrees = rng.choice(7, size=4, replace=False)

    chord_idx = (t // bar).astype(np.int64) % 4
    pos_in_beat = t % beat
    chords = np.zeros(n)
    bass = np.zeros(n)
    for i, degree in enumerate(degrees):
        mask = chord_idx == i
        notes = [_SEMITONES[(degree + step) % 7] + 12 * ((degree + step) // 7) for step in (0, 2, 4)]
        for semis in notes:
            chords[mask] += _tone(t[mask], root * 2 ** (semis / 12))
        bass[mask] = _tone(t[mask], root / 2 * 2 ** (notes[0] / 12), harmonics=2)
    chords *= 0.12 * np.exp(-1.5 * (t % (bar / 2)))
    bass *= 0.3 * np.exp(-3.0 * pos_in_beat)

    beat_no = (t // beat).astype(np.int64) % 4
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * pos_in_beat)) * pos_in_beat) * np.exp(
        -12 * pos_in_beat
    )
    noise = rng.standard_normal(n)
    snare = np.where(beat_no % 2 == 1, noise * np.exp(-20 * pos_in_beat), 0.0)
    hat_noise = np.diff(rng.standard_normal(n + 1))  # differencing tilts white noise towards the highs
    hat = hat_noise * np.exp(-60 * (t % (beat / 2))) * 0.15
    background = 0.01 * rng.standard_normal(n)

    mono = chords + bass + 0.6 * kick + 0.25 * snare + hat + background
    if channels == 1:
        out = mono
    else:
        pans = np.linspace(-0.3, 0.3, channels)
        out = np.stack([mono + pan * (chords - hat) for pan in pans], axis=1)
    out *= 0.8 / np.max(np.abs(out))
    return out.astype(np.float32)


def write_audio(path: Path, y: np.ndarray, sr: int, format: str) -> Path:
    """Write samples ``y`` (shape (n,) or (n, channels), floats in [-1, 1]) at ``sr`` Hz as ``format``.

    wav/flac/ogg go through libsndfile; mp3, webm (Opus) and m4a (AAC) through the bundled ffmpeg.
    """
    path = Path(path)
    if format in _SOUNDFILE_FORMATS:
        container, subtype = _SOUNDFILE_FORMATS[format]
        sf.write(path, y, sr, format=container, subtype=subtype)
        return path
    if format not in _FFMPEG_CODECS:
        raise ValueError(f"unknown format {format!r}; expected one of {AUDIO_FORMATS}")
    channels = 1 if y.ndim == 1 else y.shape[1]
    if format == "webm" and sr not in (8000, 12000, 16000, 24000, 48000):
        resample = ["-ar", "48000"]  # libopus only takes its own rates
    else:
        resample = []
    cmd = [
        ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", "pipe:0",
        *resample, *_FFMPEG_CODECS[format], str(path),
    ]  # fmt: skip
    subprocess.run(cmd, input=np.ascontiguousarray(y, dtype="<f4").tobytes(), check=True, capture_output=True)
    return path


def square_wave(seconds: float, sr: int, channels: int) -> np.ndarray:
    """A 100 Hz square wave at half scale on every channel, shape (n, channels) float32: a few KB as FLAC
    whatever the rate, for files whose header, not their size, is the problem."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.where(np.sin(2 * np.pi * 100 * t) >= 0, 0.5, -0.5).astype(np.float32)
    return np.repeat(y[:, None], channels, axis=1)
