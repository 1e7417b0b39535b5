"""The fake Discord, driven by the real discord.py client through a tiny throwaway bot."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, running_bot

PIC = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class Refused(app_commands.AppCommandError):
    """A domain error whose message is meant for the user."""


class TinyTree(app_commands.CommandTree):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        message = str(error) if isinstance(error, Refused) else "Something went wrong."
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)


@app_commands.command(description="Rate an uploaded song")
@app_commands.describe(file="The song", note="A note for the embed")
async def rate(interaction: discord.Interaction, file: discord.Attachment, note: str) -> None:
    await interaction.response.defer(thinking=True)
    data = await file.read()
    embed = discord.Embed(title=note, description=f"{file.filename}: {len(data)} bytes")
    embed.set_image(url="attachment://pic.png")
    await interaction.followup.send(embed=embed, file=discord.File(io.BytesIO(data[::-1]), "pic.png"))


@app_commands.command(description="Always refuses")
async def refuse(interaction: discord.Interaction, count: int) -> None:
    raise Refused(f"I refuse {count} times.")


@app_commands.command(description="Defers, then edits the original response twice")
async def progress(interaction: discord.Interaction, seconds: float) -> None:
    await interaction.response.defer()
    await interaction.edit_original_response(content="working")
    await asyncio.sleep(seconds)
    picture = discord.File(io.BytesIO(PIC), "pic.png")
    await interaction.edit_original_response(content="done", attachments=[picture])


@app_commands.command(description="Defers privately, then fails")
async def crash(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    raise Refused("Could not rate that.")


@app_commands.command(description="Sends, edits, reads back and deletes a followup")
async def lifecycle(interaction: discord.Interaction) -> None:
    await interaction.response.defer()
    sent = await interaction.followup.send("first", wait=True)
    await sent.edit(content="second")
    original = await interaction.original_response()
    await interaction.followup.send(f"original flags {original.flags.value}")
    await sent.delete()


@app_commands.command(description="Defers publicly, then sends an 'ephemeral' followup")
async def leak(interaction: discord.Interaction, delete_first: bool) -> None:
    await interaction.response.defer(thinking=True)
    if delete_first:
        await interaction.delete_original_response()
    await interaction.followup.send("for your eyes only", ephemeral=True)
    await interaction.followup.send("second", ephemeral=True)


@app_commands.command(description="Answers too late")
async def late(interaction: discord.Interaction) -> None:
    await asyncio.sleep(0.4)
    await interaction.response.send_message("too late")


@app_commands.context_menu(name="Rate this song")
async def rate_message(interaction: discord.Interaction, message: discord.Message) -> None:
    if not message.attachments:
        raise Refused("That message has no song attached.")
    att = message.attachments[0]
    data = await att.read()
    await interaction.response.send_message(f"{att.filename} by {message.author.id}: {len(data)} bytes")


class TinyBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, tree_cls=TinyTree)
        self.guild = discord.Object(guild_id)
        self.ready_count = 0

    async def setup_hook(self) -> None:
        for command in (rate, refuse, crash, lifecycle, leak, progress, late, rate_message):
            self.tree.add_command(command, guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def on_ready(self) -> None:
        self.ready_count += 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval=0.2) as fake:
        yield fake


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[TinyBot]:
    bot = TinyBot(fake.guild_id)
    async with running_bot(fake, bot):
        yield bot


def discord_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("discord", "asyncio", "aiohttp")
    ]


async def test_ready_and_guild_sync_recorded(fake: FakeDiscord, bot: TinyBot) -> None:
    assert bot.ready_count == 1
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.get_guild(fake.guild_id) is not None
    assert set(fake.synced_commands) == {fake.guild_id}
    by_name = {c["name"]: c for c in fake.synced_commands[fake.guild_id]}
    assert set(by_name) == {
        "rate", "refuse", "crash", "lifecycle", "leak", "progress", "late", "Rate this song"
    }
    assert [(o["name"], o["type"], o["required"]) for o in by_name["rate"]["options"]] == [
        ("file", 11, True),
        ("note", 3, True),
    ]
    assert by_name["Rate this song"]["type"] == 3
    assert ("PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands") in [
        (r.method, r.path) for r in fake.requests
    ]
    assert fake.identifies == 1
    assert fake.unknown_routes == []


async def test_slash_command_defers_then_sends_embed_and_file(
    fake: FakeDiscord, bot: TinyBot, caplog: pytest.LogCaptureFixture
) -> None:
    song = bytes(range(200)) * 50
    att = fake.add_attachment("song.mp3", song, "audio/mpeg")
    inter = await fake.slash_command("rate", {"file": att, "note": "Decent"})
    resp = await inter.wait_response(timeout=3)
    msg = await inter.wait_followup(timeout=10)

    assert resp.type == 5 and not resp.ephemeral and 0 <= resp.at < 3
    assert msg.kind == "followup" and not msg.ephemeral and msg.at >= resp.at
    assert msg.embeds == [
        {
            "type": "rich",
            "title": "Decent",
            "description": f"song.mp3: {len(song)} bytes",
            "image": {"url": "attachment://pic.png"},
            "flags": 0,
        }
    ]
    assert msg.files == [("pic.png", song[::-1])]
    cdn_hits = [r for r in fake.requests if r.path.startswith("/attachments/") and r.status == 200]
    assert len(cdn_hits) == 1
    assert fake.unknown_routes == []
    assert discord_errors(caplog) == []


async def test_message_context_menu_reads_target_attachment(fake: FakeDiscord, bot: TinyBot) -> None:
    att = fake.add_attachment("tune.ogg", b"x" * 1234, "audio/ogg")
    message = fake.make_message(attachments=[att], author_id=4242)
    inter = await fake.message_command("Rate this song", message=message)
    reply = await inter.wait_reply(timeout=5)
    assert reply.kind == "response" and reply.content == "tune.ogg by 4242: 1234 bytes"
    assert inter.payload["data"]["type"] == 3 and inter.payload["data"]["target_id"] == message["id"]


async def test_errors_reply_ephemerally_both_before_and_after_ack(fake: FakeDiscord, bot: TinyBot) -> None:
    inter = await fake.slash_command("refuse", {"count": 3})
    resp = await inter.wait_response(timeout=3)
    assert resp.type == 4 and resp.ephemeral and resp.data["content"] == "I refuse 3 times."

    deferred = await fake.slash_command("crash")
    assert (await deferred.wait_response(timeout=3)).ephemeral
    followup = await deferred.wait_followup(timeout=3)
    assert followup.kind == "followup" and followup.ephemeral and followup.content == "Could not rate that."
    assert followup.payload["flags"] == 64

    no_att = await fake.message_command("Rate this song", message=fake.make_message(content="hi"))
    reply = await no_att.wait_reply(timeout=3)
    assert reply.ephemeral and reply.content == "That message has no song attached."


async def test_edits_of_original_arrive_in_order(fake: FakeDiscord, bot: TinyBot) -> None:
    inter = await fake.slash_command("progress", {"seconds": 0.05})
    final = await inter.wait_message(lambda m: m.content == "done", timeout=5)
    assert [m.content for m in inter.messages] == ["working", "done"]
    assert final.kind == "edit" and final.at > inter.messages[0].at
    assert inter.messages[0].files == [] and final.files == [("pic.png", PIC)]
    last_patch = [r for r in fake.requests if r.method == "PATCH"][-1]
    assert [p.name for p in last_patch.parts] == ["payload_json", "files[0]"]


async def test_followup_edit_fetch_and_delete(fake: FakeDiscord, bot: TinyBot) -> None:
    inter = await fake.slash_command("lifecycle")
    await inter.wait_for(lambda i: i.deleted, timeout=5, what="deletion")
    assert [(m.kind, m.content) for m in inter.messages] == [
        ("followup", "first"),
        ("edit", "second"),
        ("followup", "original flags 0"),  # the first followup replaced the loading message
    ]
    # The first followup after the defer *is* the original response: same id, no longer loading.
    assert inter.messages[0].id == inter.messages[1].id != inter.messages[2].id
    assert inter.deleted == [str(inter.messages[0].id)]
    assert [m.content for m in inter.shown_to_channel()] == ["original flags 0"]
    assert fake.unknown_routes == []


@pytest.mark.parametrize("delete_first", [False, True])
async def test_first_followup_after_a_defer_keeps_the_defers_visibility(
    fake: FakeDiscord, bot: TinyBot, delete_first: bool
) -> None:
    # Discord ignores flags: 64 on the followup that replaces a public "thinking" message, so the
    # "ephemeral" text is shown to everyone; deleting the thinking message first makes it private.
    inter = await fake.slash_command("leak", {"delete_first": delete_first})
    await inter.wait_followup(timeout=5, index=1)
    first, second = inter.messages
    assert first.payload["flags"] == 64 and first.ephemeral == delete_first
    assert second.ephemeral, "later followups keep their own flags"
    shown = [m.content for m in inter.shown_to_channel()]
    assert shown == ([] if delete_first else ["for your eyes only"])
    assert inter.deleted == (["@original"] if delete_first else [])


async def test_plain_channel_send_and_fetches(fake: FakeDiscord, bot: TinyBot) -> None:
    channel = await bot.fetch_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel) and channel.guild.id == fake.guild_id
    sent = await channel.send("hello", file=discord.File(io.BytesIO(PIC), "pic.png"))
    assert sent.attachments[0].filename == "pic.png" and await sent.attachments[0].read() == PIC
    sent_records = [(m.kind, m.content, m.files) for m in fake.channel_messages]
    assert sent_records == [("channel", "hello", [("pic.png", PIC)])]
    assert (await bot.fetch_user(fake.owner_id)).id == fake.owner_id
    assert await bot.is_owner(discord.Object(fake.owner_id))  # type: ignore[arg-type]
    with pytest.raises(discord.NotFound):
        await bot.fetch_channel(12345)
    assert fake.unknown_routes == []


async def test_concurrent_interactions_get_their_own_answers(fake: FakeDiscord, bot: TinyBot) -> None:
    songs = [bytes([i]) * (1000 + i) for i in range(4)]
    atts = [fake.add_attachment(f"s{i}.wav", s, "audio/wav") for i, s in enumerate(songs)]
    inters = [await fake.slash_command("rate", {"file": a, "note": str(i)}) for i, a in enumerate(atts)]
    msgs = await asyncio.gather(*(i.wait_followup(timeout=10) for i in inters))
    assert [m.files for m in msgs] == [[("pic.png", s[::-1])] for s in songs]
    assert [m.embeds[0]["title"] for m in msgs] == ["0", "1", "2", "3"]
    assert len({i.token for i in inters}) == len({i.id for i in inters}) == 4


async def test_heartbeats_are_acked_while_a_command_runs(fake: FakeDiscord, bot: TinyBot) -> None:
    before = len(fake.heartbeats)
    inter = await fake.slash_command("progress", {"seconds": 0.7})
    await inter.wait_message(lambda m: m.content == "done", timeout=5)
    assert len(fake.heartbeats) - before >= 2
    assert fake.connected and fake.identifies == 1 and fake.resumes == 0
    assert bot.latency < 1.0


async def test_late_ack_is_refused_like_discord(
    fake: FakeDiscord, bot: TinyBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.ack_deadline = 0.3  # the command answers after 0.4 s
    inter = await fake.slash_command("late", {})
    with pytest.raises(TimeoutError, match="no interaction response"):
        await inter.wait_response(timeout=1.0)
    callbacks = [r for r in fake.requests if r.path.endswith(f"/{inter.id}/{inter.token}/callback")]
    # The command's own reply and then the error handler's both come too late.
    assert [r.status for r in callbacks] == [404, 404]
    assert inter.messages == []


async def test_resume_after_reconnect_request(fake: FakeDiscord, bot: TinyBot) -> None:
    await fake.request_reconnect()
    await fake.wait_gateway(lambda f: f.resumes == 1 and f.connected, timeout=5)
    inter = await fake.slash_command("refuse", {"count": 1})
    assert (await inter.wait_response(timeout=3)).type == 4
    assert fake.identifies == 1


async def test_options_are_checked_against_the_synced_schema(fake: FakeDiscord, bot: TinyBot) -> None:
    with pytest.raises(ValueError, match="not in the synced schema"):
        await fake.slash_command("refuse", {"count": 1, "extra": "x"})
    with pytest.raises(ValueError, match="required options"):
        await fake.slash_command("rate", {"note": "no file"})
    with pytest.raises(ValueError, match="cannot take"):
        await fake.slash_command("refuse", {"count": "three"})
    assert fake.interactions == []


async def test_dm_interaction_carries_user_not_member(fake: FakeDiscord, bot: TinyBot) -> None:
    inter = await fake.slash_command("refuse", {"count": 2}, user_id=777, guild_id=None)
    assert "member" not in inter.payload and inter.payload["user"]["id"] == "777"
    # The commands are guild-only, so the tree does not find it and replies with the generic error.
    reply = await inter.wait_reply(timeout=3)
    assert reply.ephemeral and reply.content == "Something went wrong."


async def test_wrong_token_is_refused_and_shutdown_is_clean(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeDiscord() as fake:
        bot = TinyBot(fake.guild_id)
        with pytest.raises(discord.LoginFailure):
            await bot.start("not-the-token")
        await bot.close()
        assert [r.status for r in fake.requests] == [401]
        assert all("not-the-token" not in str(r) for r in fake.requests)

        bot = TinyBot(fake.guild_id)
        async with running_bot(fake, bot):
            assert fake.connected
        assert bot.is_closed()
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    gc.collect()
    await asyncio.sleep(0)
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Unclosed" in m or "Task was destroyed" in m]
    assert discord_errors(caplog) == []
