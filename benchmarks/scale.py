"""Throughput and per-job overhead of the audio backends, measured in one run.

    .venv/bin/python -m benchmarks.scale [--songs 16] [--rounds 3]

Four backends: the local process pool with 1 and 2 workers, and a real Dask cluster on 127.0.0.1
(``dask scheduler`` + ``dask worker --nthreads 1`` with ``bot.dask_backend`` preloaded, started as the
README says) with 1 and 2 workers. Every round starts each backend in turn, in a rotating order, so load
from other programs spreads over all of them; a backend is measured alone on the machine, warm (every
worker has featurized and drawn a picture), and stopped before the next starts. The figures are medians
over rounds.

A rating here is what the bot's service does with a cold upload: ``featurize`` in a worker (the mp3
bytes travel as the job's argument), score in this process, ``render`` the picture in a worker.

- throughput: ``--songs`` different 3-minute mp3s rated at once; ratings per second. A batch of 16
  keeps the end of the batch, where one worker may already be idle, small against the whole.
- overhead: songs rated one at a time; the time this process waited minus the time the two jobs
  spent inside the worker (serialization, transport, scheduling, queueing).
- first: the slowest of the first ratings after the backend started (one per worker, at once), which
  come before, and outside, the timed ones.

Then what one bot process carries on the gateway side: the real bot (no audio backend running) is
sent ``--guilds`` GUILD_CREATEs (20 text channels and 10 roles each, the bot as the only member, as
Discord sends them without the members intent) and then ``--messages`` MESSAGE_CREATEs (the default
intents deliver every message in every guild) through the fake Discord in the same process, so the
fake's own JSON encoding and websocket writes are counted against the bot: an upper bound on cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from bot.backend import Backend
from bot.client import create_bot
from bot.config import Secret, settings_from_dict
from bot.dask_backend import DaskBackend
from bot.jobs import Jobs
from bot.pool import LocalPool
from bot.worker import featurize, render
from model import DEFAULT_MAX_SECONDS, MODEL_DIR
from model.scorer import Scorer
from tests.fakes.discord import FakeDiscord, running_bot
from tests.support.cluster import DaskCluster

TARGET_OVERHEAD_S = 0.030
TARGET_SPEEDUP = 1.7


def _song(seed: int) -> bytes:
    from tests.fakes.media import song_bytes

    return song_bytes(180.0, seed=seed, format="mp3", sr=44100)


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``function(*args)`` and the seconds it took, measured in the worker."""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


async def rate(jobs: Jobs, scorer: Scorer, data: bytes) -> tuple[float, float]:
    """One cold rating: (seconds waited here, seconds spent in workers)."""
    # Referenced through the importable module, not __main__, so both backends' workers can load it.
    from benchmarks.scale import timed

    started = time.perf_counter()
    features, featurizing = await jobs.run(timed, featurize, data, DEFAULT_MAX_SECONDS, "")
    rating = scorer.rate(features.values, features.variances)
    sections = scorer.rate_sections(features.sections)
    _, rendering = await jobs.run(timed, render, features.mel_db, rating, sections, features.seconds, "song")
    return time.perf_counter() - started, featurizing + rendering


BACKENDS = ("local, 1 worker", "local, 2 workers", "dask, 1 worker", "dask, 2 workers")


@contextlib.asynccontextmanager
async def running(name: str, directory: Path) -> AsyncIterator[Jobs]:
    """The backend ``name`` started and warm; a Dask cluster of its own is started first and ends with it."""
    workers = 1 if "1" in name else 2
    with contextlib.ExitStack() as stack:
        if name.startswith("dask"):
            cluster = stack.enter_context(DaskCluster(directory / name.replace(" ", ""), workers=workers))
            await cluster.wait_for_workers(workers)
            backend: Backend = DaskBackend(cluster.address, workers)
        else:
            backend = LocalPool(workers)
        jobs = Jobs(backend, max_queue=1000, per_user=1000, per_user_queued=1000, timeout=600.0)
        await jobs.start()
        try:
            await jobs.warm()
            yield jobs
        finally:
            await jobs.close()


