"""/album end to end against the same tracks rated one after another, in one run of the real bot.

    .venv/bin/python -m benchmarks.album [--tracks 12] [--minutes 3]

Twelve synthesized mp3 tracks (44.1 kHz stereo) are served by the loopback media server twice, under
two sets of names, so neither run answers from the other's cache. First each track of one set goes
through ``/rate url`` one after another (the sum of the times from dispatch to the rating); then
``/album`` rates the other set (dispatch to the final edit), with the default settings: 2 audio workers,
3 tracks of the album in flight. Printed: both times and their ratio (target >= 1.7 on 2 cores), the
edits the album sent, and peak RSS (VmHWM) of the bot's process and of its workers.

The 1.7x target assumes two free cores. On a shared machine they may not be free, so the run starts
with a control: the same pure-Python loop twice, one after the other and then in two processes at once.
Its ratio is the most any two-worker pipeline could gain at that moment; read the album's against it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

from bot.album import AlbumService
from bot.client import NeedleBot
from bot.config import Secret, settings_from_dict
from bot.store import AlbumRecord, StoredTrack
from sources import youtube
from tests.fakes.discord import FakeDiscord, running_bot
from tests.fakes.media import MediaServer
from tests.support.harness import LOOPBACK_SOURCES

TARGET = 1.7


def _song(seed: int, seconds: float) -> bytes:
    # Imported here, in the child: synthesizing pulls in librosa, which the bot's own process never loads.
    from tests.fakes.media import song_bytes

    return song_bytes(seconds, seed=seed, format="mp3", sr=44100)


def _burn(n: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i
    return time.perf_counter() - started


def machine_parallelism(n: int = 5_000_000) -> float:
    """Speed-up of two processes over one on CPU-bound pure Python, right now (2.0 on two idle cores)."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_burn, [10, 10]))  # both workers started before timing
        started = time.perf_counter()
        _burn(n)
        _burn(n)
        one_after_another = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(_burn, [n, n]))
        return one_after_another / (time.perf_counter() - started)


def _peak_mb(pid: int) -> float:
    """VmHWM of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(n_tracks: int, minutes: float) -> dict[str, float]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        songs = list(pool.map(_song, range(300, 300 + n_tracks), [60 * minutes] * n_tracks))
    titles = [f"Track {i + 1}" for i in range(n_tracks)]
    with MediaServer() as media, tempfile.TemporaryDirectory() as data_dir:
        for i, data in enumerate(songs):
            media.add(f"single-{i}.mp3", data, "audio/mpeg")
            media.add(f"album-{i}.mp3", data, "audio/mpeg")
        album = AlbumRecord(
            "bench:album", "Bench Band", "Bench Album", 2026, None, "benchmark",
            tuple(StoredTrack(t, 1, i + 1, 60 * minutes) for i, t in enumerate(titles)), "",
        )

        async def resolve(artist: str, title: str) -> AlbumRecord:
            return album

        def find_track(artist: str, title: str, seconds: float | None) -> youtube.VideoInfo:
            name = f"album-{titles.index(title)}.mp3"
            return youtube.VideoInfo(name, title, media.url(name), seconds, None)

        async with FakeDiscord(heartbeat_interval=41.25) as fake:
            settings = settings_from_dict(
                {
                    "storage": {"data_dir": data_dir},
                    "jobs": {"cooldown_seconds": 0},
                    "sources": dict(LOOPBACK_SOURCES),
                }
            )
            settings = dataclasses.replace(
                settings, discord=dataclasses.replace(settings.discord, token=Secret(fake.token))
            )
            async with NeedleBot(settings) as bot, running_bot(fake, bot, timeout=60):
                await bot.jobs.warm()
                bot.albums = AlbumService(bot.service, settings.albums, resolve, find_track)

                one_by_one = 0.0
                for i in range(n_tracks):
                    inter = await fake.slash_command("rate", {"url": media.url(f"single-{i}.mp3")})
                    message = await inter.wait_followup(timeout=300)
                    assert message.files, message.embeds
                    one_by_one += message.at

                inter = await fake.slash_command("album", {"artist": "Bench Band", "title": "Bench Album"})
                final = await inter.wait_message(
                    lambda m: bool(m.embeds) and not m.embeds[0]["title"].startswith("Listening"),
                    timeout=900,
                )
                footer = final.embeds[0]["footer"]["text"]
                assert footer.startswith(f"{n_tracks} of {n_tracks} tracks rated"), footer
                workers = psutil.Process().children(recursive=True)
                result = {
                    "one_by_one": one_by_one,
                    "album": final.at,
                    "edits": len(inter.messages),
                    "rss_bot": _peak_mb(psutil.Process().pid),
                    "rss_workers": max(_peak_mb(w.pid) for w in workers),
                    "workers": len(workers),
                }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    control = machine_parallelism()
    r = asyncio.run(measure(args.tracks, args.minutes))
    speedup = r["one_by_one"] / r["album"]
    print(f"Album benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {psutil.cpu_count()} cores")
    print(f"{args.tracks} tracks of {args.minutes:g} min (mp3)")
    print(f"| /rate one after another, total (s) | {r['one_by_one']:.2f} |")
    print(f"| /album end to end (s)              | {r['album']:.2f} |")
    print(f"| speed-up (target >= {TARGET})          | {speedup:.2f}x | {speedup / TARGET:.2f} of target |")
    print(f"| control: 2 processes vs 1 (CPU)    | {control:.2f}x | the most 2 workers could gain now |")
    print(f"| edits of the /album response       | {r['edits']} |")
    print(f"| peak RSS bot process (MB)          | {r['rss_bot']:.0f} |")
    print(f"| peak RSS per worker, max (MB)      | {r['rss_workers']:.0f} | {r['workers']} child processes |")


if __name__ == "__main__":
    main()
