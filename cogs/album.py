"""/album artist title: rate a whole album, editing the reply as tracks finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.album import TrackResult, album_request
from bot.embeds import CHOICE_CHARS, CHOICES, CHOICES_SECONDS
from bot.errors import UserFacingError
from bot.progress import ResponseEditor
from bot.service import Requester
from bot.store import AlbumRecord
from cogs.rate import cooldown

if TYPE_CHECKING:
    from bot.client import NeedleBot

log = logging.getLogger(__name__)

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
        artist, title = album_request(artist, title)  # "give both" is answered before deferring, privately
        self._asking.add(user)
        try:
            await interaction.response.defer(thinking=True)
            requester = Requester(user_id=user, guild_id=interaction.guild_id)
            # The clock starts at the defer: an album answered from the cache gets no progress edit at all.
            async with ResponseEditor(interaction, since_defer=True) as editor:

                def progress(album: AlbumRecord, done: Sequence[TrackResult], place: int | None) -> None:
                    editor.update(embed=embeds.album_progress_embed(album, done, place))

                rated = await self.bot.albums.rate_album(artist, title, requester, progress)
                await editor.finish(embed=embeds.album_embed(rated))
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
