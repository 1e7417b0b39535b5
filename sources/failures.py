"""The one way to say "this failed for now, try again later".

A failure that says nothing about what was asked for (a network error, a host refusing for now, our
workers offline, the database locked) is an instance of :class:`TryAgainLater`. Nothing may remember it as
the outcome of a song, a video or an album: the same request may work later. Everything else that fails
is a verdict on the thing itself (not audio, too long, a removed video) and may be remembered.
"""

from __future__ import annotations


class TryAgainLater(Exception):
    """Mixed into every error class that means "for now": ``isinstance(error, TryAgainLater)`` is the test.

    ``sources/`` imports nothing from ``bot/``, so its errors (a YouTube bot check, an unreachable
    MusicBrainz) and the bot's own (``bot.errors.OutageError``) share this base.
    """
