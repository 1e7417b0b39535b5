"""The rating picture: a real PNG of the intended size, deterministic, and robust to odd spectrograms."""

import io
from concurrent.futures import ThreadPoolExecutor

import matplotlib.image
import numpy as np
import pytest

from bot.pictures import HIGHLIGHT, render_rating_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DISTRIBUTION = (0.0, 0.01, 0.02, 0.04, 0.08, 0.14, 0.22, 0.25, 0.16, 0.06, 0.02)


def _mel(frames: int = 300, seed: int = 0) -> np.ndarray:
    """A plausible log-mel: louder at low bins, with a pulse in time; (128, frames) float32 dB <= 0."""
    rng = np.random.default_rng(seed)
    slope = np.linspace(0.0, -60.0, 128)[:, None]
    pulse = 10.0 * np.sin(np.arange(frames) / 7.0)[None, :]
    return np.clip(slope + pulse + rng.normal(0.0, 6.0, (128, frames)), -80.0, 0.0).astype(np.float32)


def _image(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def _highlight_rows(png: bytes) -> np.ndarray:
    """Pixel rows where the highlighted bar is drawn (right panel, below the panel title)."""
    rgb = _image(png)[:, :, :3]
    target = np.array([int(HIGHLIGHT[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    mask = np.all(np.abs(rgb - target) < 0.02, axis=2)
    mask[:70, :] = False  # the "7/10" panel title is highlighted too
    mask[:, :720] = False  # the spectrogram and the tick labels
    return np.nonzero(mask)[0]


def test_png_has_signature_plausible_size_and_intended_dimensions() -> None:
    png = render_rating_png(_mel(), DISTRIBUTION, 7, title="Some Artist - Some Song")
    assert png.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png) < 1_000_000
    assert _image(png).shape[:2] == (400, 1000)


def test_same_inputs_give_same_bytes() -> None:
    first = render_rating_png(_mel(), DISTRIBUTION, 7, title="x")
    assert render_rating_png(_mel(), DISTRIBUTION, 7, title="x") == first
    assert render_rating_png(_mel(seed=1), DISTRIBUTION, 7, title="x") != first


def test_concurrent_renders_do_not_interfere() -> None:
    # No pyplot global state: figures rendered side by side in threads equal a lone render.
    alone = render_rating_png(_mel(), DISTRIBUTION, 3)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: render_rating_png(_mel(), DISTRIBUTION, 3), range(3)))
    assert results == [alone] * 3


def test_highlighted_bar_moves_with_the_score() -> None:
    low = _highlight_rows(render_rating_png(_mel(), DISTRIBUTION, 2))
    high = _highlight_rows(render_rating_png(_mel(), DISTRIBUTION, 9))
    assert low.size > 50 and high.size > 50
    assert high.mean() < low.mean() - 100  # image rows grow downwards; score 9 sits near the top


@pytest.mark.parametrize(
    "mel",
    [
        np.full((128, 1), -12.0, np.float32),  # one frame
        np.zeros((128, 40), np.float32),  # flat: the max everywhere
        np.full((128, 40), -80.0, np.float32),  # near-silence at the floor
        np.full((128, 40), np.nan, np.float32),  # what an all-zero input can become
        _mel(512),
    ],
    ids=["one-frame", "flat-max", "flat-floor", "nan", "512-frames"],
)
def test_odd_spectrograms_render(mel: np.ndarray) -> None:
    png = render_rating_png(mel, DISTRIBUTION, 5)
    assert _image(png).shape[:2] == (400, 1000)


def test_all_zero_distribution_and_awkward_titles_render() -> None:
    # Mathtext-looking and non-Latin titles must be drawn literally, not parsed or rejected.
    for title in ("$\\notacommand{$ 50% off", "漢字 🎷 " * 40, "  \n "):
        png = render_rating_png(_mel(), [0.0] * 11, 1, title=title)
        assert png.startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("mel", "distribution", "score"),
    [
        (np.zeros((64, 10), np.float32), DISTRIBUTION, 5),
        (np.zeros((128,), np.float32), DISTRIBUTION, 5),
        (np.zeros((128, 0), np.float32), DISTRIBUTION, 5),
        (np.zeros((1, 128, 10), np.float32), DISTRIBUTION, 5),
        (_mel(), DISTRIBUTION[:10], 5),
        (_mel(), [*DISTRIBUTION[:10], -0.1], 5),
        (_mel(), [*DISTRIBUTION[:10], float("nan")], 5),
        (_mel(), DISTRIBUTION, 11),
        (_mel(), DISTRIBUTION, -1),
    ],
    ids=["64-mels", "1d", "no-frames", "3d", "10-probs", "negative", "nan-prob", "score-11", "score-neg"],
)
def test_wrong_inputs_raise_value_error(mel: np.ndarray, distribution, score: int) -> None:
    with pytest.raises(ValueError):
        render_rating_png(mel, distribution, score)
