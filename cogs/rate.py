"""/rate and the "Rate this song" message menu."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import embeds
from bot.errors import UserFacingError
from bot.progress import PlaceInLine
from bot.service import EMPTY_FILE, RatedSong, Requester, looks_like_audio
from model.decode import FORMATS
from sources.text import one_line

if TYPE_CHECKING:
    from bot.client import NeedleBot

log = logging.getLogger(__name__)

PICTURE = "rating.png"


def cooldown(interaction: discord.Interaction[NeedleBot]) -> app_commands.Cooldown | None:
    """Each user's cooldown on the commands that rate (``[jobs] cooldown_seconds``; 0: none)."""
    seconds = interaction.client.settings.jobs.cooldown_seconds
    return app_commands.Cooldown(1, seconds) if seconds else None


class Rate(commands.Cog):
    """/rate and the "Rate this song" message menu.

    Command docstrings stay one line: Discord shows them as the command's description.

    Parameters
    ----------
    bot : NeedleBot
        The running bot; its ``service`` rates songs and reads the database.
    """

    def __init__(self, bot: NeedleBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Rate this song", callback=self.rate_message)
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command()
    @app_commands.describe(file=f"An audio file: {FORMATS}", url="A YouTube link to the song")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.checks.dynamic_cooldown(cooldown)
    async def rate(
        self,
        interaction: discord.Interaction[NeedleBot],
        file: discord.Attachment | None = None,
        url: str | None = None,
    ) -> None:
        """Rate a song the way the internet's busiest music nerd would: attach audio or a YouTube link."""
        # Everything that needs no I/O is checked before deferring: an error then goes out as an immediate
        # ephemeral response, seen by this user alone (see bot/tree.py for errors found later).
        if file is None and url is None:
            raise UserFacingError(
                f"Give me a song: attach an audio file ({FORMATS}) or paste a YouTube link."
            )
        if file is not None and url is not None:
            raise UserFacingError("One song at a time: attach a file or paste a link, not both.")
        if file is not None:
            self._check_attachment(file)
        else:
            assert url is not None
            url = self.bot.service.check_link(url)
        await interaction.response.defer(thinking=True)
        async with PlaceInLine(interaction) as place:
            requester = _requester(interaction, place)
            if file is not None:
                rated = await self.bot.service.rate_upload(await _read(file), file.filename, requester)
            else:
                assert url is not None
                rated = await self.bot.service.rate_link(url, requester)
        await _send(interaction, rated, replace=place.shown)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.checks.dynamic_cooldown(cooldown)
    async def rate_message(
        self, interaction: discord.Interaction[NeedleBot], message: discord.Message
    ) -> None:
        """Rate the audio attached to a message."""
        audio = [a for a in message.attachments if looks_like_audio(a.filename, a.content_type)]
        if not audio:
            raise UserFacingError(f"That message has no audio file attached; send {FORMATS}.")
        self._check_attachment(audio[0])
        await interaction.response.defer(thinking=True)
        async with PlaceInLine(interaction) as place:
            rated = await self.bot.service.rate_upload(
                await _read(audio[0]), audio[0].filename, _requester(interaction, place)
            )
        await _send(interaction, rated, replace=place.shown)

    def _check_attachment(self, attachment: discord.Attachment) -> None:
        # Checked before downloading: Discord reports the size and type with the attachment.
        limit = self.bot.settings.limits.max_attachment_bytes
        if attachment.size == 0:
            raise UserFacingError(EMPTY_FILE)
        if attachment.size > limit:
            raise UserFacingError(
                f"That file is {attachment.size / 1e6:.1f} MB; I take songs up to {limit / 1e6:.0f} MB."
            )
        if not looks_like_audio(attachment.filename, attachment.content_type):
            raise UserFacingError(
                f"“{one_line(attachment.filename)}” doesn't look like audio."
                f" Send {FORMATS}."
            )


async def _read(attachment: discord.Attachment) -> bytes:
    try:
        return await attachment.read()
    except discord.HTTPException as error:
        log.warning("could not fetch attachment %s: HTTP %s", attachment.filename, error.status)
        raise UserFacingError("I couldn't download that file from Discord. Try uploading it again.") from None


def _requester(interaction: discord.Interaction[NeedleBot], place: PlaceInLine) -> Requester:
    # The song must start while there is still time to rate it and answer before the interaction's token
    # expires: a song still waiting then is dropped, and the user told so while the bot still can.
    reserve = interaction.client.settings.jobs.answer_reserve_seconds
    left = (interaction.expires_at - discord.utils.utcnow()).total_seconds() - reserve
    start_by = asyncio.get_running_loop().time() + left
    return Requester(
        user_id=interaction.user.id, guild_id=interaction.guild_id, on_position=place, start_by=start_by
    )


async def _send(interaction: discord.Interaction[NeedleBot], rated: RatedSong, *, replace: bool) -> None:
    """Answer with the rating (and Fantano's own score of its album, when the video named one he reviewed);
    ``replace``: in the message that showed the place in line."""
    embed = embeds.rating_embed(
        rated.song,
        cached=rated.cached,
        picture=PICTURE,
        thresholds=rated.thresholds,
        review=interaction.client.service.review_of(rated.song),
    )
    picture = discord.File(io.BytesIO(rated.song.picture), PICTURE)
    if replace:
        await interaction.edit_original_response(content=None, embed=embed, attachments=[picture])
    else:
        await interaction.followup.send(embed=embed, file=picture)


async def setup(bot: NeedleBot) -> None:
    """discord.py's extension entry point: add the cog to ``bot``."""
    await bot.add_cog(Rate(bot))
