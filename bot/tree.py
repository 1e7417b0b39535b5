"""The command tree: one place that turns every command error into one clear reply."""

from __future__ import annotations

import contextlib
import logging

import discord
from discord import app_commands

from bot import embeds
from bot.errors import UserFacingError

log = logging.getLogger(__name__)


class NeedleTree(app_commands.CommandTree):
    """The command tree: every command error becomes one ephemeral reply, seen by that user alone."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Answer ``error`` privately: an ephemeral response, or, after a defer, an ephemeral followup.

        Discord gives the first followup after a defer the defer's visibility and ignores its own
        ephemeral flag, so a public "thinking" message is deleted first: the error then arrives as a new
        message that only the user sees.

        Parameters
        ----------
        interaction : discord.Interaction
            The failed interaction; if it expired, the message is only logged.
        error : app_commands.AppCommandError
            What went wrong.
        """
        message = self.message_for(interaction, error)
        if interaction.is_expired():
            log.warning(
                "could not tell %s about an error, the interaction expired: %s", interaction.user, message
            )
            return
        embed = embeds.error_embed(message)
        if interaction.response.is_done():
            if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
                # Gone already: the followup is a new message anyway. Any other failure: still answer.
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()
            await interaction.followup.send(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)

    @staticmethod
    def message_for(interaction: discord.Interaction, error: app_commands.AppCommandError) -> str:
        """The user-facing text for ``error``; unexpected errors are logged with their traceback.

        Parameters
        ----------
        interaction : discord.Interaction
            The failed interaction (names the command in the log).
        error : app_commands.AppCommandError
            A `UserFacingError` (shown as it is), a cooldown, a missing permission, a failed check,
            or anything else (a generic apology).

        Returns
        -------
        str
        """
        if isinstance(error, UserFacingError):
            return str(error)
        if isinstance(error, app_commands.CommandOnCooldown):
            return f"Easy there. You can rate another song in {error.retry_after:.0f} seconds."
        if isinstance(error, app_commands.BotMissingPermissions):
            return f"I need these permissions here: {', '.join(error.missing_permissions)}."
        if isinstance(error, app_commands.CheckFailure):
            return "You can't use that command here."
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error("command %s failed", command, exc_info=error)
        return "Something went wrong on my side. It's been logged; try again later."
