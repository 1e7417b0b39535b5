"""model.features against a straightforward librosa reference, on synthesized audio and the shared clips."""

from __future__ import annotations

import logging
import struct
import tempfile
import zlib
from pathlib import Path

import librosa
import numpy as np
import psutil
import pytest
import soundfile as sf

from model import decode as decode_module
from model import features
from model.features import (
    DEFAULT_MAX_SECONDS,
    FEATURE_NAMES,
    OFFSET_S,
    SAMPLE_RATE,
    AudioError,
    CorruptAudioError,
    EmptyAudioError,
    FeatureResult,
    NotAudioError,
    SilentAudioError,
    TooShortError,
    _extract,
    extract_features,
    ffmpeg_executable,
)
from tests.support.audio import synth_song, write_audio
from tests.support.reference import PAD_MODE, feature_matrices, reference_from_signal, statistics

DATA = Path(__file__).parents[1].parent / "shared" / "data"
AUDIO_DIR = DATA / "audio"
NO_DATA = f"{DATA} is absent (the shared data set lives outside the repo)"
RTOL, ATOL = 1e-4, 1e-6


def reference_features(path: Path, duration: float | None = None) -> np.ndarray:
    """The 26 features computed the straightforward way: librosa.load, then one librosa call per feature."""
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S, duration=duration)
    return reference_from_signal(y, sr)


def reference_sections(path: Path) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """(start s, end s, means, variances) of each section, from slices of the whole song's librosa matrices.

    Frame t (centred on sample t * 512 of the analysed audio) is in section floor(t * 512 / 22050 / 30);
    a last section under 10 s joins the one before. Times are in the file (the analysis starts at 1 s).
    """
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    matrices = feature_matrices(y, sr)
    seconds = len(y) / sr
    section = np.arange(matrices[0].shape[1]) * 512 // (30 * SAMPLE_RATE)
    n = section[-1] + 1
    if n > 1 and seconds - 30 * (n - 1) < 10:
        section = np.minimum(section, n - 2)
        n -= 1
    out = []
    for k in range(n):
        frames = np.flatnonzero(section == k)
        means, variances = statistics(matrices, slice(frames[0], frames[-1] + 1))
        end = seconds if k == n - 1 else 30 * (k + 1)
        out.append((OFFSET_S + 30 * k, OFFSET_S + end, means, variances))
    return out


def bounds(result: FeatureResult) -> list[float]:
    """Start and end of every section, flat: [start0, end0, start1, ...]."""
    return [t for section in result.sections for t in (section.start_s, section.end_s)]


def assert_sections_match(result: FeatureResult, path: Path) -> None:
    expected = reference_sections(path)
    assert bounds(result) == pytest.approx([t for e in expected for t in e[:2]])
    for ours, (_, _, means, variances) in zip(result.sections, expected, strict=True):
        assert_matches(ours.values, means)
        assert_matches(ours.variances, variances)


