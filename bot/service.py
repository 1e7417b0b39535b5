"""Rating a song end to end: cache lookup, download, featurize, score, picture, store.

The cogs and the ``needlebot rate`` CLI both call :class:`RatingService`, so there is one pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from yt_dlp.extractor import get_info_extractor

from bot.config import Settings
from bot.errors import UserFacingError
from bot.jobs import Jobs
from bot.sources import youtube
from bot.store import SongRecord, Store
from bot.worker import featurize, featurize_link, render
from model.decode import AudioError
from model.scorer import ModelError, Scorer

if TYPE_CHECKING:
    from model.features import FeatureResult

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm", ".mp4"}
)


@dataclass(frozen=True)
class Requester:
    """Who asked: the Discord user and guild (``None`` in DMs and from the CLI)."""

    user_id: int
    guild_id: int | None = None


@dataclass(frozen=True)
class RatedSong:
    song: SongRecord
    cached: bool


class RatingService:
    """Rates uploads and links; waits for the model if it is still loading.

    Parameters
    ----------
    settings
        Limits, sources and audio settings.
    jobs
        The worker pool (started by the caller).
    store
        The open database.
    scorer
        A future that resolves to the loaded model, so start-up need not wait for it.
    """

    def __init__(self, settings: Settings, jobs: Jobs, store: Store, scorer: asyncio.Future[Scorer]) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = store
        self._scorer = scorer
        limits, sources = settings.limits, settings.sources
        self.youtube_options = youtube.YouTubeOptions(
            allowed_hosts=sources.allowed_hosts,
            allowed_extractors=sources.allowed_extractors,
            max_duration_s=limits.max_video_seconds,
            max_filesize=limits.max_download_bytes,
            socket_timeout=limits.socket_timeout_seconds,
            cookiefile=sources.cookiefile or None,
        )

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The loaded model's calibration cut points, for verdict words; empty until it has loaded."""
        scorer = self._scorer
        if not scorer.done() or scorer.cancelled() or scorer.exception() is not None:
            return ()
        return tuple(scorer.result().card["calibration"]["thresholds"])

    async def rate_upload(self, data: bytes, filename: str, requester: Requester) -> RatedSong:
        """Rate uploaded audio bytes; ``filename`` becomes the title."""
        if not data:
            raise UserFacingError("That file is empty.")
        key = "file:" + hashlib.sha256(data).hexdigest()
        return await self._rate(key, Path(filename).stem or filename, None, requester, data)

    async def rate_path(self, path: Path, requester: Requester) -> RatedSong:
        """Rate a local audio file (the CLI)."""
        try:
            digest = await asyncio.to_thread(_sha256_file, path)
        except OSError as error:
            raise UserFacingError(f"Can't read {path}: {error.strerror}.") from None
        # The worker decodes from the path, streaming: a long file is never held in memory whole.
        return await self._rate("file:" + digest, path.stem or path.name, None, requester, str(path))

    async def rate_link(self, url: str, requester: Requester) -> RatedSong:
        """Download the audio behind a (YouTube) link and rate it."""
        try:
            url = youtube.check_url(url, self.youtube_options)
        except youtube.SourceError as error:
            raise UserFacingError(str(error)) from None
        return await self._rate(link_key(url), None, url, requester, None)

    async def _rate(
        self, key: str, title: str | None, url: str | None, requester: Requester, source: bytes | str | None
    ) -> RatedSong:
        """Rate ``source`` (bytes or a path; None: download ``url``) unless ``key`` is cached."""
        started = time.perf_counter()
        try:
            scorer = await asyncio.shield(self._scorer)
        except ModelError:
            # Logged once where the model is loaded; the user only needs to know it is not their fault.
            raise UserFacingError(
                "My model isn't loaded, so I can't rate anything right now."
                " The bot's owner can see why in the log."
            ) from None
        if (song := await self.store.find_song(key)) is not None:
            await self.store.record(song, user_id=requester.user_id, guild_id=requester.guild_id, cached=True)
            log.info("rated %s from the cache in %.3f s", key, time.perf_counter() - started)
            return RatedSong(song, cached=True)
        async with self.jobs.slot(requester.user_id):
            timings: dict[str, float] = {}
            mark = time.perf_counter()
            if source is None:
                assert url is not None
                features, info, timings["download"] = await self._featurize_link(url)
                title = info.title
            else:
                features = await self._featurize(source)
            timings["features"] = time.perf_counter() - mark - timings.get("download", 0.0)
            mark = time.perf_counter()
            rating = scorer.rate(features.values)
            picture = await self.jobs.run(render, features.mel_db, rating.distribution, rating.score, title)
            timings["score+picture"] = time.perf_counter() - mark
        song = SongRecord(key, title or key, url, rating, features.seconds, features.truncated, picture)
        await self.store.record(song, user_id=requester.user_id, guild_id=requester.guild_id, cached=False)
        log.info(
            "rated %s: %d/10 in %.2f s (%s)",
            key,
            rating.score,
            time.perf_counter() - started,
            ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()),
        )
        return RatedSong(song, cached=False)

    async def _featurize_link(self, url: str) -> tuple[FeatureResult, youtube.VideoInfo, float]:
        # Downloaded where it is featurized (a worker), so the audio never passes through this process.
        try:
            return await self.jobs.run(
                featurize_link,
                url,
                self.youtube_options,
                self.settings.limits.max_audio_seconds,
                self.settings.audio.ffmpeg,
            )
        except (youtube.SourceError, AudioError) as error:
            raise UserFacingError(str(error)) from None

    async def _featurize(self, source: bytes | str) -> FeatureResult:
        try:
            return await self.jobs.run(
                featurize, source, self.settings.limits.max_audio_seconds, self.settings.audio.ffmpeg
            )
        except AudioError as error:
            raise UserFacingError(str(error)) from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def link_key(url: str) -> str:
    """The cache key of a link, found without any network call.

    YouTube links of every shape (``watch?v=``, ``youtu.be/``, music.youtube.com) map to
    ``youtube:<video id>``; other allowed links key on their normalized URL.
    """
    extractor = get_info_extractor("Youtube")
    if extractor.suitable(url) and (video_id := extractor.get_temp_id(url)):
        return f"youtube:{video_id}"
    parts = urlsplit(url)
    return f"url:{parts.scheme}://{parts.netloc.lower()}{parts.path}" + (
        f"?{parts.query}" if parts.query else ""
    )


def looks_like_audio(filename: str, content_type: str | None) -> bool:
    """Whether an upload claims to be audio (by MIME type or file extension), before downloading it."""
    if content_type and content_type.split(";")[0].strip().lower().startswith(("audio/", "video/")):
        return True
    return Path(filename).suffix.lower() in AUDIO_SUFFIXES
