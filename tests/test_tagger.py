"""The heard tags: the musicnn port (training.ears) against its original graph, and serving (model.tagger)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soxr

from model import MODEL_DIR
from model.decode import SAMPLE_RATE as DECODE_RATE
from model.features import extract_features
from model.tagger import (
    CARD_NAME,
    HOP,
    LICENSE_NAME,
    N_FRAMES,
    NETWORK,
    SAMPLE_RATE,
    Tagger,
    TaggerError,
    log_mel,
    patch_starts,
    tflite_name,
)
from tests.support.audio import synth_song, write_audio

REPO = Path(__file__).resolve().parents[1]
# The shared data sits beside the repository; NEEDLEBOT_SHARED_DATA points elsewhere (a git worktree).
AUDIO = Path(os.environ.get("NEEDLEBOT_SHARED_DATA", REPO.parent / "shared" / "data")) / "audio"
PARITY_RECORDINGS = ("Kevin_MacLeod_-_Vibe_Ace.ogg", "Karissa_Hobbs_-_Lets_Go_Fishin.ogg")


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The musicnn 0.1.0 wheel: $NEEDLEBOT_MUSICNN_WHEEL, `make model`'s copy, or pip downloads it."""
    from training.ears import WHEEL_VERSION, WheelError, find_wheel

    pytest.importorskip("tensorflow", reason="the parity test needs the training extra (TensorFlow)")
    source = Path(os.environ.get("NEEDLEBOT_MUSICNN_WHEEL", REPO / ".cache" / "musicnn"))
    try:
        return find_wheel(source)
    except WheelError:
        pass
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         f"musicnn=={WHEEL_VERSION}", "-d", str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"the musicnn wheel is not at {source} and pip could not download it")
    return find_wheel(source)


def test_port_matches_the_original_graph_and_exports_the_bundled_bytes(wheel: Path, tmp_path: Path) -> None:
    # In a child process: TensorFlow stays out of the test run's own memory. Real recordings' patches
    # through the TF1 graph, the Keras port, and the bundled flatbuffer; and a fresh export's sha256.
    recordings = [AUDIO / name for name in PARITY_RECORDINGS if (AUDIO / name).is_file()]
    if not recordings:
        pytest.skip(f"the shared recordings are not at {AUDIO}")
    patches = []
    for path in recordings:
        rows = log_mel(_decoded_16k(path))
        patches += [rows[s : s + N_FRAMES] for s in patch_starts(len(rows), 2)]
    np.save(tmp_path / "patches.npy", np.stack(patches))
    code = textwrap.dedent("""
        import json, sys, tempfile
        from pathlib import Path
        import numpy as np
        from model.scorer import sha256_file
        from model.tagger import NETWORK
        from training import ears
        wheel, patches, out = Path(sys.argv[1]), np.load(sys.argv[2]), Path(sys.argv[3])
        prefix = ears.extract_checkpoint(wheel, NETWORK, out)
        model = ears.build(ears.read_variables(prefix), 50)
        ears.export_tflite(model, out / "again.tflite")
        original = ears.original_tags(prefix, patches)
        print(json.dumps({"keras": np.asarray(model(patches, training=False)).tolist(),
                          "original": original.tolist(), "sha256": sha256_file(out / "again.tflite")}))
    """)
    args = [str(wheel), str(tmp_path / "patches.npy"), str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    original = np.array(result["original"])
    served = Tagger.load().probabilities(np.load(tmp_path / "patches.npy"))
    assert np.max(np.abs(np.array(result["keras"]) - original)) <= 1e-4
    assert np.max(np.abs(served - original)) <= 1e-4
    assert original.max() > 0.3  # real music: the network hears something, the comparison is not of zeros
    card = json.loads((MODEL_DIR / CARD_NAME).read_text())
    assert result["sha256"] == card["networks"][NETWORK]["sha256"]  # the export is deterministic


def _decoded_16k(path: Path) -> np.ndarray:
    from model.decode import decode

    blocks: list[np.ndarray] = []
    decode(path, blocks.append, max_seconds=60.0)
    return soxr.resample(np.concatenate(blocks), DECODE_RATE, SAMPLE_RATE, quality="HQ")


def test_serving_needs_no_tensorflow() -> None:
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from model.tagger import Tagger
        from tests.support.audio import synth_song
        tags = Tagger.load().tag(synth_song(12.0, sr=16000, seed=3, channels=1))
        print(json.dumps({"tags": tags, "heavy": sorted({"tensorflow", "keras"} & set(sys.modules))}))
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    probabilities = [p for _, p in result["tags"]]
    assert len(probabilities) == 50 and probabilities == sorted(probabilities, reverse=True)
    assert 0.0 <= probabilities[-1] and probabilities[0] <= 1.0


def test_front_end_is_librosas_mel_with_float16_power(tagger: Tagger) -> None:
    import librosa

    # Loud enough that 10000 * float16 power overflows float16: the log is taken in float32.
    y = synth_song(4.0, sr=SAMPLE_RATE, seed=4, channels=1)
    power = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=512, hop_length=HOP, n_mels=96,
                                           pad_mode="reflect").T  # fmt: skip
    assert np.max(power) * 10_000 > np.finfo(np.float16).max
    expected = np.log10(10_000 * power.astype(np.float16).astype(np.float32) + 1)
    got = log_mel(y)
    assert got.shape == expected.shape and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_patches_are_spread_over_the_song() -> None:
    assert patch_starts(10 * N_FRAMES + 5, None) == [i * N_FRAMES for i in range(10)]
    assert patch_starts(10 * N_FRAMES, 3) == [1 * N_FRAMES, 5 * N_FRAMES, 8 * N_FRAMES]  # middles of thirds
    assert patch_starts(2 * N_FRAMES, 8) == [0, N_FRAMES]
    assert patch_starts(N_FRAMES - 1, 8) == [0]


