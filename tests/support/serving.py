"""The real bot served against the fake Discord, for the fault and load tests.

``bot_process`` runs the bot in a subprocess (``python -m tests.support.serving``) so a test can kill it hard.
``LoopWatch`` measures, while a test runs, how late the event loop wakes up (its worst stall), the
line's peak and the resident memory of this process and of the audio workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from bot.client import NeedleBot
from tests.fakes.discord import FakeDiscord
from tests.support.harness import LOOPBACK_SOURCES, discord_settings


def bot_settings(
    fake: FakeDiscord, data_dir: Path, *, jobs: Mapping[str, Any] | None = None, **limits: Any
) -> dict[str, dict[str, Any]]:
    """The TOML-shaped settings of a bot under test: the fake's guild and owner, loopback links allowed.

    ``jobs`` and ``limits`` override ``[jobs]`` and ``[limits]`` settings.
    """
    return {
        "discord": discord_settings(fake),
        "storage": {"data_dir": str(data_dir)},
        "sources": dict(LOOPBACK_SOURCES),
        "limits": dict(limits),
        "jobs": {"workers": 2, "cooldown_seconds": 0, **(jobs or {})},
    }


@contextlib.contextmanager
def bot_process(fake: FakeDiscord, config: Path, tmpdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The bot in a subprocess (settings from the TOML file ``config``) talking to ``fake``.

    Its temporary files, and its workers', go in ``tmpdir``, so a test can see what a kill leaves.
    On exit it is interrupted (the bot closes its pool and database) unless the test killed it already.
    """
    env = {**os.environ, "DISCORD_TOKEN": fake.token, "NEEDLEBOT_CONFIG": str(config), "TMPDIR": str(tmpdir)}
    process = subprocess.Popen([sys.executable, "-m", "tests.support.serving", fake.base_url], env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: the bot closes its pool and database
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def write_config(path: Path, raw: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write TOML-shaped settings (strings, numbers, booleans and lists of them) to ``path``."""
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())  # what we wrote must read back
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


@dataclasses.dataclass
class LoopWatch:
    """Samples, every ``period`` seconds on the running loop, what a load or fault test reports.

    ``worst_stall`` is the largest lateness of a wakeup (seconds past when ``asyncio.sleep`` was due):
    the longest the loop was kept from running anything, Discord's heartbeat included.
    """

    bot: NeedleBot
    period: float = 0.01
    worst_stall: float = 0.0
    queue_peak: int = 0
    rss_bot_peak: int = 0  # bytes; this process (the bot, and here the fake Discord and pytest too)
    rss_workers_peak: int = 0  # bytes; the audio workers together, at the sample where they peaked
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._tick(), name="loop-watch")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _tick(self) -> None:
        me = psutil.Process()
        sampled = 0.0
        while True:
            due = time.perf_counter() + self.period
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.worst_stall = max(self.worst_stall, now - due)
            self.queue_peak = max(self.queue_peak, self.bot.jobs.queue.waiting)
            if now - sampled >= 0.25:  # memory is slower to read than a wakeup
                sampled = now
                self.rss_bot_peak = max(self.rss_bot_peak, me.memory_info().rss)
                self.rss_workers_peak = max(self.rss_workers_peak, _rss(self.bot.jobs.backend.pids))


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def _serve(base_url: str) -> int:
    """The subprocess: point discord.py at the fake Discord, then run the bot as ``needlebot run`` does."""
    import discord.gateway
    import discord.http
    import yarl

    from bot.cli import main
    from tests.fakes.discord import API_PREFIX

    discord.http.Route.BASE = base_url + API_PREFIX
    gateway = base_url.replace("http", "ws", 1) + "/gateway"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    return main(["run"])


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