def assert_matches(ours: np.ndarray, reference: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> None:
    bad = ~np.isclose(ours, reference, rtol=rtol, atol=atol)
    detail = {FEATURE_NAMES[i]: (float(ours[i]), float(reference[i])) for i in np.flatnonzero(bad)}
    assert not bad.any(), f"features off (ours, reference): {detail}"


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return synth_song(6.0, sr=44100, seed=7)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture
def clean_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at an empty directory, to see what is left behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


def test_feature_names_follow_the_research_order() -> None:
    assert len(FEATURE_NAMES) == 26
    assert FEATURE_NAMES[:6] == (
        "chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff", "zero_crossing_rate",
    )  # fmt: skip
    assert FEATURE_NAMES[6:] == tuple(f"mfcc{i}" for i in range(1, 21))


@pytest.mark.skipif(not DATA.is_dir(), reason=NO_DATA)
def test_feature_names_are_the_gtzan_mean_columns() -> None:
    header = (DATA / "gtzan" / "features_30_sec.csv").read_text().splitlines()[0].split(",")
    means = [c.removesuffix("_mean") for c in header if c.endswith("_mean")]
    assert tuple(c for c in means if c not in ("harmony", "perceptr")) == FEATURE_NAMES


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_matches_reference_for_libsndfile_formats(song: np.ndarray, audio_dir: Path, fmt: str) -> None:
    path = write_audio(audio_dir / f"song.{fmt}", song, 44100, fmt)
    result = extract_features(path)
    assert isinstance(result, FeatureResult)
    assert result.values.shape == (26,) and result.values.dtype == np.float64
    assert_matches(result.values, reference_features(path))
    assert not result.truncated
    assert result.seconds == pytest.approx(5.0, abs=0.05)


def test_variances_and_sections_match_the_reference(tmp_path: Path) -> None:
    # 75 s: sections 0-30, 30-60 and a 15 s one kept on its own (times in the file, from 1 s)
    path = write_audio(tmp_path / "three.wav", synth_song(76.0, sr=SAMPLE_RATE, seed=5, channels=1),
                       SAMPLE_RATE, "wav")  # fmt: skip
    result = extract_features(path)
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    means, variances = statistics(feature_matrices(y, sr))
    assert result.variances.shape == (26,) and result.variances.dtype == np.float64
    assert_matches(result.values, means)
    assert_matches(result.variances, variances)
    assert bounds(result) == pytest.approx([1, 31, 31, 61, 61, 76])
    assert_sections_match(result, path)


def test_a_short_last_section_joins_the_one_before(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "two.wav", synth_song(69.0, sr=SAMPLE_RATE, seed=6, channels=1),
                       SAMPLE_RATE, "wav")  # fmt: skip
    result = extract_features(path)
    assert bounds(result) == pytest.approx([1, 31, 31, 69])
    assert_sections_match(result, path)
    # the sections' frames make up the song: their frame-weighted means are the song's means
    weights = np.array([s.end_s - s.start_s for s in result.sections])
    np.testing.assert_allclose(weights @ np.stack([s.values for s in result.sections]) / weights.sum(),
                               result.values, rtol=2e-3)  # fmt: skip


def test_bytes_give_the_same_features_as_the_path(song: np.ndarray, audio_dir: Path) -> None:
    path = write_audio(audio_dir / "bytes.ogg", song, 44100, "ogg")
    assert np.array_equal(extract_features(path.read_bytes()).values, extract_features(path).values)


def test_block_edges_and_silent_stretches_do_not_change_the_result(tmp_path: Path) -> None:
    # 22,050 Hz mono (no resampling), with silence at both ends: blocks of 37 and 1000 frames put block
    # edges inside silence, music and the padded signal ends, and the normalisations meet silent frames.
    music = synth_song(50.0, sr=SAMPLE_RATE, seed=3, channels=1)
    y = np.concatenate(
        [np.zeros(15 * SAMPLE_RATE, np.float32), music, np.zeros(8 * SAMPLE_RATE + 77, np.float32)]
    )
    path = write_audio(tmp_path / "long.wav", y, SAMPLE_RATE, "wav")
    reference = reference_features(path)
    for block_frames in (37, 1000):
        result = _extract(path, max_seconds=DEFAULT_MAX_SECONDS, ffmpeg=None, block_frames=block_frames)
        assert_matches(result.values, reference)
        assert_sections_match(result, path)
    assert result.seconds == pytest.approx(len(y) / SAMPLE_RATE - OFFSET_S)


def test_a_tuning_change_after_the_guess_takes_the_exact_second_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 s in tune, then 20 s pitched up a third of a semitone: guessed after 64 frames the tuning is 0.0,
    # over the whole song about 0.33, so chroma is recomputed from the spooled signal.
    monkeypatch.setattr(features, "_GUESS_FRAMES", 64)
    in_tune = synth_song(4.0, sr=SAMPLE_RATE, seed=1, channels=1)
    detuned = librosa.resample(
        synth_song(20.0, sr=SAMPLE_RATE, seed=2, channels=1),
        orig_sr=SAMPLE_RATE,
        target_sr=round(SAMPLE_RATE * 2 ** (-0.35 / 12)),
    )
    path = write_audio(tmp_path / "detuned.wav", np.concatenate([in_tune, detuned]), SAMPLE_RATE, "wav")
    with caplog.at_level(logging.DEBUG, logger="model.features"):
        result = _extract(
            path, max_seconds=DEFAULT_MAX_SECONDS, ffmpeg=None, block_frames=64
        )
    assert "second pass" in caplog.text
    assert_matches(result.values, reference_features(path))
    assert_sections_match(result, path)


@pytest.mark.parametrize("seconds", [1.05, 1.03, 1.0001])
def test_a_clip_shorter_than_one_frame_still_matches(tmp_path: Path, seconds: float) -> None:
    # 1103, 662 and 2 samples after the offset: the reflect padding is longer than the signal itself
    path = write_audio(tmp_path / "blip.wav", synth_song(seconds, sr=SAMPLE_RATE, seed=2), SAMPLE_RATE, "wav")
    result = extract_features(path)
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    means, variances = statistics(feature_matrices(y, sr))
    assert_matches(result.values, means)
    assert_matches(result.variances, variances)
    (section,) = result.sections
    assert_matches(section.values, means)


def test_ffmpeg_decoding_matches_librosa_load(song: np.ndarray, audio_dir: Path) -> None:
    # The ffmpeg route (offset cut on sample counts, channel-mean downmix, soxr) on a file librosa reads.
    path = write_audio(audio_dir / "decode.wav", song, 44100, "wav")
    blocks: list[np.ndarray] = []
    truncated = decode_module._decode_ffmpeg(str(path), blocks.append, 900.0, ffmpeg_executable())
    ours = np.concatenate(blocks)
    expected, _ = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    assert not truncated
    assert abs(len(ours) - len(expected)) <= 1
    n = min(len(ours), len(expected))
    assert np.max(np.abs(ours[:n] - expected[:n])) < 1e-4


@pytest.mark.parametrize("fmt", ["webm", "m4a"])
def test_lossy_youtube_formats_are_close_to_the_original(song: np.ndarray, audio_dir: Path, fmt: str) -> None:
    original = write_audio(audio_dir / "original.wav", song, 44100, "wav")
    path = write_audio(audio_dir / f"song.{fmt}", song, 44100, fmt)
    result = extract_features(path)
    reference = reference_features(original)
    # Lossy coding moves the spectrum a little; the point is that decoding, offset and levels are right.
    assert_matches(result.values[:6], reference[:6], rtol=0.05)
    # mfcc1 is the mean level of the log-mel; the codecs re-shape quiet high bands, so allow ~0.5 dB
    assert abs(result.values[6] - reference[6]) < 0.06 * abs(reference[6])
    assert result.seconds == pytest.approx(5.0, abs=0.06)


def test_configured_ffmpeg_is_used_and_path_is_not_needed(
    song: np.ndarray, audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_audio(audio_dir / "path.webm", song, 44100, "webm")
    monkeypatch.setenv("PATH", "")
    assert extract_features(path).values.shape == (26,)
    with pytest.raises(FileNotFoundError):
        extract_features(path, ffmpeg=str(audio_dir / "no-such-ffmpeg"))


def test_mel_picture_is_pooled_log_mel(song: np.ndarray, audio_dir: Path) -> None:
    path = write_audio(audio_dir / "mel.wav", song, 44100, "wav")
    mel_db = extract_features(path).mel_db
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, pad_mode=PAD_MODE)
    columns = min(512, mel.shape[1])
    groups = np.arange(mel.shape[1]) * columns // mel.shape[1]
    pooled = np.stack([mel[:, groups == g].mean(axis=1) for g in range(columns)], axis=1)
    assert mel_db.dtype == np.float32 and mel_db.shape == (128, columns)
    np.testing.assert_allclose(mel_db, librosa.power_to_db(pooled, ref=np.max), atol=1e-3)
    assert mel_db.max() == 0.0 and mel_db.min() >= -80.0


def test_long_input_pools_mel_into_512_columns(tmp_path: Path) -> None:
    path = write_audio(
        tmp_path / "long.flac", synth_song(14.0, sr=SAMPLE_RATE, channels=1), SAMPLE_RATE, "flac"
    )
    assert extract_features(path).mel_db.shape == (128, 512)


def test_as_dict_names_every_value(song: np.ndarray, audio_dir: Path) -> None:
    path = write_audio(audio_dir / "dict.wav", song, 44100, "wav")
    result = extract_features(path)
    as_dict = result.as_dict()
    assert list(as_dict) == list(FEATURE_NAMES)
    assert as_dict["rms"] == result.values[1]


# -- the cap ---------------------------------------------------------------------------------------------


def test_truncate_analyses_exactly_the_first_max_seconds(song: np.ndarray, audio_dir: Path) -> None:
    path = write_audio(audio_dir / "cap.mp3", song, 44100, "mp3")
    result = extract_features(path, max_seconds=2.0)
    assert result.truncated
    assert result.seconds == pytest.approx(2.0)
    assert_matches(result.values, reference_features(path, duration=2.0))


def test_truncate_through_ffmpeg_stops_and_reaps_the_child(song: np.ndarray, audio_dir: Path) -> None:
    path = write_audio(audio_dir / "cap.webm", song, 44100, "webm")
    result = extract_features(path, max_seconds=2.0)
    assert result.truncated
    assert result.seconds == pytest.approx(2.0)
    assert ffmpeg_children() == []


@pytest.mark.parametrize("fmt", ["wav", "webm"])
def test_under_the_cap_nothing_is_truncated(song: np.ndarray, audio_dir: Path, fmt: str) -> None:
    path = write_audio(audio_dir / f"long.{fmt}", song, 44100, fmt)
    assert not extract_features(path, max_seconds=10.0).truncated
    assert ffmpeg_children() == []


# -- bad input -------------------------------------------------------------------------------------------


def png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data",
    [b"this is a text file, not a song\n" * 40, png_bytes(), np.random.default_rng(1).bytes(30_000)],
    ids=["text", "png", "random"],
)
def test_not_audio(data: bytes, clean_tmp: Path, tmp_path: Path) -> None:
    with pytest.raises(NotAudioError, match=r"not an audio file|no audio"):
        extract_features(data)
    path = tmp_path / "upload.mp3"
    path.write_bytes(data)
    with pytest.raises(NotAudioError):
        extract_features(path)
    assert list(clean_tmp.iterdir()) == []
    assert ffmpeg_children() == []


