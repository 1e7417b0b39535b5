"""The bot: a ``commands.Bot`` whose ``setup_hook`` opens the database, the worker pool and the model."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import discord
from discord.ext import commands

from bot.config import Settings
from bot.dask_backend import DaskJobs
from bot.jobs import Jobs
from bot.service import RatingService
from bot.store import Store
from bot.tree import NeedleTree
from model import MODEL_DIR
from model.scorer import ModelError, Scorer

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.rate", "cogs.stats", "cogs.owner")


class NeedleBot(commands.Bot):
    """The Needle Bot. Construct it with :func:`create_bot` and ``await bot.start(token)``.

    Only default intents: slash commands and context menus need no privileged intent, and the owner's
    ``@bot sync`` command reads the message that mentions the bot, which Discord always delivers.
    """

    service: RatingService

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
        self.jobs = _jobs(settings)
        self.store: Store | None = None
        self._background: set[asyncio.Task[object]] = set()

    async def setup_hook(self) -> None:
        model_dir = Path(self.settings.model.directory or MODEL_DIR)
        scorer = asyncio.ensure_future(asyncio.to_thread(Scorer.load, model_dir))
        scorer.add_done_callback(_log_model_load)
        self.store = await Store.open(
            self.settings.storage.database_path, await asyncio.to_thread(model_id, model_dir)
        )
        self.jobs.start()
        self._keep(asyncio.create_task(self.jobs.warm(), name="warm-workers"))
        self.service = RatingService(self.settings, self.jobs, self.store, scorer)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if guild_id := self.settings.discord.dev_guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the dev guild %d", len(synced), guild_id)

    async def close(self) -> None:
        await super().close()
        for task in self._background:
            task.cancel()
        await self.jobs.close()
        if self.store is not None:
            await self.store.close()
            self.store = None

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


def _jobs(settings: Settings) -> Jobs:
    """The audio backend ``[jobs] backend`` names, with the admission limits of ``[jobs]``."""
    jobs, timeout = settings.jobs, settings.limits.job_timeout_seconds
    if jobs.backend == "dask":
        return DaskJobs(
            scheduler=jobs.scheduler, max_pending=jobs.max_pending, per_user=jobs.per_user, timeout=timeout
        )
    return Jobs(workers=jobs.workers, max_pending=jobs.max_pending, per_user=jobs.per_user, timeout=timeout)


def model_id(directory: Path) -> str:
    """A short id of the served model file: ratings cached under another model are not reused."""
    try:
        return hashlib.sha256((directory / "needlebot.tflite").read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"  # the scorer's load fails too, and says why


def _log_model_load(future: asyncio.Future[Scorer]) -> None:
    if future.cancelled():
        return
    if isinstance(error := future.exception(), ModelError):
        log.error("the model could not be loaded, every /rate will fail: %s", error)
    elif error is not None:
        log.error("the model could not be loaded", exc_info=error)
    else:
        log.info("model loaded: %s", future.result().card.get("kind", "?"))
