"""The rating picture: the song's mel spectrogram beside the score distribution, as PNG bytes.

Pure and synchronous; it runs inside an audio worker process, so it never imports discord and never
touches pyplot's global figure registry (each call builds its own ``Figure`` on its own Agg canvas).
"""

import io
import warnings
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model.scorer import N_SCORES

N_MELS = 128
WIDTH_IN, HEIGHT_IN, DPI = 10.0, 4.0, 100  # 1000 x 400 px
DB_FLOOR = -80.0  # dB below the loudest bin; quieter bins all render as black

BACKGROUND = "#2b2d31"  # Discord's dark-theme embed background, so the picture blends in
PANEL = "#1e1f22"
TEXT = "#dbdee1"
MUTED = "#80848e"
BAR = "#4e5058"
HIGHLIGHT = "#f0b232"
TITLE_CHARS = 90


def render_rating_png(
    mel_db: np.ndarray, distribution: Sequence[float], score: int, *, title: str | None = None
) -> bytes:
    """Render the spectrogram and the score distribution side by side.

    Parameters
    ----------
    mel_db : np.ndarray
        Log-mel spectrogram, shape (128, T) with T >= 1, in dB relative to the loudest bin (values <= 0).
    distribution : Sequence[float]
        11 probabilities for the scores 0..10.
    score : int
        The chosen score (0..10), highlighted among the bars.
    title : str, optional
        Shown above the picture (the song title), clipped to one line.

    Returns
    -------
    bytes
        A 1000 x 400 px PNG.

    Raises
    ------
    ValueError
        When a shape or the score is out of range.
    """
    mel = _checked_mel(mel_db)
    probs = _checked_distribution(distribution)
    if not 0 <= int(score) <= 10 or int(score) != score:
        raise ValueError(f"score must be an integer 0..10, got {score!r}")

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BACKGROUND)
    canvas = FigureCanvasAgg(fig)
    top = 0.84 if title else 0.92
    grid = fig.add_gridspec(1, 2, width_ratios=(7, 3), left=0.04, right=0.985, bottom=0.1, top=top,
                            wspace=0.1)
    _draw_spectrogram(fig.add_subplot(grid[0, 0]), mel)
    _draw_distribution(fig.add_subplot(grid[0, 1]), probs, int(score))
    if title:
        fig.text(0.04, 0.93, _one_line(title), color=TEXT, fontsize=13, fontweight="bold",
                 va="center", ha="left", parse_math=False)

    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Titles come from users (emoji, CJK); a missing glyph draws as a box, which is fine, not a warning.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        # No "Software" chunk: the same inputs then give the same bytes across matplotlib patch versions.
        canvas.print_png(buf, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()


def _checked_mel(mel_db: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel_db, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != N_MELS or mel.shape[1] < 1:
        raise ValueError(f"mel_db must have shape ({N_MELS}, T) with T >= 1, got {mel.shape}")
    # NaN (e.g. from an all-zero input) would draw as holes; treat it as the floor.
    return np.nan_to_num(mel, nan=DB_FLOOR, posinf=0.0, neginf=DB_FLOOR)


def _checked_distribution(distribution: Sequence[float]) -> np.ndarray:
    probs = np.asarray(distribution, dtype=np.float64)
    if probs.shape != (N_SCORES,):
        raise ValueError(f"distribution must hold {N_SCORES} probabilities (scores 0..10), got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("distribution must hold finite, non-negative probabilities")
    return probs


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TITLE_CHARS else flat[: TITLE_CHARS - 1] + "…"


def _draw_spectrogram(ax, mel: np.ndarray) -> None:
    ax.set_facecolor(PANEL)
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=DB_FLOOR, vmax=0.0,
              interpolation="nearest", extent=(0.0, 100.0, 0.0, float(N_MELS)))
    ax.set_xticks([0, 25, 50, 75, 100], labels=["0%", "25%", "50%", "75%", "100%"])
    ax.set_yticks([])
    ax.set_ylabel("low  ←  pitch  →  high", color=MUTED, fontsize=9)
    ax.set_title("what I heard", color=MUTED, fontsize=10, loc="left")
    _style_axes(ax)


def _draw_distribution(ax, probs: np.ndarray, score: int) -> None:
    scores = np.arange(N_SCORES)
    colours = [HIGHLIGHT if s == score else BAR for s in scores]
    ax.set_facecolor(BACKGROUND)
    ax.barh(scores, probs, color=colours, height=0.75)
    ticks = ax.set_yticks(scores, labels=[str(s) for s in scores])
    ticks[score].label1.set(color=HIGHLIGHT, fontweight="bold")
    ax.set_ylim(-0.6, N_SCORES - 0.4)
    peak = float(probs.max()) if probs.max() > 0 else 1.0
    ax.set_xlim(0.0, peak * 1.35)  # room for the label beside the highlighted bar
    ax.set_xticks([])
    ax.text(probs[score] + peak * 0.03, score, f"{probs[score]:.0%}", color=HIGHLIGHT, va="center",
            fontsize=9, fontweight="bold")
    ax.set_title(f"{score}/10", color=HIGHLIGHT, fontsize=14, fontweight="bold", loc="left")
    _style_axes(ax)
    ax.tick_params(axis="y", length=0)


def _style_axes(ax) -> None:
    ax.tick_params(colors=MUTED, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
