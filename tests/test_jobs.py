"""The fair queue, the limits and the local worker pool, with real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from bot.album import _Line
from bot.errors import BusyError, OutageError, VerdictError
from bot.jobs import MEMORY_MESSAGE, Jobs
from bot.pool import LocalPool
from bot.service import Requester
from tests.support import workload


def make_jobs(
    workers: int = 1,
    *,
    max_queue: int = 10,
    per_user_queued: int = 10,
    timeout: float = 60,
    singles_share: float = 0.0,
    memory_limit: int | None = None,
) -> Jobs:
    return Jobs(
        LocalPool(workers, memory_limit=memory_limit),
        max_queue=max_queue,
        per_user=1,
        per_user_queued=per_user_queued,
        timeout=timeout,
        singles_share=singles_share,
    )


@pytest.fixture
async def jobs() -> AsyncIterator[Jobs]:
    running = make_jobs(timeout=3)
    await running.start()
    yield running
    await running.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def exists(path: str | Path) -> bool:
    return Path(path).exists()


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def read_when_written(path: Path, lines: int = 1) -> list[str]:
    for _ in range(600):
        if len(text := lines_of(path)) >= lines:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never got {lines} line(s)")


async def test_per_user_limits_say_how_long_to_wait() -> None:
    jobs = make_jobs(3, per_user_queued=3)  # never started: admission needs no worker
    async with jobs.slot(1):
        with pytest.raises(BusyError, match=r"already have a song.*about \d+ seconds?"):
            async with jobs.slot(1):
                pass
        # An album's tracks (batch) are not single songs: only the per-user queued cap holds them.
        async with jobs.slot(1, batch=True):
            async with jobs.slot(1, batch=True):
                with pytest.raises(BusyError, match=r"You have 3 songs.*about \d+ seconds?"):
                    async with jobs.slot(1, batch=True):
                        pass
    # Everything released, including after an exception inside the slot.
    with pytest.raises(ValueError):
        async with jobs.slot(1):
            raise ValueError
    async with jobs.slot(1), jobs.slot(2):
        assert (jobs.queue.running, jobs.queue.waiting) == (2, 0)


async def test_waiting_jobs_see_their_place_and_past_the_bound_it_is_busy() -> None:
    jobs = make_jobs(max_queue=3)
    places: dict[int, list[int]] = {}
    started: list[int] = []
    release = asyncio.Event()

    async def one(user: int) -> None:
        async with jobs.slot(user, on_position=places.setdefault(user, []).append):
            started.append(user)
            await release.wait()

    blocker = asyncio.create_task(one(0))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(one(user)) for user in (1, 2, 3)]
    await asyncio.sleep(0)
    assert jobs.queue.waiting == 3
    with pytest.raises(BusyError, match=r"a lot of songs.*Try again in a minute"):
        async with jobs.slot(4):
            pass
    release.set()
    await asyncio.gather(blocker, *waiting)
    assert started == [0, 1, 2, 3]
    # The blocker started at once: told only that it runs.
    assert places == {0: [0], 1: [1, 0], 2: [2, 1, 0], 3: [3, 2, 1, 0]}


async def test_an_album_waits_at_its_best_tracks_place_until_one_of_its_tracks_runs() -> None:
    jobs = make_jobs(2)
    places: list[int | None] = []
    line = _Line(lambda: places.append(line.place))
    album = Requester(user_id=7, batch=True)
    release = asyncio.Event()

    async def track(number: int) -> None:
        with line.asking(number, album) as asking:
            async with jobs.slot(asking.user_id, on_position=asking.on_position, batch=True):
                await release.wait()

    async with jobs.slot(1), jobs.slot(2):  # other users' songs hold both workers...
        ahead = asyncio.create_task(jobs.slot(3).__aenter__())  # ...and a third one waits
        await asyncio.sleep(0)
        first = asyncio.create_task(track(0))
        await asyncio.sleep(0)
        assert places == [2]
        # A track that has not reached the queue yet is neither waiting nor running: when the line moves
        # meanwhile, the album's place follows its waiting track.
        with line.asking(1, album):
            ahead.cancel()
            await asyncio.sleep(0)
            assert places == [2, 1]
    await asyncio.sleep(0)
    assert places == [2, 1, None], "the album's first track runs: no longer in line"
    release.set()
    await first


async def test_a_cancelled_wait_gives_its_place_up() -> None:
    jobs = make_jobs()
    places: list[int] = []
    follower = jobs.slot(3, on_position=places.append)
    async with jobs.slot(1):
        gives_up = asyncio.create_task(jobs.slot(2).__aenter__())
        await asyncio.sleep(0)
        follows = asyncio.create_task(follower.__aenter__())
        await asyncio.sleep(0)
        gives_up.cancel()
        await asyncio.sleep(0)
    await follows
    assert places == [2, 1, 0]
    assert (jobs.queue.running, jobs.queue.waiting) == (1, 0)
    await follower.__aexit__(None, None, None)
    assert (jobs.queue.running, jobs.queue.waiting) == (0, 0)


async def test_an_album_does_not_starve_a_single_song(jobs: Jobs) -> None:
    order: list[str] = []

    async def rate(user: int, name: str, *, batch: bool) -> None:
        async with jobs.slot(user, batch=batch):
            order.append(name)
            await jobs.run(os.getpid)

    album = [asyncio.create_task(rate(1, f"track {n}", batch=True)) for n in range(1, 7)]
    await asyncio.sleep(0)
    single = asyncio.create_task(rate(2, "single", batch=False))
    await asyncio.gather(*album, single)
    assert order[:2] == ["track 1", "single"], order
    assert order[2:] == [f"track {n}" for n in range(2, 7)]


async def test_a_killed_worker_is_replaced_and_its_job_retried(jobs: Jobs, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    job = asyncio.create_task(jobs.run(workload.pid_then_sleep, str(pid_file), 1.0))
    (killed,) = map(int, await read_when_written(pid_file))
    os.kill(killed, signal.SIGKILL)
    answered = await job
    retried = int((await read_when_written(pid_file, 2))[1])
    assert answered == retried != killed
    assert gone(killed)
    assert await jobs.run(os.getpid) not in (killed, os.getpid())


async def test_a_job_that_kills_its_worker_twice_fails_clearly(jobs: Jobs) -> None:
    with pytest.raises(OutageError, match="crashed"):  # our side: never a song's remembered outcome
        await jobs.run(workload.die)
    assert await jobs.run(os.getpid) != os.getpid()


async def test_a_timed_out_job_stops_its_worker_and_its_ffmpeg(jobs: Jobs, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    pool = jobs.backend
    assert isinstance(pool, LocalPool)
    (before,) = pool.pids
    job = asyncio.create_task(jobs.run(workload.hang_in_ffmpeg, str(pid_file)))
    (line,) = await read_when_written(pid_file)
    worker, ffmpeg, spool = line.split()
    assert int(worker) == before and exists(spool)
    assert Path(spool).parent != Path(tempfile.gettempdir()), "worker temp files go in its own directory"
    with pytest.raises(OutageError, match="longer than 3 seconds"):  # the load as much as the song
        await job
    # The next job runs on the replacement, which starts once the killed worker is reaped.
    assert await jobs.run(os.getpid) not in (before, os.getpid())
    assert gone(int(worker)) and gone(int(ffmpeg))
    assert not exists(spool) and not exists(Path(spool).parent), "the worker left files behind"


async def test_workers_run_with_one_blas_thread_and_warm() -> None:
    jobs = make_jobs(2, timeout=120)
    await jobs.start()
    try:
        assert await jobs.run(workload.blas_threads) == 1
        assert not await jobs.run(workload.imported, "matplotlib")
        await jobs.warm()
        # Both workers at once (each takes one): every worker drew its first picture while warming.
        answers = await asyncio.gather(*(jobs.run(workload.imported, "matplotlib") for _ in range(2)))
        assert answers == [True, True]
    finally:
        await jobs.close()
    assert isinstance(jobs.backend, LocalPool) and jobs.backend.pids == []


async def test_closing_removes_every_worker_and_its_files() -> None:
    jobs = make_jobs(2)
    await jobs.start()
    pool = jobs.backend
    assert isinstance(pool, LocalPool)
    pids = pool.pids
    scratch = {Path(p) for p in await asyncio.gather(*(jobs.run(tempfile.gettempdir) for _ in range(2)))}
    await jobs.close()
    assert all(gone(pid) for pid in pids)
    assert not any(map(exists, scratch))


async def test_a_job_that_cannot_start_in_time_gives_up_its_place() -> None:
    jobs = make_jobs()  # never started: admission needs no worker
    loop = asyncio.get_running_loop()
    places: list[int] = []
    async with jobs.slot(1):  # holds the only slot past every deadline below
        late = asyncio.create_task(jobs.slot(2, start_by=loop.time() + 0.2).__aenter__())
        await asyncio.sleep(0)
        follower = jobs.slot(3, on_position=places.append, start_by=loop.time() + 600)
        follows = asyncio.create_task(follower.__aenter__())
        await asyncio.sleep(0)
        assert jobs.queue.waiting == 2
        with pytest.raises(BusyError, match="couldn't get to it in time"):
            await late
        assert jobs.queue.waiting == 1 and places == [2, 1], "the job behind moved up"
    await follows  # started before its own time came: it runs
    assert places == [2, 1, 0] and jobs.queue.running == 1
    await follower.__aexit__(None, None, None)
    assert (jobs.queue.running, jobs.queue.waiting) == (0, 0)


async def test_albums_leave_room_in_line_for_single_songs() -> None:
    # A line of 8, a quarter of it kept for single songs: albums' tracks wait in 6 places at most.
    jobs = make_jobs(max_queue=8, per_user_queued=8, singles_share=0.25)
    release = asyncio.Event()

    async def hold(user: int, *, batch: bool) -> None:
        async with jobs.slot(user, batch=batch):
            await release.wait()

    running = asyncio.create_task(hold(100, batch=False))
    await asyncio.sleep(0)
    # Two users' albums, three tracks each, fill the albums' part of the line.
    tracks = [asyncio.create_task(hold(user, batch=True)) for user in (1, 2) for _ in range(3)]
    await asyncio.sleep(0)
    assert jobs.queue.waiting == 6
    with pytest.raises(BusyError, match="keep the rest of my line for single songs"):
        async with jobs.slot(3, batch=True):
            pass
    singles = [asyncio.create_task(hold(user, batch=False)) for user in (4, 5)]
    await asyncio.sleep(0)
    assert jobs.queue.waiting == 8, "single songs got the places kept for them"
    with pytest.raises(BusyError, match=r"a lot of songs right now\. Try again in a minute"):
        async with jobs.slot(6):
            pass
    release.set()
    await asyncio.gather(running, *tracks, *singles)


async def test_a_job_past_the_memory_ceiling_is_refused_and_its_worker_lives_on() -> None:
    jobs = make_jobs(memory_limit=1 << 30)  # 1 GB of address space
    await jobs.start()
    try:
        pool = jobs.backend
        assert isinstance(pool, LocalPool)
        (pid,) = pool.pids
        with pytest.raises(VerdictError) as refused:  # the file's own size: a verdict on it
            await jobs.run(workload.allocate, 2048)  # 2 GB: maps fine without a ceiling
        assert str(refused.value) == MEMORY_MESSAGE and "more memory than I allow" in MEMORY_MESSAGE
        assert await jobs.run(workload.allocate, 64) == 64 << 20
        assert pool.pids == [pid] and await jobs.run(os.getpid) == pid, "the worker was not replaced"
    finally:
        await jobs.close()