def test_tagging_the_features_spool_equals_tagging_the_whole_song(tagger: Tagger, tmp_path: Path) -> None:
    # The worker resamples only the sampled patches, read back from the spool; a song resampled whole,
    # then tagged, must hear the same (the cut points and the reflected ends are where this goes wrong).
    y = synth_song(40.0, sr=44100, seed=5)
    path = write_audio(tmp_path / "song.flac", y, 44100, "flac")
    features = extract_features(path, tagger=tagger)
    blocks: list[np.ndarray] = []
    from model.decode import decode

    decode(path, blocks.append, max_seconds=900.0)
    whole = tagger.tag(soxr.resample(np.concatenate(blocks), DECODE_RATE, SAMPLE_RATE, quality="HQ"))
    assert [t for t, _ in features.tags] == [t for t, _ in whole]
    np.testing.assert_allclose([p for _, p in features.tags], [p for _, p in whole], atol=1e-5)
    assert extract_features(path).tags == ()


def test_a_clip_shorter_than_a_patch_is_repeated(tagger: Tagger) -> None:
    clip = synth_song(1.2, sr=SAMPLE_RATE, seed=6, channels=1)
    repeated = np.resize(clip, (N_FRAMES - 1) * HOP)
    assert tagger.tag(clip) == tagger.tag(repeated, sample=None)


def test_a_tampered_flatbuffer_is_refused(tmp_path: Path) -> None:
    card = json.loads((MODEL_DIR / CARD_NAME).read_text())
    (tmp_path / CARD_NAME).write_text(json.dumps(card))
    data = bytearray((MODEL_DIR / tflite_name(NETWORK)).read_bytes())
    data[-100] ^= 1
    (tmp_path / tflite_name(NETWORK)).write_bytes(bytes(data))
    with pytest.raises(TaggerError, match="does not match its card"):
        Tagger.load(tmp_path)


def test_the_weights_ship_with_their_licence_and_card() -> None:
    card = json.loads((MODEL_DIR / CARD_NAME).read_text())
    licence = (MODEL_DIR / LICENSE_NAME).read_text()
    assert "Universitat Pompeu Fabra" in licence and "Permission to use, copy, modify" in licence
    assert card["source"]["licence"] == "ISC" and len(card["source"]["wheel_sha256"]) == 64
    assert card["front_end"]["n_fft"] == 512 and card["front_end"]["n_mels"] == 96
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {LICENSE_NAME, CARD_NAME} | {entry["file"] for entry in card["networks"].values()}
    assert shipped <= set(package_data["model"])
    for entry in card["networks"].values():
        assert len(entry["tags"]) == 50 and (MODEL_DIR / entry["file"]).is_file()
    assert {"rock", "Hip-Hop", "jazz", "punk"} <= set(card["networks"]["MSD_musicnn"]["tags"])


def test_ears_without_the_wheel_says_how_to_get_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from training.__main__ import main

    (tmp_path / "musicnn-0.1.0-py3-none-any.whl").write_bytes(b"not the wheel")
    assert main(["ears", "--wheel", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "pip download --no-deps musicnn==0.1.0" in capsys.readouterr().err
    assert main(["ears", "--wheel", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is not PyPI's musicnn 0.1.0 wheel" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
