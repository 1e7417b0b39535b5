"""A fake Discord on 127.0.0.1 that the real discord.py client talks to: REST, gateway websocket, CDN.

The client is pointed here by patching two class attributes (``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``) for the lifetime of the context manager, and
``DiscordWebSocket.from_client`` is wrapped to learn which client connected (so ``wait_ready`` can wait
for its on_ready, and discord.py's 2 s wait after the last GUILD_CREATE is shortened). The
gateway sends plain text frames (the client asks for zlib-stream but reads text as it is). Every HTTP
request is recorded; routes the fake does not know answer 404 with a Discord-style JSON error and are
listed in ``unknown_routes`` so a test can assert none were hit.

Visibility follows Discord's rule: the first followup after a defer replaces the "thinking" message and
keeps the defer's flags (its own ``flags: 64`` is ignored), unless the bot deleted that message first;
``SentMessage.ephemeral`` is what users actually see, and ``FakeInteraction.shown_to_channel()`` lists
what the whole channel sees now.

    async with FakeDiscord() as fake:
        bot = MyBot(command_prefix="!", intents=discord.Intents.default())
        task = asyncio.create_task(bot.start(fake.token))
        await fake.wait_ready(timeout=10)
        att = fake.add_attachment("song.mp3", data, "audio/mpeg")
        inter = await fake.slash_command("rate", {"file": att})
        resp = await inter.wait_response(timeout=3)      # resp.type == 5 for a defer
        msg = await inter.wait_followup(timeout=30)      # msg.content, msg.embeds, msg.files
        await bot.close()
        await task

``running_bot(fake, bot)`` does the start / wait_ready / close / await dance as an async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any
from urllib.parse import quote

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # bytes; what Discord sends for an unboosted guild

# Application command option types (Discord API).
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, USER, NUMBER, ATTACHMENT = 1, 2, 3, 4, 5, 6, 10, 11
# Interaction callback types.
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT = 8
# Interaction types, contexts (where a command runs) and installation types (who added the app).
APPLICATION_COMMAND, APPLICATION_COMMAND_AUTOCOMPLETE = 2, 4
GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT = 0, 1, 2
GUILD_INSTALL, USER_INSTALL = 0, 1
# Gateway opcodes.
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME, OP_RECONNECT = 0, 1, 2, 6, 7
OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 8, 9, 10, 11


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the fake received; ``path`` is relative to the API base for API routes."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    parts: list[Part]
    at: float  # time.monotonic() on arrival
    status: int = 0


REC = web.RequestKey("rec", RecordedRequest)


@dataclass(frozen=True)
class Callback:
    """An interaction's initial response (POST /interactions/{id}/{token}/callback)."""

    type: int  # 4 message, 5 deferred message, 6 deferred update, 7 update message, 9 modal
    data: dict[str, Any]
    at: float  # seconds after the interaction was dispatched
    ephemeral: bool
    files: list[tuple[str, bytes]]


@dataclass(frozen=True)
class SentMessage:
    """A message the bot produced: its state right after this request.

    ``kind`` is "response" (callback type 4), "followup", "edit" (of @original or of a followup),
    "channel" (POST /channels/{id}/messages) or "current" (from ``shown_to_channel``). A first followup
    after a defer is the original message (same id) with the defer's visibility. For edits,
    content/embeds/files are the message after the edit, ``payload`` is what the client sent.
    """

    kind: str
    id: int
    content: str
    embeds: list[dict[str, Any]]
    files: list[tuple[str, bytes]]
    ephemeral: bool
    at: float  # seconds after the interaction was dispatched (or after the fake started, for "channel")
    payload: dict[str, Any]
    components: list[dict[str, Any]] = field(default_factory=list)


