"""/album artist title: rate a whole album, editing the reply as tracks finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import replies
from bot.album import TrackResult
from bot.errors import UserFacingError
from bot.progress import EDIT_INTERVAL
from bot.service import Requester
from bot.store import AlbumRecord
from cogs.rate import cooldown

if TYPE_CHECKING:
    from bot.client import NeedleBot

log = logging.getLogger(__name__)

CHOICES = 25  # Discord shows at most 25 autocomplete choices
CHOICE_CHARS = 100  # ... each at most 100 characters long
# Seconds an autocomplete may take: it cannot be deferred, and Discord drops an answer after 3 s from
# when the user typed (the gateway's delivery comes out of that too).
CHOICES_SECONDS = 2.0


class ProgressEdits:
    """Edits an interaction's response with the album's progress, at most once per ``EDIT_INTERVAL``.

    The clock starts at the defer, so an album answered from the cache gets its final reply at once and
    no progress edit at all. A progress update that comes too soon is held and sent when the interval is
    over (only the latest one). The final reply goes at once and drops any held update: one edit sooner
    than the interval, once per album, is within Discord's rate limits, and waiting would only add
    latency.
    """

    def __init__(self, interaction: discord.Interaction[NeedleBot]) -> None:
        self.interaction = interaction
        self.edits = 0
        self._last = time.monotonic()
        self._held: discord.Embed | None = None
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def update(self, album: AlbumRecord, done: Sequence[TrackResult], place: int | None) -> None:
        """The album service's progress callback: show ``done`` of ``album``'s tracks and its place in line
        (throttled)."""
        self._held = replies.album_progress_embed(album, done, place)
        if self._timer is None:
            self._timer = asyncio.create_task(self._send_held())

    async def _send_held(self) -> None:
        while self._held is not None:
            await asyncio.sleep(max(0.0, self._last + EDIT_INTERVAL - time.monotonic()))
            embed, self._held = self._held, None
            await self._edit(embed=embed)
        self._timer = None

    def cancel(self) -> None:
        """Drop any held progress update: an error reply must not be overwritten by it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held = None

    async def abandon(self) -> None:
        """After an error: no more edits, and a progress message already shown is deleted, so that the
        error (an ephemeral followup) is all that is left, seen by that user alone."""
        self.cancel()
        if self.edits:
            async with self._lock:
                with contextlib.suppress(discord.HTTPException):
                    await self.interaction.delete_original_response()

    async def finish(self, **fields: object) -> None:
        """Send the final reply now; no progress edit follows it."""
        self.cancel()
        await self._edit(**fields)

    async def _edit(self, **fields: object) -> None:
        async with self._lock:
            self.edits += 1  # counted before it goes: one cancelled mid-way may still have been shown
            try:
                await self.interaction.edit_original_response(**fields)  # type: ignore[arg-type]
            except discord.HTTPException as error:
                log.warning("could not edit the /album response: HTTP %s", error.status)
            self._last = time.monotonic()


class Album(commands.Cog):
    def __init__(self, bot: NeedleBot) -> None:
        self.bot = bot
        self._asking: set[int] = set()  # users with an /album being rated: one at a time each

    @app_commands.command()
    @app_commands.describe(artist="Who made it", title="The album's title")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.checks.dynamic_cooldown(cooldown)
    async def album(
        self,
        interaction: discord.Interaction[NeedleBot],
        artist: app_commands.Range[str, 1, 100],
        title: app_commands.Range[str, 1, 200],
    ) -> None:
        """Rate a whole album, track by track, the way the internet's busiest music nerd would."""
        user = interaction.user.id
        if user in self._asking:
            # Checked before deferring: the answer is immediate and seen by this user alone.
            raise UserFacingError(
                "I'm still rating the album you asked for: one album at a time. Ask again when it's done."
            )
        self._asking.add(user)
        try:
            await interaction.response.defer(thinking=True)
            edits = ProgressEdits(interaction)
            requester = Requester(user_id=user, guild_id=interaction.guild_id)
            try:
                rated = await self.bot.albums.rate_album(artist, title, requester, edits.update)
            except BaseException:
                await edits.abandon()
                raise
            thresholds = await self.bot.service.album_thresholds()
            await edits.finish(embed=replies.album_embed(rated, thresholds))
        finally:
            self._asking.discard(user)

    @album.autocomplete("artist")
    async def artist_choices(
        self, interaction: discord.Interaction[NeedleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(await _in_time(self.bot.albums.artists(current, CHOICES)))

    @album.autocomplete("title")
    async def title_choices(
        self, interaction: discord.Interaction[NeedleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        artist = str(getattr(interaction.namespace, "artist", "") or "")
        return _choices(await _in_time(self.bot.albums.titles(artist, current, CHOICES)))


async def _in_time(names: Awaitable[list[str]]) -> list[str]:
    """``names``, or none if they take past `CHOICES_SECONDS` or fail: an empty list is an answer, a late
    one or an error is "loading options failed" on the user's screen."""
    try:
        async with asyncio.timeout(CHOICES_SECONDS):
            return await names
    except (TimeoutError, UserFacingError) as error:
        log.warning("autocomplete answered empty: %s", str(error) or f"no names within {CHOICES_SECONDS:g} s")
        return []


def _choices(names: Sequence[str]) -> list[app_commands.Choice[str]]:
    # Discord refuses the whole answer if one choice is longer than it allows.
    return [app_commands.Choice(name=n, value=n) for n in names if 0 < len(n) <= CHOICE_CHARS]


async def setup(bot: NeedleBot) -> None:
    await bot.add_cog(Album(bot))
