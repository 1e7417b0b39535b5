"""The rating picture: the song's spectrogram over its section scores, beside the score and the genres heard.

Left, the mel spectrogram (time in m:ss, pitch in Hz) and under it, on the same time axis, the score of
each ~30-second section (songs with two sections or more, i.e. from 40 s; every song of a minute has
them), with the song's own score as a dashed line. Right, the song's score and under it the genres heard,
with their probabilities (the rest as one "other genres" row). Fantano's mean per genre is not drawn:
those means all lie near 6-7 while the calibrated score spreads that band over 1-10, so "pop · avg 6.2"
beside a 5/10 would read as a reason that contradicts the score. No distribution over scores is drawn:
the model's raw one is a mixture of Fantano's per-genre histograms whose tallest bar is 7 for nearly
every input.

Layout: every element lies at least MARGIN_PX inside the canvas, whatever the title (none, long, or in a
script no installed font draws), the score's width or the panel's words; the score and the title sit
in a header above the axes, placed in pixels from the top edge.

Pure and synchronous; it runs inside an audio worker process, so it never imports discord and never
touches pyplot's global figure registry (each call builds its own ``Figure`` on its own Agg canvas).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

import librosa
import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MultipleLocator

from model.features import N_MELS, SAMPLE_RATE
from model.scorer import GENRE_MIN_SHARE, N_SCORES, Rating, SectionRating, genre_display_name
from sources.text import clip, clock, one_line

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 4.5, 100
WIDTH_PX, HEIGHT_PX = round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI)  # 1000 x 450
# The layout, in pixels from the canvas's edges. Nothing is drawn within MARGIN_PX of an edge: the header
# (title, score) hangs from it, and the axes leave room for their labels (pitch ticks left of LEFT_PX,
# time ticks below BOTTOM_PX, "what I heard" and "sounds like" above the axes' tops).
MARGIN_PX = 14
LEFT_PX, BOTTOM_PX = 60, 45
SPECTROGRAM_RIGHT_PX, EVIDENCE_LEFT_PX = 650, 735
SPECTROGRAM_TOP_PX = {False: 40, True: 64}  # without and with a title line above it
EVIDENCE_TOP_PX = 68  # below the score and "sounds like"
DB_FLOOR = -80.0  # dB below the loudest bin; quieter bins all render as black

BACKGROUND = "#2b2d31"  # Discord's dark-theme embed background, so the picture blends in
PANEL = "#1e1f22"
TEXT = "#dbdee1"
MUTED = "#80848e"
BAR = "#4e5058"
HIGHLIGHT = "#f0b232"
SCORE_COLOURS = colormaps["RdYlGn"]  # section score 1 (red) .. 10 (green)
TITLE_CHARS = 90
TITLE_SEPARATORS = " -–—|·:/,"
TIME_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600)
MIN_LABEL_PX = 14  # a timeline bar narrower than this gets no number
PITCH_TICKS_HZ = (100, 500, 1000, 2000, 5000, 10000)
OTHER_GENRES = "other genres"
MIN_OTHER_SHARE = 0.005  # a smaller remainder is not worth a row
# Fonts tried in order for every text; characters none of them has are dropped (never drawn as boxes).
FONT_PREFERENCE = ("DejaVu Sans", "Noto Sans", "Noto Sans CJK JP", "Noto Sans Symbols 2", "Noto Emoji")


def render_rating_png(
    mel_db: np.ndarray,
    rating: Rating,
    sections: Sequence[SectionRating] = (),
    *,
    start_s: float,
    end_s: float,
    title: str | None = None,
) -> bytes:
    """The reply's picture as PNG bytes; see :func:`rating_figure` for the parameters."""
    fig = rating_figure(mel_db, rating, sections, start_s=start_s, end_s=end_s, title=title)
    buf = io.BytesIO()
    # No "Software" chunk: the same inputs then give the same bytes across matplotlib patch versions.
    FigureCanvasAgg(fig).print_png(buf, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()


def rating_figure(
    mel_db: np.ndarray,
    rating: Rating,
    sections: Sequence[SectionRating] = (),
    *,
    start_s: float,
    end_s: float,
    title: str | None = None,
) -> Figure:
    """Build the rating picture (1000 x 450 px at its DPI).

    Parameters
    ----------
    mel_db : np.ndarray
        Log-mel spectrogram, shape (128, T) with T >= 1, in dB relative to the loudest bin (values <= 0).
    rating : Rating
        The song's rating: its score is the one shown, its genres the evidence.
    sections : Sequence[SectionRating]
        The song's sections, rated one by one; drawn as a timeline when there are two or more.
    start_s, end_s : float
        Where the analysed audio starts and ends in the file, in seconds (the spectrogram's time span).
    title : str, optional
        Shown above the picture (the song title), clipped to one line.

    Returns
    -------
    Figure
        Its axes are labelled "spectrogram", "timeline" (when drawn) and "evidence"; the score is the
        figure text with gid "score", so tests can read what is drawn.

    Raises
    ------
    ValueError
        When a shape, the score or the time span is out of range.
    """
    mel = _checked_mel(mel_db)
    if not 1 <= rating.score <= N_SCORES - 1:
        raise ValueError(f"score must be an integer 1..10, got {rating.score!r}")
    if not (np.isfinite(start_s) and np.isfinite(end_s) and end_s > start_s):
        raise ValueError(f"the time span must be finite and not empty, got {start_s}..{end_s}")

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BACKGROUND)
    fonts = _fonts()
    # What is left of a title once undrawable characters go can start with a separator ("- First Love").
    clean_title = _drawable(clip(one_line(title or ""), TITLE_CHARS), fonts).strip(TITLE_SEPARATORS)
    timeline = len(sections) >= 2
    top_px = SPECTROGRAM_TOP_PX[bool(clean_title)]
    bottom = BOTTOM_PX / HEIGHT_PX
    grid = fig.add_gridspec(2 if timeline else 1, 1, height_ratios=(4, 1) if timeline else None,
                            left=LEFT_PX / WIDTH_PX, right=SPECTROGRAM_RIGHT_PX / WIDTH_PX, bottom=bottom,
                            top=1 - top_px / HEIGHT_PX, hspace=0.08)  # fmt: skip
    spectrogram = fig.add_subplot(grid[0, 0], label="spectrogram")
    _draw_spectrogram(spectrogram, mel, start_s, end_s)
    if timeline:
        strip = fig.add_subplot(grid[1, 0], sharex=spectrogram, label="timeline")
        _draw_timeline(strip, sections, rating.score, fonts)
        spectrogram.tick_params(labelbottom=False)
    left, right, top = EVIDENCE_LEFT_PX / WIDTH_PX, 1 - MARGIN_PX / WIDTH_PX, 1 - EVIDENCE_TOP_PX / HEIGHT_PX
    evidence = fig.add_axes((left, bottom, right - left, top - bottom), label="evidence")
    _draw_evidence(evidence, rating, fonts)
    header_y = 1 - MARGIN_PX / HEIGHT_PX  # the header's texts hang from here (va="top")
    fig.text(left, header_y, f"{rating.score}/10", color=HIGHLIGHT, fontsize=20,
             fontweight="bold", va="top", ha="left", gid="score", family=fonts)  # fmt: skip
    if clean_title:
        text = fig.text(LEFT_PX / WIDTH_PX, header_y, clean_title, color=TEXT, fontsize=13, fontweight="bold",
                        va="top", ha="left", parse_math=False, family=fonts)  # fmt: skip
        _fit(text, SPECTROGRAM_RIGHT_PX - LEFT_PX)
    return fig


