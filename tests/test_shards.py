"""``[discord] shards`` picks the bot's class and the shards it IDENTIFYs with, through the fake Discord."""

from __future__ import annotations

from pathlib import Path

import pytest
from discord.ext import commands

from bot.client import create_bot
from bot.config import settings_from_dict
from tests.fakes.discord import OP_IDENTIFY, FakeDiscord, running_bot


async def _identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
    """In place of discord.py's ``before_identify_hook``, which sleeps 5 s before every IDENTIFY but
    the first (Discord's identify rate limit, not enforced by the fake): which shards identify is
    under test, not that wait."""


@pytest.mark.parametrize(
    ("shards", "identified"),
    [
        (1, [None]),  # one plain connection, as before sharding existed
        (0, [[0, 1]]),  # sharded, as many as Discord recommends (the fake recommends 1)
        (2, [[0, 2], [1, 2]]),
    ],
)
async def test_shards_follow_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shards: int, identified: list
) -> None:
    async with FakeDiscord() as fake:
        settings = settings_from_dict(
            {
                "discord": {"shards": shards, "token": fake.token},
                "storage": {"data_dir": str(tmp_path)},
                # No audio here: a backend with no local processes to spawn, pointed at nothing.
                "jobs": {"backend": "dask", "scheduler": "tcp://127.0.0.1:9"},
            }
        )
        bot = create_bot(settings)
        monkeypatch.setattr(bot, "before_identify_hook", _identify_at_once)
        assert isinstance(bot, commands.AutoShardedBot) == (shards != 1)
        async with running_bot(fake, bot, timeout=30):
            sent = [p["d"].get("shard") for p in fake.gateway_received if p["op"] == OP_IDENTIFY]
            assert sorted(sent, key=str) == identified
            # Commands work whichever shard the guild's events arrive on.
            reply = await (await fake.slash_command("history")).wait_reply(timeout=5)
            assert reply.ephemeral
