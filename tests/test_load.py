"""The load run of tests/reliability/load.py: 40 /rate requests from 10 users at once through the fake
Discord.

Marked ``load`` and left out of the default run (20 s alone, more on busy cores): ``pytest -m load``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.media import MediaServer
from tests.reliability.load import REQUESTS, measure_load

pytestmark = [pytest.mark.load, pytest.mark.asyncio]


async def test_forty_requests_from_ten_users_are_all_answered(tmp_path: Path, media: MediaServer) -> None:
    figures = await measure_load(tmp_path, media)  # asserts every answer
    assert figures.answered == REQUESTS
    assert figures.queue_peak > 0, "40 songs on 2 workers: some must have waited in line"
    assert figures.rss_bot_peak > 0 and figures.rss_workers_peak > 0
