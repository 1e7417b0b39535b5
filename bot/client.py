"""The bot: a ``commands.Bot`` whose ``setup_hook`` opens the database, the worker pool and the model."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.config import Settings
from bot.jobs import Jobs
from bot.service import RatingService
from bot.tree import NeedleTree

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.rate", "cogs.stats", "cogs.owner")


class NeedleBot(commands.Bot):
    """The Needle Bot. Construct it with :func:`create_bot` and ``await bot.start(token)``.

    Only default intents: slash commands and context menus need no privileged intent, and the owner's
    ``@bot sync`` command reads the message that mentions the bot, which Discord always delivers.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=NeedleTree,
            owner_ids=set(settings.discord.owner_ids) or None,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            # Only AutoShardedBot reads it (None: as many as Discord recommends); one connection ignores it.
            shard_count=settings.discord.shards or None,
        )
        self.settings = settings
        self.jobs = Jobs.from_settings(settings)
        self._service: RatingService | None = None
        self._background: set[asyncio.Task[object]] = set()

    @property
    def service(self) -> RatingService:
        """The rating pipeline and the ratings database: the one way cogs reach data.

        Returns
        -------
        RatingService

        Raises
        ------
        RuntimeError
            Before ``setup_hook`` has run.
        """
        if self._service is None:
            raise RuntimeError("the bot's services start in setup_hook")
        return self._service

    async def setup_hook(self) -> None:
        """Open the services, warm the workers, load the cogs, sync to the dev guild if one is set."""
        self._service = await RatingService.open(self.settings, self.jobs)
        self._keep(asyncio.create_task(self.jobs.warm(), name="warm-workers"))
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if guild_id := self.settings.discord.dev_guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev guild %d", len(synced), guild_id)

    async def close(self) -> None:
        """Disconnect, then stop the worker pool and close the database."""
        await super().close()
        for task in self._background:
            task.cancel()
        if self._service is not None:
            await self._service.close()  # the worker pool, started only by the service, and the database
            self._service = None

    async def on_ready(self) -> None:
        log.info("ready as %s (%d guilds)", self.user, len(self.guilds))

    async def on_command_error(self, ctx: commands.Context[NeedleBot], error: commands.CommandError) -> None:
        # Mentions that are not commands, and non-owners trying owner commands, get no answer.
        if isinstance(error, commands.CommandNotFound | commands.CheckFailure):
            return
        log.error("command %s failed", ctx.command, exc_info=error)

    def _keep(self, task: asyncio.Task[object]) -> None:
        # The event loop keeps only weak references to tasks.
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class ShardedNeedleBot(NeedleBot, commands.AutoShardedBot):
    """The Needle Bot over several gateway connections (shards), all in this process."""


def create_bot(settings: Settings) -> NeedleBot:
    """The bot for ``settings``: sharded unless ``[discord] shards`` is 1 (Discord requires shards
    from 2,500 guilds)."""
    return NeedleBot(settings) if settings.discord.shards == 1 else ShardedNeedleBot(settings)