async def measure(songs: list[bytes], rounds: int, directory: Path) -> dict[str, dict[str, list[float]]]:
    scorer = Scorer.load(MODEL_DIR)
    results: dict[str, dict[str, list[float]]] = {
        name: {"ratings/s": [], "overhead": [], "latency": [], "first": []} for name in BACKENDS
    }
    for index in range(rounds):
        for name in BACKENDS[index % len(BACKENDS) :] + BACKENDS[: index % len(BACKENDS)]:
            # One backend on the machine at a time: an idle Dask cluster's heartbeats and monitors (about
            # 7% of a core for scheduler, nannies and two workers, measured) would be charged to the other.
            async with running(name, directory) as jobs:
                # Not timed: the first jobs after a start pay one-time costs (Dask's first task on each
                # worker, LiteRT's first inference here), which throughput is not about.
                workers = jobs.backend.capacity
                firsts = await asyncio.gather(*(rate(jobs, scorer, data) for data in songs[:workers]))
                results[name]["first"].append(max(latency for latency, _ in firsts))
                started = time.perf_counter()
                await asyncio.gather(*(rate(jobs, scorer, data) for data in songs))
                results[name]["ratings/s"].append(len(songs) / (time.perf_counter() - started))
                for data in songs[:3]:
                    latency, inside = await rate(jobs, scorer, data)
                    results[name]["latency"].append(latency)
                    results[name]["overhead"].append(latency - inside)
                if name == "dask, 1 worker" and index == 0:
                    dask_one = jobs.backend
                    assert isinstance(dask_one, DaskBackend)
                    results["dask upload"] = await _upload_transfer(dask_one, songs[0])
        print(f"round {index + 1}/{rounds} done", flush=True)
    return results


async def _upload_transfer(backend: DaskBackend, data: bytes) -> dict[str, list[float]]:
    """Seconds to get the bytes of one upload to a worker: as the job's argument, or scattered first."""
    client = await backend._connected()
    argument, scattered = [], []
    for _ in range(10):
        started = time.perf_counter()
        await client.submit(len, data, pure=False)
        argument.append(time.perf_counter() - started)
        started = time.perf_counter()
        await client.submit(len, await client.scatter(data, direct=True), pure=False)
        scattered.append(time.perf_counter() - started)
    return {"argument": argument, "scatter": scattered}


async def measure_gateway(guilds: int, messages: int, directory: Path) -> dict[str, float]:
    """Resident memory per guild and CPU per message event of one bot process."""
    async with FakeDiscord(heartbeat_interval=41.25) as fake:
        settings = settings_from_dict(
            {
                "storage": {"data_dir": str(directory / "gateway")},
                "jobs": {"backend": "dask", "scheduler": "tcp://127.0.0.1:9"},  # no audio processes
            }
        )
        settings = dataclasses.replace(
            settings, discord=dataclasses.replace(settings.discord, token=Secret(fake.token))
        )
        bot = create_bot(settings)
        joined, seen = asyncio.Event(), asyncio.Event()
        counts = {"messages": 0}

        async def on_guild_available(guild: object) -> None:
            # GUILD_CREATE with "unavailable": false, as Discord sends at connect; the fake's own guild too.
            if len(bot.guilds) == guilds + 1:
                joined.set()

        async def on_message(message: object) -> None:
            counts["messages"] += 1
            if counts["messages"] == messages:
                seen.set()

        bot.add_listener(on_guild_available)
        bot.add_listener(on_message)
        async with running_bot(fake, bot, timeout=60):
            me = psutil.Process()
            before = me.memory_info().rss
            base = fake.guild()
            template = base["channels"][0]
            channel_of: dict[int, int] = {}
            for _ in range(guilds):
                guild_id = fake._next_id()
                roles = [
                    {**base["roles"][0], "id": str(guild_id if r == 0 else fake._next_id())}
                    for r in range(10)
                ]
                channels = [{**template, "id": str(fake._next_id()), "name": f"c{c}"} for c in range(20)]
                channel_of[guild_id] = int(channels[0]["id"])
                await fake.dispatch(
                    "GUILD_CREATE", {**base, "id": str(guild_id), "roles": roles, "channels": channels}
                )
            await asyncio.wait_for(joined.wait(), 600)
            per_guild = (me.memory_info().rss - before) / guilds
            cpu = me.cpu_times()
            started = time.perf_counter()
            guild_ids = list(channel_of)
            for index in range(messages):
                guild_id = guild_ids[index % guilds]
                message = fake.make_message(content="", channel_id=channel_of[guild_id])
                await fake.dispatch("MESSAGE_CREATE", {**message, "guild_id": str(guild_id)})
            await asyncio.wait_for(seen.wait(), 600)
            wall = time.perf_counter() - started
            used = sum(me.cpu_times()[:2]) - sum(cpu[:2])
    return {
        "guilds": guilds,
        "kB per guild": per_guild / 1000,
        "messages": messages,
        "messages/s": messages / wall,
        "CPU us per message": used / messages * 1e6,
    }


