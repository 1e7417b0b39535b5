"""What a rating refuses at decode time: too little audio after the offset, audio too quiet to hear, and
sample rates and channel counts no music file has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.decode import (
    MIN_RATED_SECONDS,
    OFFSET_S,
    QUIET_FLOOR_DBFS,
    QuietAudioError,
    SilentAudioError,
    TooShortError,
    UnsupportedAudioError,
    decode,
)
from tests.support.audio import square_wave, synth_song, write_audio

SR = 44100
RATED = {"min_seconds": MIN_RATED_SECONDS, "floor_dbfs": QUIET_FLOOR_DBFS, "max_seconds": 30.0}


def noise(seconds: float, peak: float, seed: int = 0) -> np.ndarray:
    y = np.random.default_rng(seed).uniform(-1, 1, int(seconds * SR))
    return (y * peak / np.max(np.abs(y))).astype(np.float32)


def samples(path: Path, **options: float) -> int:
    seen: list[int] = []
    decode(path, lambda block: seen.append(len(block)), **options)
    return sum(seen)


@pytest.mark.parametrize("fmt", ["wav", "webm"])  # libsndfile and ffmpeg
def test_too_little_audio_after_the_offset_is_refused(tmp_path: Path, fmt: str) -> None:
    short = write_audio(tmp_path / f"short.{fmt}", synth_song(1.2, sr=SR), SR, fmt)
    with pytest.raises(TooShortError, match=r"at least 4 s of audio, and this one has 1\.2 s"):
        decode(short, lambda block: None, **RATED)
    assert samples(short, max_seconds=30.0) > 0, "without min_seconds the same audio decodes"


def test_just_enough_audio_is_rated(tmp_path: Path) -> None:
    song = synth_song(OFFSET_S + MIN_RATED_SECONDS + 0.1, sr=SR)
    enough = write_audio(tmp_path / "enough.wav", song, SR, "wav")
    assert samples(enough, **RATED) >= MIN_RATED_SECONDS * 22050


def test_a_long_file_cut_at_max_seconds_is_not_too_short(tmp_path: Path) -> None:
    long = write_audio(tmp_path / "long.wav", synth_song(8.0, sr=SR), SR, "wav")
    assert decode(long, lambda block: None, min_seconds=MIN_RATED_SECONDS, max_seconds=2.0)


@pytest.mark.parametrize("fmt", ["wav", "webm"])
def test_white_noise_at_a_peak_of_3e_5_is_too_quiet(tmp_path: Path, fmt: str) -> None:
    # 3e-5 is -90 dBFS: the example, which used to be rated 2/10.
    quiet = write_audio(tmp_path / f"quiet.{fmt}", noise(6.0, 3e-5), SR, fmt)
    # 16-bit wav holds it as +-1 LSB and resampling overshoots a little: about -87 dBFS either way.
    with pytest.raises(QuietAudioError, match=r"too quiet to hear.*-[89]\d dBFS"):
        decode(quiet, lambda block: None, **RATED)


def test_quiet_but_audible_audio_is_rated(tmp_path: Path) -> None:
    # -50 dBFS peak: a very quiet recording, still above the floor.
    path = tmp_path / "soft.wav"
    write_audio(path, noise(6.0, 10 ** (-50 / 20)), SR, "wav")
    assert samples(path, **RATED) > 0


def test_digital_silence_is_called_silent(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "silence.wav", np.zeros(6 * SR, np.float32), SR, "wav")
    with pytest.raises(SilentAudioError, match="completely silent") as caught:
        decode(path, lambda block: None, **RATED)
    assert not isinstance(caught.value, QuietAudioError)


@pytest.mark.parametrize(
    ("sr", "channels", "fmt", "says"),
    [
        (1, 1, "WAV", r"1 channel at 1 Hz; I take sample rates from 4 to 384 kHz"),  # 2,000 frames: 33 min
        (3_000, 2, "WAV", r"2 channels at 3,000 Hz; I take sample rates from 4"),
        (384_000, 8, "FLAC", r"8 channels at 384,000 Hz; I take up to 8 channels, and at most 96 kHz"),
        (8_000, 16, "WAV", r"16 channels at 8,000 Hz; I take up to 8 channels"),
    ],
)
def test_absurd_rates_and_channel_counts_are_refused_before_decoding(
    tmp_path: Path, sr: int, channels: int, fmt: str, says: str
) -> None:
    path = tmp_path / f"hostile.{fmt.lower()}"
    frames = 2_000 if sr == 1 else sr // 10  # a 4 KB WAV at 1 Hz; a tenth of a second of the rest
    sf.write(path, square_wave(frames / sr, sr, channels), sr, format=fmt, subtype="PCM_16")
    seen: list[int] = []
    with pytest.raises(UnsupportedAudioError, match=says):
        decode(path, lambda block: seen.append(len(block)), max_seconds=900.0)
    assert seen == [], "nothing was decoded"


@pytest.mark.parametrize(("sr", "channels"), [(4_000, 1), (384_000, 2), (96_000, 8)])
def test_the_extremes_still_allowed_decode(tmp_path: Path, sr: int, channels: int) -> None:
    path = write_audio(tmp_path / "edge.flac", square_wave(2.0, sr, channels), sr, "flac")
    assert samples(path, max_seconds=30.0) == 22050