def _fit(text: Text, max_px: float) -> None:
    """Shorten ``text`` (ending it with an ellipsis) until it is at most ``max_px`` wide."""
    renderer = FigureCanvasAgg(text.figure).get_renderer()
    full = text.get_text()
    low, high = 0, len(full)  # the longest prefix that fits lies in [low, high]
    if text.get_window_extent(renderer).width <= max_px:
        return
    while low < high:
        mid = (low + high + 1) // 2
        text.set_text(full[:mid].rstrip() + "…")
        if text.get_window_extent(renderer).width <= max_px:
            low = mid
        else:
            high = mid - 1
    text.set_text(full[:low].rstrip() + "…")


def evidence_rows(rating: Rating) -> list[tuple[str, float]]:
    """The genre rows drawn as evidence: (display name, probability).

    The top genre and any other above GENRE_MIN_SHARE, then the remaining probability as one
    "other genres" row, so that the rows' probabilities add up to 1 (to within MIN_OTHER_SHARE).
    """
    rows = [(genre_display_name(label), p) for i, (label, p) in enumerate(rating.genres)
            if i == 0 or p >= GENRE_MIN_SHARE]  # fmt: skip
    rest = 1.0 - sum(p for _, p in rows)
    if rows and rest >= MIN_OTHER_SHARE:
        rows.append((OTHER_GENRES, rest))
    return rows


