"""/history and /top: what has been rated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.errors import UserFacingError

if TYPE_CHECKING:
    from bot.client import NeedleBot


class Stats(commands.Cog):
    """/history and /top.

    Command docstrings stay one line: Discord shows them as the command's description.

    Parameters
    ----------
    bot : NeedleBot
        The running bot; its ``service`` rates songs and reads the database.
    """

    def __init__(self, bot: NeedleBot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def history(self, interaction: discord.Interaction[NeedleBot]) -> None:
        """Your last ten rated songs."""
        # Deferred before the database is read: a read that waits (a disk, a lock) never misses Discord's 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows = await self.bot.service.history(interaction.user.id)
        await interaction.followup.send(
            embed=embeds.history_embed(rows, interaction.user.display_name), ephemeral=True
        )

    @app_commands.command()
    @app_commands.guild_only()
    async def top(self, interaction: discord.Interaction[NeedleBot]) -> None:
        """This server's best-rated songs."""
        # guild_only hides the command in DMs on Discord's side, but a stale client can still send it.
        if interaction.guild_id is None:
            raise UserFacingError(
                "/top ranks a server's songs, so it works only in servers. Try /history."
            )
        await interaction.response.defer(thinking=True)  # as /history: before the database is read
        rows = await self.bot.service.top(interaction.guild_id)
        name = interaction.guild.name if interaction.guild else "this server"
        await interaction.followup.send(embed=embeds.top_embed(rows, name))


async def setup(bot: NeedleBot) -> None:
    """discord.py's extension entry point: add the cog to ``bot``."""
    await bot.add_cog(Stats(bot))
