"""Plain-text helpers shared by the replies, the picture and the sources' own messages."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut.

    Parameters
    ----------
    text : str
    limit : int
        Maximum length in characters (Discord counts characters, not bytes).

    Returns
    -------
    str
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) as one space, trimmed."""
    return " ".join(text.split())


def clock(seconds: float, _position: object = None) -> str:
    """m:ss, e.g. 3:05 (``_position``: matplotlib's tick formatters pass one).

    Parameters
    ----------
    seconds : float
        Non-negative seconds, rounded to the nearest second.

    Returns
    -------
    str
    """
    minutes, secs = divmod(round(float(seconds)), 60)
    return f"{minutes}:{secs:02d}"
