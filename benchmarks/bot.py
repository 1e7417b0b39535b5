"""Bot latency and footprint through the fake Discord, measured in one run.

    .venv/bin/python -m benchmarks.bot [--cold 5] [--cached 20]

Times from dispatching INTERACTION_CREATE to the followup for 3-minute mp3 attachments (each cold
song different, so none is cached; then the cached answer for one of them), start-up from
``bot.start`` to READY plus warm workers, and resident memory once idle. Each figure is printed
beside its target and the ratio measured / target (<= 1 meets it).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import psutil

from bot.client import NeedleBot
from bot.config import Secret, settings_from_dict
from tests.fakes.discord import FakeDiscord, running_bot


def _song(seed: int) -> bytes:
    # Imported here, in the child: synthesizing pulls in librosa, which the bot's own process never loads.
    from tests.fakes.media import song_bytes

    return song_bytes(180.0, seed=seed, format="mp3", sr=44100)


def import_seconds() -> float:
    """Seconds a fresh interpreter takes to import the bot (part of its start-up)."""
    code = "import time; t = time.perf_counter(); import bot.client; print(time.perf_counter() - t)"
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


async def measure(cold: int, cached: int) -> list[tuple[str, float, float, str]]:
    # Synthesizing takes GBs of float64 that the allocator keeps: do it in a child, not in the bot's process.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        songs = list(pool.map(_song, range(100, 100 + cold)))
    imported = import_seconds()
    with tempfile.TemporaryDirectory() as data_dir:
        async with FakeDiscord(heartbeat_interval=41.25) as fake:
            settings = settings_from_dict(
                {"storage": {"data_dir": data_dir}, "jobs": {"cooldown_seconds": 0}}
            )
            settings = dataclasses.replace(
                settings, discord=dataclasses.replace(settings.discord, token=Secret(fake.token))
            )
            started = time.perf_counter()
            async with NeedleBot(settings) as bot, running_bot(fake, bot, timeout=60):
                ready = time.perf_counter() - started
                await bot.jobs.warm()
                warm = time.perf_counter() - started
                await asyncio.sleep(1)
                me = psutil.Process()
                idle_main = me.memory_info().rss / 2**20
                idle_all = idle_main + sum(c.memory_info().rss for c in me.children(recursive=True)) / 2**20

                async def rate(name: str, data: bytes) -> float:
                    inter = await fake.slash_command(
                        "rate", {"file": fake.add_attachment(name, data, "audio/mpeg")}
                    )
                    message = await inter.wait_followup(timeout=120)
                    assert message.files, message.embeds
                    return message.at

                cold_times = [await rate(f"song{i}.mp3", data) for i, data in enumerate(songs)]
                cached_times = [await rate("again.mp3", songs[0]) for _ in range(cached)]
    return [
        ("/rate 3-min mp3, cold (median s)", statistics.median(cold_times), 1.5, f"n={cold}"),
        ("/rate 3-min mp3, cached (median s)", statistics.median(cached_times), 0.05, f"n={cached}"),
        (
            "start-up: import + start to READY (s)",
            imported + ready,
            5.0,
            f"workers warm at {imported + warm:.1f} s",
        ),
        ("idle RSS, bot process (MB)", idle_main, 300.0, f"with workers {idle_all:.0f} MB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--cached", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(measure(args.cold, args.cached))
    print(f"Bot benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {psutil.cpu_count()} cores")
    print(f"| {'measure':<38} | {'measured':>9} | {'target':>7} | {'ratio':>6} | note")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 9}|{'-' * 8}|------")
    for name, value, target, note in results:
        print(f"| {name:<38} | {value:9.3f} | {target:7.2f} | {value / target:6.2f} | {note}")


if __name__ == "__main__":
    main()
