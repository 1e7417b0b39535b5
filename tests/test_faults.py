"""Faults the bot survives (issue 9, section 4): the scenarios of tests/reliability/faults.py, one test each.

One bot runs for the module, started with the scenarios' short timeouts; the bot killed mid-burst
runs its own, in a subprocess.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cogs.album import _in_time
from tests.fakes.media import MediaServer
from tests.reliability.faults import LIMITS, SCENARIOS, Scenario
from tests.support.harness import Harness, bot_harness

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory, media: MediaServer) -> AsyncIterator[Harness]:
    async with bot_harness(tmp_path_factory.mktemp("faults"), media, **LIMITS) as running:
        await running.bot.jobs.warm()
        yield running
    assert running.fake.unknown_routes == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
async def test_fault(harness: Harness, scenario: Scenario, tmp_path: Path) -> None:
    survived = await scenario(harness, tmp_path)
    assert survived.outcome and survived.seconds >= 0


async def test_an_autocomplete_that_cannot_answer_in_time_answers_empty() -> None:
    # Through the bot, reads never wait now (reads_while_saves_wait); this is the bound behind that.
    never = asyncio.Event()
    assert await _in_time(never.wait()) == []  # type: ignore[arg-type]