def _checked_mel(mel_db: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel_db, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != N_MELS or mel.shape[1] < 1:
        raise ValueError(f"mel_db must have shape ({N_MELS}, T) with T >= 1, got {mel.shape}")
    # NaN (e.g. from an all-zero input) would draw as holes; treat it as the floor.
    return np.nan_to_num(mel, nan=DB_FLOOR, posinf=0.0, neginf=DB_FLOOR)


@cache
def _fonts() -> tuple[str, ...]:
    """The installed families of FONT_PREFERENCE, in order (matplotlib falls back along the list)."""
    found = []
    for family in FONT_PREFERENCE:
        try:
            font_manager.findfont(family, fallback_to_default=False)
        except ValueError:
            continue
        found.append(family)
    return tuple(found) or ("DejaVu Sans",)


@cache
def _charmap(fonts: tuple[str, ...]) -> frozenset[int]:
    """Code points some font in ``fonts`` can draw."""
    codes: set[int] = set()
    for family in fonts:
        codes.update(FT2Font(font_manager.findfont(family)).get_charmap())
    return frozenset(codes)


def _drawable(text: str, fonts: tuple[str, ...]) -> str:
    """``text`` without the characters no font can draw (emoji, scripts with no font installed)."""
    charmap = _charmap(fonts)
    return " ".join("".join(c for c in text if ord(c) in charmap or c.isspace()).split())


def _mel_row(hz: float) -> float:
    """Where a frequency sits on the spectrogram's y axis (row i spans [i, i + 1]).

    librosa's mel filter i peaks at the (i + 1)-th of n_mels + 2 points evenly spaced in mel from 0 Hz
    to the Nyquist frequency.
    """
    top = librosa.hz_to_mel(SAMPLE_RATE / 2)
    return float(librosa.hz_to_mel(hz) / top * (N_MELS + 1) - 0.5)


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def _draw_spectrogram(ax: Axes, mel: np.ndarray, start_s: float, end_s: float) -> None:
    ax.set_facecolor(PANEL)
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=DB_FLOOR, vmax=0.0,
              interpolation="nearest", extent=(start_s, end_s, 0.0, float(N_MELS)))  # fmt: skip
    _time_axis(ax, end_s - start_s)
    ax.set_yticks([_mel_row(hz) for hz in PITCH_TICKS_HZ], labels=[_hz_label(hz) for hz in PITCH_TICKS_HZ])
    ax.set_title("what I heard", color=MUTED, fontsize=10, loc="left")
    _style_axes(ax)


def _time_axis(ax: Axes, span_s: float) -> None:
    """Ticks every TIME_STEPS_S step that leaves at most 7 of them over ``span_s``, read as m:ss."""
    step = next((s for s in TIME_STEPS_S if span_s / s <= 7), TIME_STEPS_S[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(clock))


def _draw_timeline(ax: Axes, sections: Sequence[SectionRating], score: int, fonts: tuple[str, ...]) -> None:
    """One bar per section, as high as its score, coloured by it; the song's score as a dashed line."""
    ax.set_facecolor(PANEL)
    starts = np.array([s.start_s for s in sections])
    widths = np.array([s.end_s - s.start_s for s in sections])
    scores = np.array([s.rating.score for s in sections])
    ax.bar(starts, scores, width=widths, align="edge", color=SCORE_COLOURS((scores - 1) / 9),
           edgecolor=PANEL, linewidth=1.5)  # fmt: skip
    px_per_s = ax.get_position().width * WIDTH_PX / (sections[-1].end_s - starts[0])
    for start, width, value in zip(starts, widths, scores, strict=True):
        if width * px_per_s < MIN_LABEL_PX:  # long songs: too many sections to number each
            continue
        ax.text(start + width / 2, value - 0.6, str(value), color=PANEL, fontsize=8, fontweight="bold",
                ha="center", va="top", family=fonts)  # fmt: skip
    ax.axhline(score, color=HIGHLIGHT, linestyle="--", linewidth=1.2, gid="song-score", zorder=3)
    ax.set_ylim(0.0, N_SCORES - 0.5)
    ax.set_yticks([score], labels=[str(score)])
    ax.get_yticklabels()[0].set(color=HIGHLIGHT, fontweight="bold")
    ax.set_ylabel("by part", color=MUTED, fontsize=8)
    _style_axes(ax)


def _draw_evidence(ax: Axes, rating: Rating, fonts: tuple[str, ...]) -> None:
    """The genres heard as bars as long as their probabilities; the score itself is in the header."""
    ax.set_facecolor(BACKGROUND)
    rows = evidence_rows(rating)
    ax.set_xticks([])
    ax.set_yticks([])
    _style_axes(ax)
    if not rows:
        return
    probs = np.array([p for _, p in rows])
    positions = np.arange(len(rows))[::-1]  # best first, from the top
    width = max(float(probs.max()), 1e-9) / 0.5  # the longest bar takes half the panel, text the rest
    ax.barh(positions, probs, color=[HIGHLIGHT, *[BAR] * (len(rows) - 1)], height=0.6)
    panel_px = ax.get_position().width * WIDTH_PX
    for y, (name, p) in zip(positions, rows, strict=True):
        label = ax.text(0.0, y + 0.42, _drawable(name, fonts), color=TEXT, fontsize=9, va="bottom",
                        family=fonts)  # fmt: skip
        _fit(label, panel_px)  # a long name (a heard tag, say) ends in "…" rather than past the margin
        ax.text(p + 0.02 * width, y, f"{p:.0%}", color=MUTED, fontsize=8, va="center", family=fonts)
    ax.set_xlim(0.0, width)
    ax.set_ylim(-0.6, len(rows) - 0.1)
    ax.text(0.0, 1.02, "sounds like", color=MUTED, fontsize=9, transform=ax.transAxes, va="bottom")


def _style_axes(ax: Axes) -> None:
    ax.tick_params(colors=MUTED, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
