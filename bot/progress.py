"""A waiting user's place in line, shown in the interaction's "thinking" message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import discord

log = logging.getLogger(__name__)

# Seconds between two edits of one response: Discord rate-limits webhook edits.
EDIT_INTERVAL = 1.5


def place_text(position: int) -> str:
    """What a waiting user reads: "⏳ You're **3rd** in line." (0: the song's turn has come).

    Parameters
    ----------
    position : int
        Place in line, 1-based; 0 when the job is running.

    Returns
    -------
    str
        One line of Discord markdown.
    """
    if position == 0:
        return "🎧 Your turn: listening now…"
    if position % 100 in (11, 12, 13):
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"⏳ You're **{position}{suffix}** in line."


class PlaceInLine:
    """The ``on_position`` callback of a deferred interaction: edits its thinking message.

    Edits go out at most once per :data:`EDIT_INTERVAL`, each with the latest place. Use it as
    ``async with PlaceInLine(interaction) as place:`` around the work: on leaving, no edit is pending
    or in flight, ``place.shown`` says whether the thinking message was replaced (then the answer must
    edit it, as a followup would be a second message), and after an error a shown place is deleted,
    so only the error remains.
    """

    def __init__(self, interaction: discord.Interaction, interval: float = EDIT_INTERVAL) -> None:
        self._interaction = interaction
        self._interval = interval
        self._latest: int | None = None
        self._shown: int | None = None
        self._last_edit = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._editing = False
        self._closed = False

    @property
    def shown(self) -> bool:
        """Whether a place in line replaced the thinking message (the answer must then edit it)."""
        return self._shown is not None

    def __call__(self, position: int) -> None:
        if position == 0 and self._latest is None:
            return  # started without waiting: "thinking…" stays until the answer
        self._latest = position
        if not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._edit_until_current(), name="place-in-line")

    async def __aenter__(self) -> PlaceInLine:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closed = True
        if self._task is not None:
            if not self._editing:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if error is not None and self.shown:
            with contextlib.suppress(discord.HTTPException):
                await self._interaction.delete_original_response()
            self._shown = None

    async def _edit_until_current(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed and self._latest != self._shown:
            await asyncio.sleep(max(0.0, self._last_edit + self._interval - loop.time()))
            position = self._latest
            assert position is not None
            self._editing = True
            try:
                await self._interaction.edit_original_response(content=place_text(position))
            except discord.HTTPException as failed:
                log.warning("could not show %s their place in line: %s", self._interaction.user, failed)
                return
            finally:
                self._editing = False
            self._shown, self._last_edit = position, loop.time()
