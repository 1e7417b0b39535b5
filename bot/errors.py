"""Errors whose message is meant for the person who ran the command.

Three kinds, so that nothing our own side suffers is remembered as a song's outcome:

- :class:`VerdictError`: the song's own verdict (not audio, too long, a removed video); ``/album``
  remembers it as the track's outcome.
- :class:`OutageError`: it failed for now (workers offline, the database locked, a job past its time
  limit, a host refusing for now); a :class:`~sources.failures.TryAgainLater`, asked again next time.
- :class:`UserFacingError` itself: bad input or a refusal of the request (neither is remembered).
"""

from discord import app_commands

from sources.failures import TryAgainLater


class UserFacingError(app_commands.AppCommandError):
    """Bad input or a refusal; ``str(error)`` is shown to the user as it is.

    Subclassing ``AppCommandError`` makes the command tree hand it to ``on_error`` unwrapped.
    """


class VerdictError(UserFacingError):
    """What the song itself is (not audio, too long, too large, a private or removed video, no video
    found): asking again gives the same answer, so ``/album`` remembers it as the track's outcome."""


class OutageError(UserFacingError, TryAgainLater):
    """Our side, or a host, cannot do it right now; the same request may work later, so nothing
    remembers it as the song's outcome."""


class BusyError(OutageError):
    """Too many ratings are running; the user should try again shortly."""


def for_user(error: Exception) -> UserFacingError:
    """A source's or decoder's error (its message meant for the user) as the bot's error of its kind.

    Parameters
    ----------
    error : Exception
        A ``sources.youtube.SourceError`` or ``model.decode.AudioError``.

    Returns
    -------
    UserFacingError
        An :class:`OutageError` when ``error`` is a :class:`TryAgainLater`, else a :class:`VerdictError`;
        the same message either way.
    """
    return (OutageError if isinstance(error, TryAgainLater) else VerdictError)(str(error))
