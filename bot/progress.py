"""Showing progress in a deferred interaction's response: one throttled editor, and the place in line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

import discord

from bot.embeds import EDIT_INTERVAL, place_text

log = logging.getLogger(__name__)

EDIT_FAILED = "I couldn't update my message with the answer, so here it is."


class ResponseEditor:
    """Edits a deferred interaction's response with the latest update, at most once per ``interval``.

    Use it as ``async with ResponseEditor(interaction) as editor:`` around the work, calling
    :meth:`update` as often as there is news: an update that comes too soon is held (only the latest) and
    sent when the interval is over, by one background task. :meth:`finish` sends the answer at once. On
    leaving, no edit is pending or in flight, and after an error an update already shown is deleted, so
    that the error (an ephemeral followup) is all that is left, seen by that user alone.

    Parameters
    ----------
    interaction : discord.Interaction
        Already deferred.
    interval : float
        Seconds between two edits.
    since_defer : bool
        The first interval runs from now (the defer), so an answer that comes quickly replaces the
        thinking message with no update before it; otherwise the first update goes at once.
    """

    def __init__(
        self, interaction: discord.Interaction, *, interval: float = EDIT_INTERVAL, since_defer: bool = False
    ) -> None:
        self._interaction = interaction
        self._interval = interval
        self._held: dict[str, Any] | None = None
        self._last = asyncio.get_running_loop().time() if since_defer else float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # held by the edit in flight
        self._closed = False
        self._touched = False

    @property
    def shown(self) -> bool:
        """Whether an update may have replaced the thinking message (the answer must then edit it, as a
        followup would be a second message)."""
        return self._touched

    def update(self, **fields: Any) -> None:
        """Show ``fields`` (those of ``edit_original_response``) when the interval allows; a later update
        replaces a held one."""
        if self._closed:
            return
        self._held = fields
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send_held(), name="response-edits")

    async def finish(self, **fields: Any) -> None:
        """Edit the response with the answer now; no update follows it. When Discord refuses the edit (an
        HTTP error, an expired token), the answer goes as a followup that says so, if Discord takes that.

        Parameters
        ----------
        **fields
            An embed (and whatever else both an edit and a followup take, but no ``content``).
        """
        await self._stop()
        async with self._lock:
            try:
                await self._edit(fields)
                return
            except discord.HTTPException as failed:
                log.warning("could not edit the response with the answer (HTTP %s); sending a followup",
                            failed.status)
        try:
            await self._interaction.followup.send(content=EDIT_FAILED, **fields)
        except discord.HTTPException as failed:
            log.warning("could not send %s the answer at all: HTTP %s", self._interaction.user, failed.status)

    async def __aenter__(self) -> ResponseEditor:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._stop()
        if error is not None and self._touched:
            with contextlib.suppress(discord.HTTPException):
                await self._interaction.delete_original_response()
            self._touched = False

    async def _stop(self) -> None:
        """No update after this: a held one is dropped, one in flight lands first."""
        self._closed, self._held = True, None
        task = self._task
        if task is None or task.done():
            return
        if not self._lock.locked():
            task.cancel()  # only sleeping until the interval is over
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _send_held(self) -> None:
        loop = asyncio.get_running_loop()
        while self._held is not None and not self._closed:
            await asyncio.sleep(max(0.0, self._last + self._interval - loop.time()))
            async with self._lock:
                if self._held is None or self._closed:
                    return
                fields, self._held = self._held, None
                try:
                    await self._edit(fields)
                except discord.HTTPException as failed:
                    log.warning("could not update %s's response: HTTP %s", self._interaction.user,
                                failed.status)

    async def _edit(self, fields: dict[str, Any]) -> None:
        self._touched = True  # before it goes: an edit that fails mid-way may still have been shown
        try:
            await self._interaction.edit_original_response(**fields)
        finally:
            self._last = asyncio.get_running_loop().time()


class PlaceInLine(ResponseEditor):
    """The ``on_position`` callback of a deferred interaction: shows the place in line in its response.

    A job that starts without waiting shows nothing ("thinking…" stays until the answer).
    """

    _position: int | None = None

    def __call__(self, position: int) -> None:
        if position == self._position or (position == 0 and self._position is None):
            return
        self._position = position
        self.update(content=place_text(position))