def corrupt_cases(song: np.ndarray, directory: Path) -> dict[str, bytes]:
    flac = write_audio(directory / "c.flac", song, 44100, "flac").read_bytes()
    ogg = write_audio(directory / "c.ogg", song, 44100, "ogg").read_bytes()
    m4a = write_audio(directory / "c.m4a", song, 44100, "m4a").read_bytes()
    webm = write_audio(directory / "c.webm", song, 44100, "webm").read_bytes()
    garbage = np.random.default_rng(2).bytes
    return {
        "flac-truncated": flac[: len(flac) // 2],
        "ogg-garbled": ogg[:200] + garbage(len(ogg) - 200),
        "m4a-truncated": m4a[: len(m4a) // 2],  # the index (moov) is at the end
        "webm-cut-in-header": webm[:64],
    }


def test_corrupt(song: np.ndarray, audio_dir: Path, clean_tmp: Path) -> None:
    for name, data in corrupt_cases(song, audio_dir).items():
        with pytest.raises(CorruptAudioError, match="damaged") as info:
            extract_features(data)
        assert isinstance(info.value, AudioError), name
    assert list(clean_tmp.iterdir()) == []
    assert ffmpeg_children() == []


def test_non_finite_samples_are_corrupt(tmp_path: Path) -> None:
    y = synth_song(3.0, sr=SAMPLE_RATE, channels=1)
    y[SAMPLE_RATE * 2] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(CorruptAudioError, match="invalid"):
        extract_features(path)


def test_empty(tmp_path: Path, clean_tmp: Path) -> None:
    with pytest.raises(EmptyAudioError, match="empty"):
        extract_features(b"")
    empty = tmp_path / "empty.mp3"
    empty.touch()
    with pytest.raises(EmptyAudioError, match="empty"):
        extract_features(empty)
    no_frames = tmp_path / "no_frames.wav"
    sf.write(no_frames, np.zeros(0, np.float32), 44100)
    with pytest.raises(EmptyAudioError, match="no audio"):
        extract_features(no_frames)
    assert list(clean_tmp.iterdir()) == []


@pytest.mark.parametrize(("fmt", "seconds"), [("wav", 0.8), ("wav", 1.0), ("webm", 0.5)])
def test_too_short(tmp_path: Path, fmt: str, seconds: float) -> None:
    path = write_audio(tmp_path / f"short.{fmt}", synth_song(seconds, sr=44100), 44100, fmt)
    with pytest.raises(TooShortError, match="more than 1 s"):
        extract_features(path)


@pytest.mark.parametrize("fmt", ["wav", "webm"])
def test_silent(tmp_path: Path, fmt: str) -> None:
    path = write_audio(tmp_path / f"silence.{fmt}", np.zeros((44100 * 3, 2), np.float32), 44100, fmt)
    with pytest.raises(SilentAudioError, match="silent"):
        extract_features(path)


def test_quiet_audio_gives_finite_features(tmp_path: Path) -> None:
    y = np.zeros(SAMPLE_RATE * 3, np.float32)
    y[SAMPLE_RATE * 2] = 1e-30  # one subnormal-scale sample: every normalisation meets near-zero frames
    path = tmp_path / "quiet.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    values = extract_features(path).values
    assert np.all(np.isfinite(values))
    assert_matches(values, reference_features(path))


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no file"):
        extract_features(tmp_path / "nope.mp3")


# -- the shared real recordings --------------------------------------------------------------------------

REAL_FILES = sorted(p.name for p in AUDIO_DIR.glob("*") if p.suffix in (".ogg", ".mp3", ".wav"))


@pytest.mark.skipif(not AUDIO_DIR.is_dir(), reason=NO_DATA)
@pytest.mark.parametrize("name", REAL_FILES or ["(none)"])
def test_matches_reference_on_real_recordings(name: str) -> None:
    path = AUDIO_DIR / name
    result = extract_features(path)
    y, sr = librosa.load(path, sr=SAMPLE_RATE, offset=OFFSET_S)
    means, variances = statistics(feature_matrices(y, sr))
    assert_matches(result.values, means)
    assert_matches(result.variances, variances)
    assert_sections_match(result, path)
