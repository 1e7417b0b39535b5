"""Rating a song end to end: cache lookup, download, featurize, score, picture, store.

The cogs and the ``needlebot rate`` CLI both call :class:`RatingService`, so there is one pipeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from yt_dlp.extractor import get_info_extractor

from bot.config import Settings
from bot.errors import OutageError, UserFacingError, for_user
from bot.jobs import Jobs
from bot.queue import OnPosition
from bot.store import HistoryRow, SongRecord, Store
from bot.worker import featurize, featurize_link, render
from model import MODEL_DIR
from model.decode import AUDIO_SUFFIXES, AudioError
from model.scorer import TFLITE_NAME, ModelError, sha256_file
from model.taste import TASTE_TFLITE, AlbumReview, ArtistHistory, Evidence, Taste, load_taste
from sources import youtube
from sources.fantano import FantanoReview, FantanoScores
from sources.names import core_title
from sources.text import one_line

if TYPE_CHECKING:
    from model.features import FeatureResult

log = logging.getLogger(__name__)

EMPTY_FILE = "That file is empty (0 bytes)."


@dataclass(frozen=True)
class Requester:
    """Who asked: the Discord user and guild (``None`` in DMs and from the CLI).

    ``on_position`` is told the request's place in line while it waits for a worker; ``batch`` marks
    one of several songs of one request (an album's tracks); ``start_by`` is the loop time by which its
    work must start (its answer is due): see :meth:`bot.jobs.Jobs.slot`.
    """

    user_id: int
    guild_id: int | None = None
    on_position: OnPosition | None = field(default=None, compare=False)
    batch: bool = False
    start_by: float | None = None


@dataclass(frozen=True)
class RatedSong:
    """A rating's outcome: the stored song, whether it was answered from the cache, and the calibration
    thresholds of the model that scored it (for the verdict's light/decent/strong)."""

    song: SongRecord
    cached: bool
    thresholds: tuple[float, ...]


class RatingService:
    """Rates uploads, files and links through one pipeline; waits for the model if it is still loading.

    Build it with `open` (the bot and the CLI do); the constructor takes the parts already made.

    Parameters
    ----------
    settings : Settings
        Limits, sources and audio settings.
    jobs : Jobs
        The worker pool, started.
    store : Store
        The open database.
    scorer : asyncio.Future[Taste]
        Resolves to the loaded taste model (with the bridge as its sound route), so start-up need not
        wait for it.
    fantano : FantanoScores
        Fantano's own scores, shown beside ours for what he reviewed.
    """

    def __init__(
        self,
        settings: Settings,
        jobs: Jobs,
        store: Store,
        scorer: asyncio.Future[Taste],
        fantano: FantanoScores,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = store
        self.fantano = fantano
        self._scorer = scorer
        self.youtube_options = settings.sources.youtube_options(settings.limits)

    @classmethod
    async def open(cls, settings: Settings, jobs: Jobs) -> RatingService:
        """The service the bot and the CLI share: start loading the model, open the database, start ``jobs``.

        Parameters
        ----------
        settings : Settings
            Where the model and the database are, and the limits.
        jobs : Jobs
            A pool that is not started yet; the service starts it and `close` closes it.

        Returns
        -------
        RatingService
            Ready to rate; the first rating waits for the model if it is still loading.
        """
        model_dir = Path(settings.model.directory or MODEL_DIR)
        scorer = asyncio.ensure_future(asyncio.to_thread(load_taste, model_dir))
        scorer.add_done_callback(_log_model_load)
        table = settings.sources.fantano_scores
        fantano = await asyncio.to_thread(FantanoScores.load, Path(table) if table else None)
        store = await Store.open(
            settings.storage.database_path,
            await asyncio.to_thread(model_id, model_dir),
            busy_timeout=settings.limits.database_timeout_seconds,
            cached_songs=settings.storage.cached_songs,
        )
        await jobs.start()
        return cls(settings, jobs, store, scorer, fantano)

    async def close(self) -> None:
        """Stop the worker pool and close the database."""
        await self.jobs.close()
        await self.store.close()

    def review_of(self, song: SongRecord) -> FantanoReview | None:
        """Fantano's review of the album ``song`` comes from, when its site named one he reviewed."""
        return self.fantano.find(song.artist, song.album) if song.artist and song.album else None

    def evidence(
        self, *, artist: str | None, album: str | None, title: str | None, genres: Sequence[str] = ()
    ) -> Evidence:
        """What the request knows besides the sound: his history with the artist, his review of the album.

        Parameters
        ----------
        artist : str, optional
            From ``/album``, yt-dlp's metadata or the file's tags; None when unknown.
        album : str, optional
            The album the song is on, when its source names it.
        title : str, optional
            The song's title, matched against his FAV TRACKS and LEAST FAV TRACK.
        genres : sequence of str
            Genre names of the release (MusicBrainz), when known.

        Returns
        -------
        Evidence
            Without sound (the caller adds the features).
        """
        if not artist:
            return Evidence(genres=tuple(genres))
        scores = self.fantano.artist_scores(artist)
        history = ArtistHistory(len(scores), sum(scores) / len(scores), scores[-1]) if scores else None
        review = self.fantano.find(artist, album) if album else None
        return Evidence(genres=tuple(genres), artist_known=True, artist=history,
                        album=album_review(review, title))

    async def album_thresholds(self) -> tuple[float, ...]:
        """The model's album calibration (``model.album``); waits for the model to load.

        Raises
        ------
        OutageError
            The model could not be loaded.
        """
        return (await self._model()).album_thresholds

    async def _model(self) -> Taste:
        try:
            return await asyncio.shield(self._scorer)
        except ModelError:
            # Logged once where the model is loaded; the user only needs to know it is not their fault.
            raise OutageError(
                "My model isn't loaded, so I can't rate anything right now."
                " The bot's owner can see why in the log."
            ) from None

    async def rate_upload(
        self, data: bytes, filename: str, requester: Requester, *, artist: str | None = None
    ) -> RatedSong:
        """Rate uploaded audio.

        Parameters
        ----------
        data : bytes
            The file's contents; the cache key is their sha256.
        filename : str
            The upload's name, as the user's client sent it; `title_from_filename` makes it the title. It
            never becomes a path: the bytes are decoded from memory or a temporary file of our naming.
        requester : Requester
            Who asked; recorded with the rating and used for the per-user job limit.
        artist : str, optional
            The artist, when known (the file's own tags): his earlier reviews of it become evidence.

        Returns
        -------
        RatedSong
            The stored song and whether it came from the cache.

        Raises
        ------
        UserFacingError
            The input cannot be rated (empty, not audio, refused link, busy, model not loaded); the message
            says why.
        """
        if not data:
            raise UserFacingError(EMPTY_FILE)
        key = "file:" + hashlib.sha256(data).hexdigest()
        title = title_from_filename(filename)
        return await self._rate(key, requester, title=title, source=data, artist=artist)

    async def rate_path(self, path: Path, requester: Requester, *, artist: str | None = None) -> RatedSong:
        """Rate a local audio file (the CLI); the worker decodes it from the path, streaming.

        Parameters
        ----------
        path : Path
            The file; the cache key is the sha256 of its bytes, the same as for an upload of it.
        requester, artist
            As for `rate_upload`, which also says what is returned and raised.
        """
        try:
            digest = await asyncio.to_thread(sha256_file, path)
        except OSError as error:
            raise UserFacingError(f"Can't read {path}: {error.strerror}.") from None
        # The worker decodes from the path, streaming: a long file is never held in memory whole.
        title = title_from_filename(path.name)
        return await self._rate("file:" + digest, requester, title=title, source=str(path), artist=artist)

    async def rate_link(
        self, url: str, requester: Requester, *, artist: str | None = None, genres: Sequence[str] = ()
    ) -> RatedSong:
        """Download the audio behind a (YouTube) link and rate it; a cached link is not downloaded again.

        Parameters
        ----------
        url : str
            The link; only allowed hosts are fetched.
        requester : Requester
            As for `rate_upload`, which also says what is returned and raised.
        artist : str, optional
            The artist when the caller knows it (``/album``); the video's own metadata wins.
        genres : sequence of str
            Genre names of the song's release (MusicBrainz), when known.
        """
        url = self.check_link(url)
        return await self._rate(link_key(url), requester, url=url, artist=artist, genres=genres)

    def check_link(self, url: str) -> str:
        """Check a link's shape and host without any network call (cogs do it before deferring).

        Parameters
        ----------
        url : str
            The link as the user gave it.

        Returns
        -------
        str
            The link normalized, as `rate_link` fetches it.

        Raises
        ------
        UserFacingError
            The link is malformed or its host is not allowed; the message says why.
        """
        try:
            return youtube.check_url(url, self.youtube_options)
        except youtube.SourceError as error:
            raise for_user(error) from None

    async def history(self, user_id: int) -> list[HistoryRow]:
        """A user's latest ratings (for /history).

        Parameters
        ----------
        user_id : int
            The Discord user.

        Returns
        -------
        list[HistoryRow]
            At most ten, newest first.
        """
        return await self.store.history(user_id)

    async def top(self, guild_id: int) -> list[HistoryRow]:
        """A server's best-rated songs by the current model (for /top).

        Parameters
        ----------
        guild_id : int
            The Discord server.

        Returns
        -------
        list[HistoryRow]
            At most ten, each song once, best first.
        """
        return await self.store.top(guild_id)

    async def _rate(
        self,
        key: str,
        requester: Requester,
        *,
        title: str | None = None,
        url: str | None = None,
        source: bytes | str | None = None,
        artist: str | None = None,
        genres: Sequence[str] = (),
    ) -> RatedSong:
        """Rate ``source`` (bytes or a path; None: download ``url``) unless ``key`` is cached.

        ``artist`` is the caller's (file tags, ``/album``); a link's metadata wins when it names one.
        """
        started = time.perf_counter()
        scorer = await self._model()
        if (song := await self.store.find_song(key)) is not None:
            if title is not None:
                # A file's title is the name its uploader gave it: each asker sees their own, the rating and
                # picture (which carries no file name) come from the cache.
                song = dataclasses.replace(song, title=title)
            await self.store.record(song, user_id=requester.user_id, guild_id=requester.guild_id, cached=True)
            log.info("rated %s from the cache in %.3f s", key, time.perf_counter() - started)
            return RatedSong(song, cached=True, thresholds=scorer.thresholds)
        async with self.jobs.slot(
            requester.user_id,
            on_position=requester.on_position,
            batch=requester.batch,
            start_by=requester.start_by,
        ):
            timings: dict[str, float] = {}
            album = None
            mark = time.perf_counter()
            if source is None:
                assert url is not None
                features, info, timings["download"] = await self._featurize_link(url)
                # The site's own credit, else the caller's (/album), else a guess from the title or channel.
                title, artist, album = info.title, info.artist or artist or info.likely_artist, info.album
            else:
                features = await self._featurize(source)
                artist, album = artist or features.file_tags.artist, features.file_tags.album
            timings["features"] = time.perf_counter() - mark - timings.get("download", 0.0)
            mark = time.perf_counter()
            evidence = dataclasses.replace(
                self.evidence(artist=artist, album=album, title=title, genres=genres), tags=features.tags
            )
            rating = scorer.rate(evidence=dataclasses.replace(
                evidence, means=features.values, variances=features.variances)).rating
            rating = dataclasses.replace(rating, tags=features.tags)  # kept with the rating: --json, reply
            sections = scorer.rate_sections(features.sections, evidence=evidence)
            # Only a link's title (the source's) goes into the picture: it is cached and shown to everyone who
            # sends the same audio, and a file name is its first uploader's own.
            picture = await self.jobs.run(
                render, features.mel_db, rating, sections, features.seconds, title if url else None
            )
            timings["score+picture"] = time.perf_counter() - mark
        song = SongRecord(
            key, title or key, url, rating, features.seconds, features.truncated, picture, sections,
            artist, album,
        )
        await self.store.record(song, user_id=requester.user_id, guild_id=requester.guild_id, cached=False)
        log.info(
            "rated %s: %d/10 in %.2f s (%s)",
            key,
            rating.score,
            time.perf_counter() - started,
            ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()),
        )
        return RatedSong(song, cached=False, thresholds=scorer.thresholds)

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
            raise for_user(error) from None

    async def _featurize(self, source: bytes | str) -> FeatureResult:
        try:
            return await self.jobs.run(
                featurize, source, self.settings.limits.max_audio_seconds, self.settings.audio.ffmpeg
            )
        except AudioError as error:
            raise for_user(error) from None


def model_id(directory: Path) -> str:
    """A short id of the served model files: ratings cached under another model are not reused.

    Parameters
    ----------
    directory : Path
        The model directory.

    Returns
    -------
    str
        16 hex digits of the sha256 of the bridge's and the taste model's flatbuffers, or ``"missing"`` when
        one cannot be read (the model's load then fails too, and says why).
    """
    try:
        digests = "".join(sha256_file(directory / name) for name in (TFLITE_NAME, TASTE_TFLITE))
    except OSError:
        return "missing"  # the model's load fails too, and says why
    return hashlib.sha256(digests.encode()).hexdigest()[:16]


def album_review(review: FantanoReview | None, title: str | None) -> AlbumReview | None:
    """His review of a song's album as taste evidence: his score, and whether the song is one of his picks.

    Parameters
    ----------
    review : FantanoReview or None
        His review of the album the song is on.
    title : str, optional
        The song's title; compared with his picks without bracketed parts ("(Official Video)").

    Returns
    -------
    AlbumReview or None
    """
    if review is None:
        return None
    name = core_title(title or "")
    return AlbumReview(
        score=review.score,
        favourite=bool(name) and any(core_title(f) == name for f in review.favourites),
        least_favourite=bool(name) and core_title(review.least_favourite or "") == name,
    )


def _log_model_load(future: asyncio.Future[Taste]) -> None:
    if future.cancelled():
        return
    if isinstance(error := future.exception(), ModelError):
        log.error("the model could not be loaded, every rating will fail: %s", error)
    elif error is not None:
        log.error("the model could not be loaded", exc_info=error)
    else:
        log.info("model loaded: %s", future.result().card.get("kind", "?"))


def link_key(url: str) -> str:
    """The cache key of a link, found without any network call.

    YouTube links of every shape (``watch?v=``, ``youtu.be/``, music.youtube.com) map to
    ``youtube:<video id>``; other allowed links key on their normalized URL.

    Parameters
    ----------
    url : str
        A link that `youtube.check_url` accepted.

    Returns
    -------
    str
        ``youtube:<id>`` or ``url:<scheme>://<host><path>[?query]``.
    """
    extractor = get_info_extractor("Youtube")
    if extractor.suitable(url) and (video_id := extractor.get_temp_id(url)):
        return f"youtube:{video_id}"
    parts = urlsplit(url)
    return f"url:{parts.scheme}://{parts.netloc.lower()}{parts.path}" + (
        f"?{parts.query}" if parts.query else ""
    )


def title_from_filename(filename: str) -> str:
    """A readable title from a file name: its last component without the suffix, underscores as spaces.

    Control characters go too, so a title is always one clean line of text.

    Parameters
    ----------
    filename : str
        A name as the user's client sent it (may hold directories, ``\\``, NUL or nothing).

    Returns
    -------
    str
        E.g. ``"../My_Song (demo).mp3"`` -> ``"My Song (demo)"``; ``"untitled"`` when nothing is left.
    """
    name = re.split(r"[\\/]", filename)[-1]
    name = name.rpartition(".")[0] or name  # "song.mp3" -> "song"; ".mp3" stays
    readable = "".join(" " if c == "_" or not c.isprintable() else c for c in name)
    return one_line(readable) or "untitled"


def looks_like_audio(filename: str, content_type: str | None) -> bool:
    """Whether an upload claims to be audio, before downloading it.

    Parameters
    ----------
    filename : str
        The attachment's file name; its suffix is checked against `AUDIO_SUFFIXES`.
    content_type : str, optional
        The MIME type Discord reports; any ``audio/*`` or ``video/*`` counts.

    Returns
    -------
    bool
    """
    if content_type and content_type.split(";")[0].strip().lower().startswith(("audio/", "video/")):
        return True
    return Path(filename).suffix.lower() in AUDIO_SUFFIXES
