import os
import time

import pytest

from bot.errors import BusyError, UserFacingError
from bot.jobs import Jobs


def _blas_threads() -> int:
    import numpy  # noqa: F401  (loads the BLAS whose threads we count)
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)


def _die() -> None:
    os._exit(3)


async def test_slots_limit_per_user_and_in_total() -> None:
    jobs = Jobs(workers=1, max_pending=2, per_user=1, timeout=5)
    async with jobs.slot(1):
        with pytest.raises(BusyError, match="already have a song"):
            async with jobs.slot(1):
                pass
        async with jobs.slot(2):
            with pytest.raises(BusyError, match="a lot of songs"):
                async with jobs.slot(3):
                    pass
    # Everything released, including after an exception inside the slot.
    with pytest.raises(ValueError):
        async with jobs.slot(1):
            raise ValueError
    async with jobs.slot(1), jobs.slot(2):
        pass


async def test_workers_run_with_one_blas_thread_and_warm() -> None:
    jobs = Jobs(workers=2, max_pending=2, per_user=1, timeout=120)
    jobs.start()
    try:
        assert await jobs.run(_blas_threads) == 1
        await jobs.warm()
    finally:
        await jobs.close()


async def test_a_dead_worker_is_replaced() -> None:
    jobs = Jobs(workers=1, max_pending=2, per_user=1, timeout=60)
    jobs.start()
    try:
        with pytest.raises(UserFacingError, match="crashed"):
            await jobs.run(_die)
        assert await jobs.run(os.getpid) != os.getpid()
    finally:
        await jobs.close()


async def test_a_slow_job_times_out() -> None:
    jobs = Jobs(workers=1, max_pending=1, per_user=1, timeout=0.5)
    jobs.start()
    try:
        with pytest.raises(UserFacingError, match="longer than"):
            await jobs.run(time.sleep, 2)
    finally:
        await jobs.close()
