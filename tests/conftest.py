"""Fixtures shared by the test modules that drive the bot or yt-dlp against loopback servers."""

from collections.abc import Iterator

import pytest

from tests.fakes.media import MediaServer


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    """The loopback media server (yt-dlp's generic extractor and the RSS search read from it), one per
    module; a module that needs files served from the start overrides this fixture."""
    with MediaServer() as server:
        yield server