class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    def __init__(self, fake: FakeDiscord, payload: dict[str, Any]) -> None:
        self._fake = fake
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.dispatched_at = time.monotonic()
        self.response: Callback | None = None
        self.response_message: SentMessage | None = None  # the message of a type 4 response, as sent
        self.messages: list[SentMessage] = []  # followups and edits, in arrival order
        self.deleted: list[str] = []  # "@original" or message ids the bot deleted
        self._original: dict[str, Any] | None = None
        # True from a defer until the "thinking" message is replaced (by the first followup or an edit of
        # @original) or deleted: while it holds, a followup becomes that message and keeps its flags.
        self._thinking = False
        self._followups: dict[int, dict[str, Any]] = {}
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return f"<FakeInteraction {self.describe()}>"

    def describe(self) -> str:
        """A one-line summary of the command and what came back, for failure messages."""
        data = self.payload["data"]
        resp = "no response" if self.response is None else f"response type {self.response.type}"
        return f"{data['name']!r} id={self.id}: {resp}, {len(self.messages)} message(s)"

    def elapsed(self) -> float:
        """Seconds since dispatch."""
        return time.monotonic() - self.dispatched_at

    async def wait_for(
        self, predicate: Callable[[FakeInteraction], Any], timeout: float, what: str = "condition"  # noqa: ASYNC109
    ) -> Any:
        """Wait until ``predicate(self)`` is truthy and return its value; TimeoutError names ``what``."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: predicate(self))
            except TimeoutError:
                raise TimeoutError(f"no {what} within {timeout:g}s for {self.describe()}") from None
            return predicate(self)

    async def wait_response(self, timeout: float = 3.0) -> Callback:  # noqa: ASYNC109
        """The initial response (a defer is ``type == 5``)."""
        return await self.wait_for(lambda i: i.response, timeout, "interaction response")

    async def wait_followup(self, timeout: float = 30.0, *, index: int = 0) -> SentMessage:  # noqa: ASYNC109
        """The ``index``-th followup or edit (of @original or a followup), in arrival order."""
        return await self.wait_for(
            lambda i: i.messages[index] if len(i.messages) > index else None, timeout, f"followup #{index}"
        )

    async def wait_reply(self, timeout: float = 30.0) -> SentMessage:  # noqa: ASYNC109
        """The first visible reply: an immediate response message (type 4), else the first followup/edit."""

        return await self.wait_for(
            lambda i: i.response_message or (i.messages[0] if i.messages else None), timeout, "reply"
        )

    async def wait_message(
        self, predicate: Callable[[SentMessage], bool], timeout: float = 30.0  # noqa: ASYNC109
    ) -> SentMessage:
        """The first followup/edit for which ``predicate`` holds, e.g. the final edit after progress ones."""
        return await self.wait_for(
            lambda i: next((m for m in i.messages if predicate(m)), None), timeout, "matching message"
        )

    def shown_to_channel(self) -> list[SentMessage]:
        """The messages of this interaction that everyone in the channel sees now.

        The public original response (a "thinking" placeholder included) unless deleted, and the public
        followups not deleted; ephemeral messages are seen by the invoking user alone. A private answer
        leaves this empty.
        """
        current = ([self._original] if self._original is not None else []) + list(self._followups.values())
        at = self.elapsed()
        return [
            self._sent("current", message, at, {})
            for message in current
            if not int(message.get("flags", 0)) & EPHEMERAL
        ]

    def _sent(self, kind: str, message: dict[str, Any], at: float, payload: dict[str, Any]) -> SentMessage:
        return SentMessage(
            kind=kind,
            id=int(message.get("id", 0)),
            content=message.get("content", ""),
            embeds=list(message.get("embeds", [])),
            files=[(a["filename"], self._fake._cdn_bytes(a["id"])) for a in message.get("attachments", [])],
            ephemeral=bool(int(message.get("flags", 0)) & EPHEMERAL),
            at=at,
            payload=payload,
            components=list(message.get("components", [])),
        )

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _snowflakes() -> Iterator[int]:
    for n in itertools.count(1):
        yield ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (n & 0x3FFFFF)


def _iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _error(status: int, message: str, code: int = 0) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


class FakeDiscord:
    """Fake Discord REST API, gateway and CDN on an ephemeral 127.0.0.1 port.

    Parameters
    ----------
    heartbeat_interval : float
        Seconds announced in HELLO; short so heartbeats are seen within a test.
    ack_deadline : float
        Seconds after dispatch within which the interaction callback is accepted (Discord: 3).
    guild_ready_timeout : float or None
        Set on the connecting client so ``on_ready`` fires this many seconds after the last
        GUILD_CREATE instead of discord.py's default 2 s; None leaves the client's value.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: float = 1.0,
        ack_deadline: float = 3.0,
        guild_ready_timeout: float | None = 0.05,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.ack_deadline = ack_deadline
        self.guild_ready_timeout = guild_ready_timeout
        self._ids = _snowflakes()
        self.token = f"fake.{secrets.token_urlsafe(24)}"
        self.application_id = self.bot_user_id = self._next_id()
        self.owner_id = self._next_id()
        self.user_id = self._next_id()  # the default invoker
        self.guild_id = self._next_id()
        self.channel_id = self._next_id()
        self.started_at = time.monotonic()

        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.synced_commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: list[FakeInteraction] = []
        self.channel_messages: list[SentMessage] = []
        self.heartbeats: list[float] = []  # monotonic times of HEARTBEATs received
        self.identifies = 0
        self.resumes = 0
        self.gateway_received: list[dict[str, Any]] = []  # every gateway payload but heartbeats

        self._attachments: dict[int, tuple[str, bytes, str]] = {}  # id -> (filename, data, content type)
        self._by_token: dict[str, FakeInteraction] = {}
        self._dm_channel_ids: dict[int, int] = {}  # user id -> DM channel id
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._ws: web.WebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._all_ws: set[web.WebSocketResponse] = set()
        self._sessions: set[str] = set()
        self._seq = 0
        self._missed: list[dict[str, Any]] | None = None  # dispatched while a dropped session is away
        self._ready = asyncio.Event()
        self._gateway_changed = asyncio.Condition()
        self._clients: list[discord.Client] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._saved: dict[str, Any] = {}
        # (which edit bodies, the error's status, message and code): see refusing_edits.
        self._refusals: list[tuple[Callable[[dict[str, Any]], bool], int, str, int]] = []

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        self._add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._patch_discord()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # A client left running would reconnect to the real gateway once the patches are undone.
        for client in self._clients:
            if not client.is_closed():
                await client.close()
        self._restore_discord()
        for ws in list(self._all_ws):
            await ws.close(code=1001, message=b"fake discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    def _patch_discord(self) -> None:
        route, gateway = discord.http.Route, discord.gateway.DiscordWebSocket
        self._saved = {
            "BASE": route.BASE,
            "DEFAULT_GATEWAY": gateway.DEFAULT_GATEWAY,
            "from_client": gateway.__dict__["from_client"],
        }
        route.BASE = self.base_url + API_PREFIX
        gateway.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        original = self._saved["from_client"].__func__
        fake = self

        # Wrapping from_client is the one place the fake learns which client connected, so that
        # wait_ready can wait for on_ready and shorten discord.py's 2 s wait after the last guild.
        async def from_client(cls: type, client: discord.Client, **kwargs: Any) -> Any:
            if client not in fake._clients:
                fake._clients.append(client)
            if fake.guild_ready_timeout is not None:
                client._connection.guild_ready_timeout = fake.guild_ready_timeout
            return await original(cls, client, **kwargs)

        gateway.from_client = classmethod(from_client)  # type: ignore[method-assign,assignment]

    def _restore_discord(self) -> None:
        if not self._saved:
            return
        discord.http.Route.BASE = self._saved["BASE"]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved["DEFAULT_GATEWAY"]
        discord.gateway.DiscordWebSocket.from_client = self._saved["from_client"]  # type: ignore[method-assign]
        self._saved = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def connected(self) -> bool:
        """Whether a client holds an identified (or resumed) gateway connection."""
        return self._ws is not None and not self._ws.closed

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until a client identified, got READY and GUILD_CREATE, and its on_ready was dispatched."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
                for client in self._clients:
                    if not client.is_closed():
                        await client.wait_until_ready()
        except TimeoutError:
            raise TimeoutError(
                f"the client did not become ready within {timeout:g}s "
                f"(identifies={self.identifies}, unknown routes={self.unknown_routes})"
            ) from None
        await asyncio.sleep(0)  # let the on_ready task start

    async def wait_gateway(
        self, predicate: Callable[[FakeDiscord], bool], timeout: float = 5.0  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate(fake)`` holds; it is re-checked on every gateway connect, close,
        IDENTIFY, RESUME and HEARTBEAT (e.g. ``lambda f: f.resumes == 1 and f.connected``)."""
        async with self._gateway_changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._gateway_changed.wait_for(lambda: predicate(self))
            except TimeoutError:
                raise TimeoutError(
                    f"gateway condition not met within {timeout:g}s (identifies={self.identifies}, "
                    f"resumes={self.resumes}, connected={self.connected})"
                ) from None

    async def _gateway_notify(self) -> None:
        async with self._gateway_changed:
            self._gateway_changed.notify_all()

    def _next_id(self) -> int:
        return next(self._ids)

    # --- payload builders ------------------------------------------------------------------------

    def make_user(
        self, user_id: int | None = None, *, name: str | None = None, bot: bool = False
    ) -> dict[str, Any]:
        """A Discord user object; ``user_id`` defaults to the default invoker ``self.user_id``."""
        user_id = self.user_id if user_id is None else user_id
        return {
            "id": str(user_id),
            "username": name or f"user{user_id % 10_000}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def bot_user(self) -> dict[str, Any]:
        return {
            **self.make_user(self.bot_user_id, name="Needle Bot", bot=True),
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    def make_member(self, user_id: int | None = None, *, permissions: int | None = None) -> dict[str, Any]:
        """A guild member object as interactions carry it (with ``permissions``)."""
        if permissions is None:
            permissions = (discord.Permissions.general() | discord.Permissions.text()).value
        return {
            "user": self.make_user(user_id),
            "roles": [],
            "nick": None,
            "avatar": None,
            "joined_at": _iso_now(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "permissions": str(permissions),
        }

    def channel(self) -> dict[str, Any]:
        """The guild's one text channel."""
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "music",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def dm_channel(self, user_id: int) -> dict[str, Any]:
        recipients = [self.make_user(user_id)]
        channel_id = self._dm_channel_ids.setdefault(user_id, self._next_id())
        return {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": recipients}

    def guild(self) -> dict[str, Any]:
        """The full guild object sent in GUILD_CREATE."""
        everyone = discord.Permissions.general() | discord.Permissions.text()
        return {
            "id": str(self.guild_id),
            "name": "Fake Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "color": 0,
                    "hoist": False,
                    "position": 0,
                    "permissions": str(everyone.value),
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _iso_now(),
            "large": False,
            "unavailable": False,
            "member_count": 2,
            "voice_states": [],
            "members": [{**self.make_member(self.bot_user_id), "user": self.bot_user()}],
            "channels": [{k: v for k, v in self.channel().items() if k != "guild_id"}],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def add_attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        """Serve ``data`` from the fake CDN and return the attachment object that references it."""
        att_id = self._next_id()
        self._attachments[att_id] = (filename, data, content_type)
        return self._attachment_object(att_id)

    def _attachment_object(self, att_id: int) -> dict[str, Any]:
        filename, data, content_type = self._attachments[att_id]
        # Quoted whole, so that a name like "../x.mp3" stays one path segment, as on Discord's CDN.
        url = f"{self.base_url}/attachments/{self.channel_id}/{att_id}/{quote(filename, safe='')}"
        return {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url.replace("/attachments/", "/media-proxy/attachments/", 1),
            "content_type": content_type,
        }

    def _cdn_bytes(self, att_id: str | int) -> bytes:
        return self._attachments[int(att_id)][1]

    def make_message(
        self,
        *,
        content: str = "",
        attachments: list[dict[str, Any]] | None = None,
        author_id: int | None = None,
        embeds: list[dict[str, Any]] | None = None,
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        """A message object, e.g. the target of a message context menu."""
        return {
            "id": str(self._next_id()),
            "channel_id": str(channel_id or self.channel_id),
            "type": 0,
            "content": content,
            "author": self.make_user(author_id),
            "attachments": list(attachments or []),
            "embeds": list(embeds or []),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
        }

    # --- dispatching interactions ----------------------------------------------------------------

    async def slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
        guild_id: int | EllipsisType | None = ...,
        user_install: bool = False,
        private_channel: bool = False,
        focused: str | None = None,
    ) -> FakeInteraction:
        """Dispatch a chat-input command ("name" or "group sub" for subcommands).

        Options are typed from the synced command schema when one was synced (unknown or missing
        required options raise ValueError, as Discord would never send them); otherwise inferred:
        str -> STRING, bool -> BOOLEAN, int -> INTEGER, float -> NUMBER, attachment dict -> ATTACHMENT.
        ``guild_id`` defaults to the fake guild; None makes it a DM with the bot, or with
        ``private_channel`` a group DM or DM between users. ``user_install`` sends it as through a user's
        install of the app (in a guild: one that never added the bot). A command whose synced
        ``contexts``/``integration_types`` leave that out raises ValueError: Discord never offers it.
        ``focused`` names an option being typed: an autocomplete interaction (type 4) is sent instead,
        answered by callback type 8 (``Callback.data["choices"]``).
        """
        guild_id = self.guild_id if guild_id is ... else guild_id
        path = name.split()
        scope, schema = self._find_command(path[0], 1, guild_id)
        resolved: dict[str, dict[str, Any]] = {}
        schema_options = schema.get("options") if schema is not None else None
        for sub in path[1:]:
            sub_schema = self._find_option(schema_options, sub) if schema_options is not None else None
            if schema_options is not None and sub_schema is None:
                raise ValueError(f"/{path[0]} has no subcommand {sub!r}")
            schema_options = sub_schema.get("options", []) if sub_schema is not None else None
        if focused is not None and schema_options is not None:
            # While typing, required options may be missing and the focused one is incomplete text.
            schema_options = [{**o, "required": False} for o in schema_options]
        built = self._build_options(dict(options or {}), schema_options, resolved, guild_id)
        for option in built:
            if option["name"] == focused:
                option["focused"] = True
        for depth, sub in reversed(list(enumerate(path[1:], start=1))):
            kind = SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP
            built = [{"name": sub, "type": kind, "options": built}]
        data: dict[str, Any] = {"id": self._command_id(scope, path[0], 1, schema), "name": path[0], "type": 1}
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        kind = APPLICATION_COMMAND if focused is None else APPLICATION_COMMAND_AUTOCOMPLETE
        self._check_offered(schema, guild_id, user_install=user_install, private_channel=private_channel)
        return await self._dispatch_command(
            data, scope, user_id, guild_id, kind=kind, user_install=user_install,
            private_channel=private_channel,
        )

    @staticmethod
    def _check_offered(
        schema: dict[str, Any] | None, guild_id: int | None, *, user_install: bool, private_channel: bool
    ) -> None:
        if schema is None:
            return
        context = BOT_DM_CONTEXT
        if guild_id is not None:
            context = GUILD_CONTEXT
        elif private_channel:
            context = PRIVATE_CHANNEL_CONTEXT
        install = USER_INSTALL if user_install else GUILD_INSTALL
        # Discord's defaults: every context, and guild installs only.
        every = [GUILD_CONTEXT, BOT_DM_CONTEXT, PRIVATE_CHANNEL_CONTEXT]
        if context not in (schema.get("contexts") or every):
            raise ValueError(f"/{schema['name']} is not offered in context {context}")
        if install not in (schema.get("integration_types") or [GUILD_INSTALL]):
            raise ValueError(f"/{schema['name']} is not offered to installation type {install}")

    async def message_command(
        self,
        name: str,
        *,
        message: dict[str, Any],
        user_id: int | None = None,
        guild_id: int | EllipsisType | None = ...,
    ) -> FakeInteraction:
        """Dispatch a message context-menu command on ``message`` (see ``make_message``)."""
        guild_id = self.guild_id if guild_id is ... else guild_id
        scope, schema = self._find_command(name, 3, guild_id)
        data = {
            "id": self._command_id(scope, name, 3, schema),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}},
        }
        return await self._dispatch_command(data, scope, user_id, guild_id)

    def _find_command(
        self, name: str, ctype: int, guild_id: int | None
    ) -> tuple[int | None, dict[str, Any] | None]:
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self.synced_commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return scope, cmd
        return None, None

    def _command_id(self, scope: int | None, name: str, ctype: int, schema: dict[str, Any] | None) -> str:
        if schema is not None:
            return schema["id"]
        return str(self._command_ids.setdefault((scope, name, ctype), self._next_id()))

    @staticmethod
    def _find_option(options: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
        return next((o for o in options if o["name"] == name), None)

    def _build_options(
        self,
        values: dict[str, Any],
        schema: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
    ) -> list[dict[str, Any]]:
        if schema is not None:
            unknown = set(values) - {o["name"] for o in schema}
            if unknown:
                raise ValueError(f"options {sorted(unknown)} are not in the synced schema")
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"required options {missing} are missing")
        built = []
        for name, value in values.items():
            spec = self._find_option(schema, name) if schema is not None else None
            otype = spec["type"] if spec is not None else self._infer_type(name, value)
            choices = [c["value"] for c in spec.get("choices") or []] if spec is not None else []
            if choices and value not in choices:
                raise ValueError(f"{value!r} is not one of the choices {choices} of option {name!r}")
            encoded = self._encode(name, otype, value, resolved, guild_id)
            built.append({"name": name, "type": otype, "value": encoded})
        return built

    @staticmethod
    def _infer_type(name: str, value: Any) -> int:
        if isinstance(value, bool):
            return BOOLEAN
        if isinstance(value, int):
            return INTEGER
        if isinstance(value, float):
            return NUMBER
        if isinstance(value, str):
            return STRING
        if isinstance(value, dict) and "filename" in value:
            return ATTACHMENT
        raise TypeError(f"cannot infer the option type of {name!r} from {type(value).__name__}")

    def _encode(
        self, name: str, otype: int, value: Any, resolved: dict[str, dict[str, Any]], guild_id: int | None
    ) -> Any:
        checks: dict[int, Callable[[Any], bool]] = {
            STRING: lambda v: isinstance(v, str),
            INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
            NUMBER: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            BOOLEAN: lambda v: isinstance(v, bool),
            ATTACHMENT: lambda v: isinstance(v, dict) and "filename" in v,
            USER: lambda v: isinstance(v, int) and not isinstance(v, bool),
        }
        if otype not in checks:
            raise ValueError(f"option {name!r}: type {otype} is not supported by the fake")
        if not checks[otype](value):
            raise ValueError(f"option {name!r} of type {otype} cannot take {value!r}")
        if otype == ATTACHMENT:
            resolved.setdefault("attachments", {})[value["id"]] = value
            return value["id"]
        if otype == USER:
            resolved.setdefault("users", {})[str(value)] = self.make_user(value)
            if guild_id is not None:
                member = self.make_member(value)
                del member["user"]
                resolved.setdefault("members", {})[str(value)] = member
            return str(value)
        return value

    async def _dispatch_command(
        self,
        data: dict[str, Any],
        scope: int | None,
        user_id: int | None,
        guild_id: int | None,
        *,
        kind: int = APPLICATION_COMMAND,
        user_install: bool = False,
        private_channel: bool = False,
    ) -> FakeInteraction:
        if scope is not None:
            data["guild_id"] = str(scope)
        user_id = self.user_id if user_id is None else user_id
        payload: dict[str, Any] = {
            "id": str(self._next_id()),
            "application_id": str(self.application_id),
            "type": kind,
            "token": f"aW50ZXJhY3Rpb24.{secrets.token_urlsafe(32)}",
            "version": 1,
            "data": data,
            "app_permissions": str((discord.Permissions.general() | discord.Permissions.text()).value),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "locale": "en-US",
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild_id is not None:
            payload |= {
                "guild_id": str(guild_id),
                "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "channel_id": str(self.channel_id),
                "channel": {**self.channel(), "permissions": payload["app_permissions"]},
                "member": self.make_member(user_id),
                "authorizing_integration_owners": {"0": str(guild_id)},
                "context": GUILD_CONTEXT,
            }
        elif private_channel:
            # A group DM the bot is not in: only the user's install can be what answers.
            channel = {"id": str(self._next_id()), "type": 3, "recipients": [self.make_user(user_id)]}
            payload |= {
                "channel_id": channel["id"],
                "channel": channel,
                "user": self.make_user(user_id),
                "context": PRIVATE_CHANNEL_CONTEXT,
            }
        else:
            channel = self.dm_channel(user_id)
            payload |= {
                "channel_id": channel["id"],
                "channel": channel,
                "user": self.make_user(user_id),
                "authorizing_integration_owners": {"0": "0"},
                "context": BOT_DM_CONTEXT,
            }
        if user_install:
            payload["authorizing_integration_owners"] = {str(USER_INSTALL): str(user_id)}
        inter = FakeInteraction(self, payload)
        self.interactions.append(inter)
        self._by_token[inter.token] = inter
        await self.dispatch("INTERACTION_CREATE", payload)
        inter.dispatched_at = time.monotonic()
        return inter

    # --- gateway ---------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one DISPATCH event to the connected client; while a dropped session waits to resume,
        keep it for the RESUME to replay (as Discord does)."""
        if not self.connected and self._missed is None:
            raise RuntimeError(f"cannot dispatch {event}: no client is connected to the fake gateway")
        self._seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": self._seq, "d": data}
        if self._missed is not None and not self.connected:
            self._missed.append(payload)
            return
        await self._send(self._ws, payload)

    async def request_reconnect(self) -> None:
        """Send RECONNECT (op 7): the client closes the socket and RESUMEs on a new one."""
        if self._ws is None:
            raise RuntimeError("no client is connected to the fake gateway")
        await self._send(self._ws, {"op": OP_RECONNECT, "d": None})

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the client's gateway socket with ``code``, as Discord does when a gateway node restarts.

        4000 ("unknown error") is resumable: discord.py reconnects and RESUMEs on a new socket, and the
        fake accepts the session (``resumes`` counts it). REST calls, interaction followups included, do
        not use the socket and carry on meanwhile; events dispatched until the RESUME are replayed then.
        """
        if self._ws is None:
            raise RuntimeError("no client is connected to the fake gateway")
        ws, self._ws, self._missed = self._ws, None, []
        await ws.close(code=code, message=b"fake discord dropped the connection")
        await self._gateway_notify()

    async def _send(self, ws: web.WebSocketResponse | None, payload: dict[str, Any]) -> None:
        assert ws is not None
        async with self._ws_lock:
            await ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._all_ws.add(ws)
        try:
            hello = {"heartbeat_interval": int(self.heartbeat_interval * 1000)}  # milliseconds
            await self._send(ws, {"op": OP_HELLO, "d": hello})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_gateway_message(ws, json.loads(msg.data))
                await self._gateway_notify()
        finally:
            self._all_ws.discard(ws)
            if self._ws is ws:
                self._ws = None
            await self._gateway_notify()
        return ws

    async def _on_gateway_message(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats.append(time.monotonic())
            await self._send(ws, {"op": OP_HEARTBEAT_ACK})
            return
        # The token never goes into what a test can print.
        self.gateway_received.append({"op": op, "d": self._redact(data)})
        if op == OP_IDENTIFY:
            await self._identify(ws, data)
        elif op == OP_RESUME:
            await self._resume(ws, data)
        elif op == OP_REQUEST_MEMBERS:
            members = [{**self.make_member(self.bot_user_id), "user": self.bot_user()}]
            chunk = {"guild_id": data["guild_id"], "members": members, "chunk_index": 0, "chunk_count": 1}
            if data.get("nonce"):
                chunk["nonce"] = data["nonce"]
            self._ws = ws
            await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    @staticmethod
    def _redact(data: Any) -> Any:
        if isinstance(data, dict) and "token" in data:
            return {**data, "token": "<redacted>"}
        return data

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies += 1
        self._missed = None  # a new session: what the old one missed is gone, as on Discord
        session_id = secrets.token_hex(16)
        self._sessions.add(session_id)
        self._ws, self._seq = ws, 0
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user(),
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self.dispatch("READY", ready)
        await self.dispatch("GUILD_CREATE", self.guild())
        self._ready.set()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token or data.get("session_id") not in self._sessions:
            await self._send(ws, {"op": OP_INVALID_SESSION, "d": False})
            return
        self.resumes += 1
        self._ws, missed, self._missed = ws, self._missed or [], None
        for payload in missed:
            if payload["s"] > (data.get("seq") or 0):
                await self._send(ws, payload)
        await self.dispatch("RESUMED", {})

    # --- HTTP ------------------------------------------------------------------------------------

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        api = API_PREFIX
        hook = api + "/webhooks/{app}/{token}"
        routes: list[tuple[str, str, Callable[[web.Request], Any]]] = [
            ("GET", "/gateway", self._gateway),
            ("GET", "/attachments/{channel}/{att}/{filename}", self._cdn),
            ("GET", "/media-proxy/attachments/{channel}/{att}/{filename}", self._cdn),
            ("GET", api + "/users/@me", self._get_me),
            ("GET", api + "/oauth2/applications/@me", self._get_application),
            ("GET", api + "/gateway", self._get_gateway),
            ("GET", api + "/gateway/bot", self._get_gateway),
            ("GET", api + "/applications/{app}/commands", self._get_commands),
            ("PUT", api + "/applications/{app}/commands", self._put_commands),
            ("GET", api + "/applications/{app}/guilds/{guild}/commands", self._get_commands),
            ("PUT", api + "/applications/{app}/guilds/{guild}/commands", self._put_commands),
            ("POST", api + "/interactions/{id}/{token}/callback", self._callback),
            ("POST", hook, self._followup),
            ("GET", hook + "/messages/{message}", self._get_webhook_message),
            ("PATCH", hook + "/messages/{message}", self._edit_webhook_message),
            ("DELETE", hook + "/messages/{message}", self._delete_webhook_message),
            ("GET", api + "/channels/{channel}", self._get_channel),
            ("POST", api + "/channels/{channel}/messages", self._post_channel_message),
            ("GET", api + "/users/{user}", self._get_user),
        ]
        for method, path, handler in routes:
            router.add_route(method, path, handler)
        router.add_route("*", "/{tail:.*}", self._unknown)

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        path = request.path.removeprefix(API_PREFIX)
        rec = RecordedRequest(request.method, path, dict(request.query), None, [], time.monotonic())
        if request.path != "/gateway":
            await self._read_body(request, rec)
        request[REC] = rec
        self.requests.append(rec)
        if self._needs_bot_auth(request) and request.headers.get("Authorization") != f"Bot {self.token}":
            rec.status = 401
            return _error(401, "401: Unauthorized")
        response = await handler(request)
        rec.status = response.status
        return response

    @staticmethod
    def _needs_bot_auth(request: web.Request) -> bool:
        path = request.path
        if not path.startswith(API_PREFIX):
            return False
        return not path.startswith((API_PREFIX + "/interactions/", API_PREFIX + "/webhooks/"))

    @staticmethod
    async def _read_body(request: web.Request, rec: RecordedRequest) -> None:
        if not request.can_read_body:
            return
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read(decode=False)  # type: ignore[union-attr]
                rec.parts.append(
                    Part(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data))
                )
                if part.name == "payload_json":
                    rec.json = json.loads(data)
        elif request.content_type == "application/json":
            rec.json = await request.json()

    async def _unknown(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(API_PREFIX)
        self.unknown_routes.append((request.method, path))
        log.warning("fake discord: unknown route %s %s", request.method, path)
        return _error(404, "404: Not Found")

    async def _cdn(self, request: web.Request) -> web.Response:
        try:
            filename, data, content_type = self._attachments[int(request.match_info["att"])]
        except (KeyError, ValueError):
            return web.Response(status=404, text="Not Found")
        if filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type=content_type)

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json(self.bot_user())

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Needle Bot",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.make_user(self.owner_id, name="owner"),
                "team": None,
                "verify_key": secrets.token_hex(32),
                "flags": 0,
                "summary": "",
                "bot": self.bot_user(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _scope(self, request: web.Request) -> int | web.Response | None:
        if request.match_info["app"] != str(self.application_id):
            return _error(403, "Missing Access", 50001)
        guild = request.match_info.get("guild")
        if guild is None:
            return None
        if guild != str(self.guild_id):
            return _error(403, "Missing Access", 50001)
        return int(guild)

    async def _get_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        return _json(self.synced_commands.get(scope, []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        body = request[REC].json
        if not isinstance(body, list):
            return _error(400, "Invalid Form Body", 50035)
        commands = []
        for cmd in body:
            ctype = cmd.get("type", 1)
            # Discord keeps a command's id across re-syncs of the same name and type.
            cmd_id = self._command_ids.setdefault((scope, cmd["name"], ctype), self._next_id())
            full = {
                "id": str(cmd_id),
                "application_id": str(self.application_id),
                "version": str(self._next_id()),
                "type": ctype,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                **cmd,
            }
            if scope is not None:
                full["guild_id"] = str(scope)
            commands.append(full)
        self.synced_commands[scope] = commands
        return _json(commands)

    def _interaction_for(self, request: web.Request) -> FakeInteraction | None:
        inter = self._by_token.get(request.match_info["token"])
        if inter is None or request.match_info["app"] != str(self.application_id):
            return None
        return inter

    def _store_files(self, rec: RecordedRequest) -> dict[str, dict[str, Any]]:
        """Put uploaded files[n] on the CDN; map their form index ("n") to attachment objects."""
        stored = {}
        for part in rec.parts:
            if part.name.startswith("files[") and part.filename is not None:
                content_type = part.content_type or "application/octet-stream"
                att = self.add_attachment(part.filename, part.data, content_type)
                stored[part.name[len("files[") : -1]] = att
        return stored

    def _message_from(
        self, body: dict[str, Any], rec: RecordedRequest, *, interaction: FakeInteraction | None
    ) -> dict[str, Any]:
        uploaded = self._store_files(rec)
        message = self.make_message(content=body.get("content") or "", embeds=body.get("embeds"))
        message |= {
            "author": self.bot_user(),
            "attachments": list(uploaded.values()),
            "flags": int(body.get("flags") or 0),
            "components": body.get("components") or [],
        }
        if interaction is not None:
            kind = interaction.payload["data"].get("type", 1)
            message |= {
                "type": 20 if kind == 1 else 23,
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "channel_id": interaction.payload["channel_id"],
            }
        return message

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any], rec: RecordedRequest) -> None:
        uploaded = self._store_files(rec)
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "attachments" in body:
            kept = {a["id"]: a for a in message["attachments"]}
            message["attachments"] = [
                kept.get(str(a["id"])) or uploaded[str(a["id"])]
                for a in body["attachments"]
                if str(a["id"]) in kept or str(a["id"]) in uploaded
            ]
        else:
            message["attachments"] += list(uploaded.values())
        message["flags"] = int(message.get("flags", 0)) & ~LOADING
        message["edited_timestamp"] = _iso_now()

    async def _callback(self, request: web.Request) -> web.Response:
        rec: RecordedRequest = request[REC]
        inter = self._by_token.get(request.match_info["token"])
        if inter is None or request.match_info["id"] != str(inter.id):
            return _error(404, "Unknown interaction", 10062)
        if inter.response is not None:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        at = inter.elapsed()
        if at > self.ack_deadline:
            log.warning("fake discord: interaction %s acknowledged after %.2fs", inter.id, at)
            return _error(404, "Unknown interaction", 10062)
        body = rec.json if isinstance(rec.json, dict) else {}
        ctype, data = int(body.get("type", 0)), body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if (ctype == AUTOCOMPLETE_RESULT) != (inter.payload["type"] == APPLICATION_COMMAND_AUTOCOMPLETE):
            return _error(400, "Interaction response type is not valid for this interaction", 50035)
        if ctype == AUTOCOMPLETE_RESULT and len(data.get("choices") or []) > 25:
            return _error(400, "Invalid Form Body: at most 25 choices", 50035)
        if ctype == CHANNEL_MESSAGE:
            inter._original = self._message_from(data, rec, interaction=inter)
        elif ctype == DEFERRED_CHANNEL_MESSAGE:
            inter._original = self._message_from({"flags": flags | LOADING}, rec, interaction=inter)
            inter._thinking = True
        uploads = (inter._original or {}).get("attachments", [])
        files = [(a["filename"], self._cdn_bytes(a["id"])) for a in uploads]
        inter.response = Callback(ctype, data, at, bool(flags & EPHEMERAL), files)
        if ctype == CHANNEL_MESSAGE:
            inter.response_message = inter._sent("response", inter._original or {}, at, data)
        await inter._notify()
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": 2,
                "response_message_loading": ctype == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if inter._original is not None and ctype in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            result["interaction"]["response_message_id"] = inter._original["id"]
            result["resource"] = {"type": ctype, "message": inter._original}
        return _json(result)

    async def _followup(self, request: web.Request) -> web.Response:
        rec: RecordedRequest = request[REC]
        inter = self._interaction_for(request)
        if inter is None or inter.response is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._message_from(rec.json or {}, rec, interaction=inter)
        if inter._thinking and inter._original is not None:
            # Discord: the first followup after a defer replaces the "thinking" message and keeps the
            # defer's flags; its own flags (ephemeral included) are ignored.
            message |= {"id": inter._original["id"], "flags": int(inter._original["flags"]) & ~LOADING}
            inter._original, inter._thinking = message, False
        else:
            inter._followups[int(message["id"])] = message
        inter.messages.append(inter._sent("followup", message, inter.elapsed(), rec.json or {}))
        await inter._notify()
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    def _webhook_message(self, inter: FakeInteraction, ref: str) -> dict[str, Any] | None:
        if ref == "@original" or (inter._original is not None and ref == str(inter._original["id"])):
            return inter._original
        return inter._followups.get(int(ref)) if ref.isdigit() else None

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for(request)
        message = self._webhook_message(inter, request.match_info["message"]) if inter else None
        if message is None:
            return _error(404, "Unknown Message", 10008)
        return _json(message)

    @contextlib.contextmanager
    def refusing_edits(
        self, which: Callable[[dict[str, Any]], bool], status: int = 404, message: str = "Unknown Message",
        code: int = 10008,
    ) -> Iterator[list[dict[str, Any]]]:
        """While in the block, an edit of an interaction's message whose JSON body ``which`` accepts is
        answered with that error (by default: the message was deleted meanwhile) and not applied.

        Yields
        ------
        list[dict[str, Any]]
            The bodies of the edits refused so far.
        """
        refused: list[dict[str, Any]] = []

        def recording(body: dict[str, Any]) -> bool:
            if which(body):
                refused.append(body)
                return True
            return False

        entry = (recording, status, message, code)
        self._refusals.append(entry)
        try:
            yield refused
        finally:
            self._refusals.remove(entry)

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        rec: RecordedRequest = request[REC]
        inter = self._interaction_for(request)
        message = self._webhook_message(inter, request.match_info["message"]) if inter else None
        if inter is None or message is None:
            return _error(404, "Unknown Message", 10008)
        for which, status, text, code in self._refusals:
            if which(rec.json or {}):
                return _error(status, text, code)
        self._apply_edit(message, rec.json or {}, rec)
        if message is inter._original:
            inter._thinking = False
        inter.messages.append(inter._sent("edit", message, inter.elapsed(), rec.json or {}))
        await inter._notify()
        return _json(message)

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for(request)
        ref = request.match_info["message"]
        message = self._webhook_message(inter, ref) if inter else None
        if inter is None or message is None:
            return _error(404, "Unknown Message", 10008)
        if message is inter._original:
            # With the "thinking" message gone, the next followup is a new message with its own flags.
            inter._original, inter._thinking = None, False
        else:
            del inter._followups[int(ref)]
        inter.deleted.append(ref)
        await inter._notify()
        return web.Response(status=204)

    async def _get_channel(self, request: web.Request) -> web.Response:
        if request.match_info["channel"] != str(self.channel_id):
            return _error(404, "Unknown Channel", 10003)
        return _json(self.channel())

    async def _post_channel_message(self, request: web.Request) -> web.Response:
        rec: RecordedRequest = request[REC]
        channel = request.match_info["channel"]
        if channel != str(self.channel_id):
            return _error(404, "Unknown Channel", 10003)
        message = self._message_from(rec.json or {}, rec, interaction=None) | {"channel_id": channel}
        at = time.monotonic() - self.started_at
        self.channel_messages.append(
            SentMessage(
                kind="channel",
                id=int(message["id"]),
                content=message["content"],
                embeds=message["embeds"],
                files=[(a["filename"], self._cdn_bytes(a["id"])) for a in message["attachments"]],
                ephemeral=False,
                at=at,
                payload=rec.json or {},
                components=message["components"],
            )
        )
        return _json(message)

    async def _get_user(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        if not user.isdigit():
            return _error(404, "Unknown User", 10013)
        return _json(self.bot_user() if int(user) == self.bot_user_id else self.make_user(int(user)))


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, bot: discord.Client, *, timeout: float = 10.0  # noqa: ASYNC109
) -> AsyncIterator[None]:
    """Start ``bot`` against ``fake`` and wait until it is ready; on exit close it and await its task.

    If the bot stops before it is ready (an error in ``setup_hook``, a refused login), that error is raised.
    """
    task = asyncio.create_task(bot.start(fake.token))
    ready = asyncio.ensure_future(fake.wait_ready(timeout=timeout))
    try:
        await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises what stopped the bot
            raise RuntimeError("the bot stopped before it became ready")
        await ready
        yield
    finally:
        ready.cancel()
        await bot.close()
        if not task.done() or not task.cancelled():
            with contextlib.suppress(Exception):
                await task
