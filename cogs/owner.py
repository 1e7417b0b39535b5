"""Owner-only maintenance, addressed by mentioning the bot: ``@Needle Bot sync``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.client import NeedleBot

log = logging.getLogger(__name__)


class Owner(commands.Cog):
    """The owner's maintenance commands, addressed by mentioning the bot.

    Parameters
    ----------
    bot : NeedleBot
        The running bot; only its owners pass `cog_check`.
    """

    def __init__(self, bot: NeedleBot) -> None:
        self.bot = bot

    async def cog_check(self, ctx: commands.Context[NeedleBot]) -> bool:  # type: ignore[override]
        return await self.bot.is_owner(ctx.author)

    @commands.command()
    async def sync(
        self, ctx: commands.Context[NeedleBot], scope: Literal["here", "global", "clear"] = "here"
    ) -> None:
        """Publish the slash commands: ``here`` (this server, instant), ``global`` (every server, slow to
        spread and rate-limited by Discord), or ``clear`` (remove this server's copies)."""
        if scope == "global":
            synced = await self.bot.tree.sync()
        elif ctx.guild is None:
            await ctx.reply("`here` and `clear` need a server; use `sync global` in DMs.")
            return
        elif scope == "clear":
            self.bot.tree.clear_commands(guild=ctx.guild)
            synced = await self.bot.tree.sync(guild=ctx.guild)
        else:
            self.bot.tree.copy_global_to(guild=ctx.guild)
            synced = await self.bot.tree.sync(guild=ctx.guild)
        log.info("%s synced %d commands (%s)", ctx.author, len(synced), scope)
        await ctx.reply(
            f"Synced {len(synced)} commands ({scope}).", allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: NeedleBot) -> None:
    """discord.py's extension entry point: add the cog to ``bot``."""
    await bot.add_cog(Owner(bot))