def machine() -> str:
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{platform.machine()}, nproc {cpus}, {model}, {memory} RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=16, help="different 3-minute songs per throughput batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--guilds", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        songs = list(pool.map(_song, range(300, 300 + args.songs)))
    with tempfile.TemporaryDirectory() as directory:
        results = asyncio.run(measure(songs, args.rounds, Path(directory)))
        gateway = asyncio.run(measure_gateway(args.guilds, args.messages, Path(directory)))
    median = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    upload = median.pop("dask upload")
    print(f"Scale benchmark, {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"{args.songs} songs per batch, {args.rounds} rounds, medians; mp3 of {len(songs[0]) / 1e6:.1f} MB")
    header = "| ratings/s | (min-max)   | per core | latency (s) | overhead (ms) | first (s) |"
    print(f"| {'backend':<17} {header}")
    print(f"|{'-' * 19}|-----------|-------------|----------|-------------|---------------|-----------|")
    for name, row in median.items():
        cores = 2 if "2" in name else 1
        spread = results[name]["ratings/s"]
        print(
            f"| {name:<17} | {row['ratings/s']:9.2f} | {min(spread):5.2f}-{max(spread):5.2f} |"
            f" {row['ratings/s'] / cores:8.2f} | {row['latency']:11.3f} | {row['overhead'] * 1000:13.1f} |"
            f" {row['first']:9.2f} |"
        )
    added = median["dask, 1 worker"]["overhead"] - median["local, 1 worker"]["overhead"]
    print(
        f"Dask's added overhead per song: {added * 1000:.1f} ms"
        f" (target <= {TARGET_OVERHEAD_S * 1000:.0f} ms, ratio {added / TARGET_OVERHEAD_S:.2f})"
    )
    for kind in ("local", "dask"):
        speedup = median[f"{kind}, 2 workers"]["ratings/s"] / median[f"{kind}, 1 worker"]["ratings/s"]
        print(
            f"{kind}: 2 workers / 1 worker = {speedup:.2f}x"
            f" (target >= {TARGET_SPEEDUP}x, ratio {speedup / TARGET_SPEEDUP:.2f})"
        )
    print(
        f"one upload to a Dask worker: as the argument {upload['argument'] * 1000:.1f} ms,"
        f" scattered first {upload['scatter'] * 1000:.1f} ms"
    )

    print(
        f"gateway, one bot process: {gateway['kB per guild']:.1f} kB per guild ({args.guilds} guilds);"
        f" {gateway['messages/s']:.0f} messages/s, {gateway['CPU us per message']:.0f} us CPU per message"
        " (the fake Discord's sending included)"
    )


if __name__ == "__main__":
    main()
