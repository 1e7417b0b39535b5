"""Errors whose message is meant for the person who ran the command."""

from discord import app_commands


class UserFacingError(app_commands.AppCommandError):
    """Bad input or a refusal; ``str(error)`` is shown to the user as it is.

    Subclassing ``AppCommandError`` makes the command tree hand it to ``on_error`` unwrapped.
    """


class BusyError(UserFacingError):
    """Too many ratings are running; the user should try again shortly."""


class TryAgainError(UserFacingError):
    """A failure that says nothing about the song (a network error, a refusal that may pass): the same
    request may work later, so nothing remembers it as the song's outcome."""
