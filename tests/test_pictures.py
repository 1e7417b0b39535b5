"""The rating picture: a real PNG of the intended size, deterministic, robust, and true to the score.

The agreement tests read the drawn data from the figure's artists (bar geometry, texts, lines); the layout
test reads the pixels of the PNG back, as a user sees it.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import matplotlib.image
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from bot import embeds
from bot.pictures import (
    BACKGROUND,
    MIN_OTHER_SHARE,
    OTHER_GENRES,
    evidence_rows,
    rating_figure,
    render_rating_png,
)
from bot.store import SongRecord
from model.calibration import calibrate
from model.features import OFFSET_S, SAMPLE_RATE, extract_features
from model.scorer import Rating, Scorer, SectionRating
from tests.support.audio import synth_song, write_audio

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
AUDIO_DIR = Path(__file__).parents[1].parent / "shared" / "data" / "audio"
GENRES = (("hiphop", 0.62), ("jazz", 0.2), ("rock", 0.03))
RATING = Rating(score=7, expected=6.5, distribution=(1 / 11,) * 11, genres=GENRES, genre_means=(6, 6.8, 6.4))
SECTIONS = tuple(SectionRating(1.0 + 30 * i, 31.0 + 30 * i, Rating(s, 6.0, (1 / 11,) * 11, (("jazz", 1.0),)))
                 for i, s in enumerate((5, 7, 8)))  # fmt: skip


def _mel(frames: int = 300, seed: int = 0) -> np.ndarray:
    """A plausible log-mel: louder at low bins, with a pulse in time; (128, frames) float32 dB <= 0."""
    rng = np.random.default_rng(seed)
    slope = np.linspace(0.0, -60.0, 128)[:, None]
    pulse = 10.0 * np.sin(np.arange(frames) / 7.0)[None, :]
    return np.clip(slope + pulse + rng.normal(0.0, 6.0, (128, frames)), -80.0, 0.0).astype(np.float32)


def _png(mel: np.ndarray | None = None, rating: Rating = RATING, sections=SECTIONS, title="x") -> bytes:
    mel = _mel() if mel is None else mel
    return render_rating_png(mel, rating, sections, start_s=1.0, end_s=91.0, title=title)


def _drawn(fig: Figure) -> Figure:
    """``fig`` drawn on an Agg canvas, so tick labels and text extents are settled."""
    FigureCanvasAgg(fig).draw()
    return fig


def _image(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def _axes(fig: Figure, label: str) -> Axes | None:
    found = [ax for ax in fig.axes if ax.get_label() == label]
    return found[0] if found else None


def _bars(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_png_has_signature_plausible_size_and_intended_dimensions() -> None:
    png = _png(title="Some Artist - Some Song")
    assert png.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png) < 1_000_000
    assert _image(png).shape[:2] == (450, 1000)


def test_same_inputs_give_same_bytes() -> None:
    first = _png()
    assert _png() == first
    assert _png(_mel(seed=1)) != first


def test_concurrent_renders_do_not_interfere() -> None:
    # No pyplot global state: figures rendered side by side in threads equal a lone render.
    alone = _png()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: _png(), range(3)))
    assert results == [alone] * 3


def test_time_axis_reads_m_ss_and_pitch_axis_hz() -> None:
    fig = _drawn(rating_figure(_mel(), RATING, SECTIONS, start_s=1.0, end_s=91.0))
    timeline = _axes(fig, "timeline")
    labels = [t.get_text() for t in timeline.get_xticklabels() if t.get_text()]
    assert labels and all(":" in label and label.split(":")[1].isdigit() for label in labels)
    assert "1:00" in labels
    spectrogram = _axes(fig, "spectrogram")
    pitch = [t.get_text() for t in spectrogram.get_yticklabels()]
    assert "100 Hz" in pitch and "1 kHz" in pitch and "10 kHz" in pitch
    # 1 kHz sits where librosa's mel filter bank puts it: between the filters centred around 1000 Hz
    centres = librosa.mel_frequencies(128 + 2, fmin=0.0, fmax=SAMPLE_RATE / 2)[1:-1]
    row = float(np.interp(1000.0, centres, np.arange(128))) + 0.5
    tick = spectrogram.get_yticks()[pitch.index("1 kHz")]
    assert tick == pytest.approx(row, abs=0.05)


def test_titles_draw_no_missing_glyphs(recwarn: pytest.WarningsRecorder) -> None:
    # Emoji and scripts no installed font has are dropped, never drawn as boxes (matplotlib warns then).
    for title in (
        "$\\notacommand{$ 50% off",
        "漢字 🎷 " * 40,
        "  \n ",
        "Björk – Jóga ✨" * 5,
        "宇多田ヒカル - First Love",
    ):
        fig = _drawn(rating_figure(_mel(), RATING, SECTIONS, start_s=1.0, end_s=91.0, title=title))
        texts = [t.get_text() for t in fig.texts if t.get_gid() != "score"]
        if title.startswith("宇"):  # no CJK font here: what is left starts with the title, not "- "
            assert texts == ["First Love"]
        if title.startswith("Bj"):
            assert texts[0].startswith("Björk – Jóga") and texts[0].endswith("…")
        if title.startswith("$"):
            assert texts == ["$\\notacommand{$ 50% off"]  # drawn literally, not parsed as mathtext
    assert not [w for w in recwarn if "missing from font" in str(w.message)]


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
    assert _image(_png(mel)).shape[:2] == (450, 1000)


def test_a_rating_without_genres_or_genre_means_renders() -> None:
    bare = Rating(3, 5.0, (1 / 11,) * 11, ())
    assert _png(rating=bare, sections=()).startswith(PNG_SIGNATURE)
    old = Rating(3, 5.0, (1 / 11,) * 11, (("jazz", 0.9),))  # cached before genre means were kept
    assert evidence_rows(old) == [("jazz", 0.9), (OTHER_GENRES, pytest.approx(0.1))]
    assert _png(rating=old).startswith(PNG_SIGNATURE)


# -- the layout, read back from the pixels --------------------------------------------------------------

EDGE_PX = 8  # this many rows and columns along every edge hold only background


def _rating(score: int, genres: tuple[tuple[str, float], ...] = GENRES) -> Rating:
    return Rating(score, 6.5, (1 / 11,) * 11, genres, (6.0,) * len(genres))


LONG_WORDS = (("a genre name far longer than the panel is wide, as heard tags may be", 0.7),
              ("electronic", 0.3))  # fmt: skip
LAYOUTS = {
    "no-title": (_rating(7), SECTIONS, None),
    "no-title-10": (_rating(10), SECTIONS, None),
    "title-1": (_rating(1), SECTIONS, "Some Artist - Some Song"),
    "title-10-no-timeline": (_rating(10), (), "Some Artist - Some Song"),
    "no-title-no-timeline": (_rating(4), (), None),
    "long-title": (_rating(10), SECTIONS, "W" * 200),
    "cjk-emoji": (_rating(10), (), "宇多田ヒカル - First Love 🎷🎷 " + "漢字" * 60),
    "arabic": (_rating(1), SECTIONS, "فيروز - نسم علينا الهوى ✨ " * 4),
    "no-genres": (Rating(10, 6.5, (1 / 11,) * 11, ()), SECTIONS, "x"),
    "long-panel-words": (_rating(10, LONG_WORDS), SECTIONS, "Ünïcödé – “quoted” title"),
}


@pytest.mark.parametrize(("rating", "sections", "title"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_everything_drawn_lies_inside_the_canvas_with_a_margin(
    rating: Rating, sections: tuple[SectionRating, ...], title: str | None
) -> None:
    # Independent of what the panel says: only pixels and the score's box are read.
    image = _image(_png(rating=rating, sections=sections, title=title))[:, :, :3]
    drawn = np.abs(image - np.array(to_rgb(BACKGROUND), np.float32)).max(axis=2) > 1 / 255
    rows, cols = np.nonzero(drawn)
    height, width = drawn.shape
    assert rows.min() >= EDGE_PX and cols.min() >= EDGE_PX, (rows.min(), cols.min())
    assert rows.max() < height - EDGE_PX and cols.max() < width - EDGE_PX, (rows.max(), cols.max())

    fig = _drawn(rating_figure(_mel(), rating, sections, start_s=1.0, end_s=91.0, title=title))
    (score,) = fig.findobj(lambda artist: artist.get_gid() == "score")
    assert score.get_text() == f"{rating.score}/10"
    box = score.get_window_extent()
    assert box.x0 >= EDGE_PX and box.y0 >= EDGE_PX, box
    assert box.x1 <= fig.bbox.x1 - EDGE_PX and box.y1 <= fig.bbox.y1 - EDGE_PX, box
    # The score's box holds the score's pixels: its own top rows are drawn (it is not hidden or elsewhere).
    top, bottom = int(fig.bbox.y1 - box.y1), int(fig.bbox.y1 - box.y0)
    assert drawn[top:bottom, int(box.x0) : int(box.x1)].any()


@pytest.mark.parametrize(
    ("mel", "rating", "span"),
    [
        (np.zeros((64, 10), np.float32), RATING, (1.0, 91.0)),
        (np.zeros((128,), np.float32), RATING, (1.0, 91.0)),
        (np.zeros((128, 0), np.float32), RATING, (1.0, 91.0)),
        (np.zeros((1, 128, 10), np.float32), RATING, (1.0, 91.0)),
        (_mel(), Rating(11, 6.0, (1 / 11,) * 11, ()), (1.0, 91.0)),
        (_mel(), Rating(0, 6.0, (1 / 11,) * 11, ()), (1.0, 91.0)),
        (_mel(), RATING, (5.0, 5.0)),
        (_mel(), RATING, (1.0, float("nan"))),
    ],
    ids=["64-mels", "1d", "no-frames", "3d", "score-11", "score-0", "empty-span", "nan-span"],
)
def test_wrong_inputs_raise_value_error(mel: np.ndarray, rating: Rating, span: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        render_rating_png(mel, rating, SECTIONS, start_s=span[0], end_s=span[1])


# -- the picture and the text agree with the score, for many real inputs ---------------------------------


def _inputs(directory: Path) -> dict[str, Path]:
    t = np.arange(int(4.0 * SAMPLE_RATE)) / SAMPLE_RATE
    sweep = 0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    made = {
        "tone-440": (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "sweep": sweep.astype(np.float32),
        "noise-75s": 0.2 * np.random.default_rng(0).standard_normal(75 * SAMPLE_RATE).astype(np.float32),
        "song-65s": synth_song(65.0, sr=SAMPLE_RATE, seed=4, channels=1),
        "clip-0.3s": synth_song(1.3, sr=SAMPLE_RATE, seed=5, channels=1),
    }
    paths = {name: write_audio(directory / f"{name}.wav", y, SAMPLE_RATE, "wav") for name, y in made.items()}
    if AUDIO_DIR.is_dir():
        paths.update({p.name: p for p in sorted(AUDIO_DIR.glob("*.ogg"))})
    return paths


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.load()


def test_picture_and_text_agree_with_the_score_for_many_inputs(
    scorer: Scorer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    thresholds = scorer.card["calibration"]["thresholds"]
    inputs = _inputs(tmp_path_factory.mktemp("inputs"))
    assert len(inputs) >= 5
    with_timeline = 0
    for name, path in inputs.items():
        features = extract_features(path)
        rating = scorer.rate(features.values, features.variances)
        sections = scorer.rate_sections(features.sections)
        end_s = OFFSET_S + features.seconds
        fig = rating_figure(features.mel_db, rating, sections, start_s=OFFSET_S, end_s=end_s, title=name)

        # The one score drawn is the rating's.
        (score,) = fig.findobj(lambda artist: artist.get_gid() == "score")
        assert score.get_text() == f"{rating.score}/10", name
        evidence = _axes(fig, "evidence")
        drawn_texts = [t.get_text() for t in evidence.texts]
        all_texts = [t.get_text() for t in fig.findobj(Text)]
        assert sum(text.endswith("/10") for text in all_texts) == 1, name
        assert int(calibrate(np.array([rating.expected]), np.array(thresholds))[0]) == rating.score

        # The evidence: one bar per genre row, as long as its probability, and its name and percentage;
        # no other number, so nothing in the panel reads as a score beside the headline (a genre mean
        # near 6 drawn beside a 9/10 would).
        rows = evidence_rows(rating)
        assert [bar.get_width() for bar in _bars(evidence)] == pytest.approx([p for _, p in rows]), name
        assert sum(p for _, p in rows) == pytest.approx(1.0, abs=MIN_OTHER_SHARE), name
        assert sorted(drawn_texts) == sorted(
            ["sounds like", *[g for g, _ in rows], *[f"{p:.0%}" for _, p in rows]]
        )

        # The timeline: present for two sections or more (every song of a minute), bars spanning each
        # section's time and as high as its score, and the song's score as the dashed line.
        timeline = _axes(fig, "timeline")
        if features.seconds >= 60.0:
            assert timeline is not None, name
        if timeline is None:
            assert len(sections) == 1, name
        else:
            with_timeline += 1
            bars = _bars(timeline)
            assert [b.get_height() for b in bars] == [s.rating.score for s in sections], name
            assert [b.get_x() for b in bars] == pytest.approx([s.start_s for s in sections]), name
            assert [b.get_x() + b.get_width() for b in bars] == pytest.approx([s.end_s for s in sections])
            (line,) = [ln for ln in timeline.lines if ln.get_gid() == "song-score"]
            assert set(line.get_ydata()) == {rating.score}, name
            assert timeline.get_xlim() == pytest.approx((OFFSET_S, end_s)), name
        spectrogram = _axes(fig, "spectrogram")
        assert spectrogram.images[0].get_extent()[:2] == pytest.approx([OFFSET_S, end_s]), name

        # The reply's text says the same: the score, and the top genre with its probability.
        song = SongRecord(name, name, None, rating, features.seconds, False, b"", sections)
        embed = embeds.rating_embed(song, cached=False, picture="rating.png", thresholds=thresholds)
        assert embed.description.startswith(f"# {rating.score}/10\n"), name
        top_genre, top_p = rows[0]
        assert embed.fields[0].value.startswith(f"**{top_genre}** to me ({top_p:.0%})"), name
        # Fantano's genre mean is said only where it agrees with the score to within a point (issue 16).
        top_mean = rating.genre_means[0]
        said = f"a genre Melon averages {top_mean:.1f} on" in embed.fields[0].value
        assert said == (abs(top_mean - rating.score) < 1), name
    assert with_timeline >= 2
