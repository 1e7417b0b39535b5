"""Rating a whole album: tracklist, one search per track, every track through the /rate pipeline.

``/album`` and ``needlebot album`` both call :class:`AlbumService`. Tracks go through
:class:`~bot.service.RatingService`, so they share the worker pool, the limits and the song cache with
everyone's ``/rate``; at most ``[albums] concurrency`` tracks of one album are in flight at once, so a long
album queues behind itself, not in front of other users' single songs. While other users' songs hold every
worker, the progress callback is told the album's place in line.

What each track became (the video used and its song key, or why it failed) is stored as soon as it is
known, and the album under its release id together with the words it was asked for. Asking again answers
from the store without any network call, and an album interrupted by a crash resumes where it stopped.
The score follows ``model.album``: the mean of the rated tracks' expected scores through the album
thresholds, given when at least half the tracks were rated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import numpy as np

from bot.config import AlbumSettings, Settings
from bot.embeds import CHOICES
from bot.errors import BusyError, OutageError, UserFacingError, VerdictError, for_user
from bot.service import RatingService, Requester, album_review
from bot.store import AlbumRecord, SongRecord, StoredTrack, TrackOutcome
from model.album import album_expected, album_score, picks
from model.taste import anchored
from sources import youtube
from sources.albums import AlbumNotFoundError, TracklistError, asked_album
from sources.failures import TryAgainLater
from sources.names import album_key, normalize_title
from sources.tracklists import find_tracklist

if TYPE_CHECKING:
    from sources.fantano import FantanoReview

log = logging.getLogger(__name__)

NOT_REACHED = "not rated in time"

Resolver = Callable[[str, str], Awaitable[AlbumRecord]]  # (artist, title) -> album, note empty
Finder = Callable[[str, str, float | None], youtube.VideoInfo]  # blocking (artist, track, seconds)


class AlbumError(UserFacingError):
    """An album we cannot rate at all (no tracklist); ``str(e)`` is for the user."""


@dataclass(frozen=True)
class TrackResult:
    """One track of the album: its rating (``song``) or why there is none (``error``)."""

    number: int
    track: StoredTrack
    song: SongRecord | None
    video_title: str | None
    video_url: str | None
    error: str | None
    cached: bool


@dataclass(frozen=True)
class RatedAlbum:
    """An album's outcome; ``score`` is None when fewer than half its tracks were rated.

    ``results`` follow the tracklist; ``favourites`` and ``least`` index into it. ``complete`` is False
    when the time budget ran out before every track was tried. ``thresholds`` are the album thresholds
    the score went through (for the verdict's light/decent/strong).
    """

    album: AlbumRecord
    results: tuple[TrackResult, ...]
    score: int | None
    expected: float | None
    favourites: tuple[int, ...]
    least: int | None
    complete: bool
    cached: bool
    thresholds: tuple[float, ...]
    fantano: FantanoReview | None = None

    @property
    def rated(self) -> list[TrackResult]:
        """Tracks that were rated (have a song), in tracklist order."""
        return [r for r in self.results if r.song is not None]

    @property
    def tried(self) -> int:
        """Tracks that were rated or failed, as opposed to not reached in time."""
        return sum(1 for r in self.results if r.error != NOT_REACHED)


Progress = Callable[[AlbumRecord, Sequence[TrackResult], int | None], None]
"""Told the album, the tracks finished so far (in any order) and the album's place in line (None unless it
waits for a worker), after every finished track and whenever that place changes."""


class _Line:
    """Where an album's tracks stand in the fair queue, and so the album's place in line.

    The album waits in line while some of its tracks wait for a worker and none holds one: its place is
    then its best track's. Its tracks waiting behind its own running ones are progress, not a line.
    ``moved`` is called whenever the place changes.
    """

    def __init__(self, moved: Callable[[], None]) -> None:
        # Per track asking for a worker: its place in line, 0 once it holds a worker, None until the queue
        # has said either (or when it is answered from the cache without asking the queue at all).
        self._places: dict[int, int | None] = {}
        self._moved = moved
        self.place: int | None = None

    @contextlib.contextmanager
    def asking(self, number: int, requester: Requester) -> Iterator[Requester]:
        """Track ``number`` asks for a worker in the body; its requests go as the requester yielded."""
        self._places[number] = None
        try:
            yield dataclasses.replace(requester, on_position=functools.partial(self._told, number))
        finally:
            del self._places[number]
            self._update()

    def _told(self, number: int, position: int) -> None:
        self._places[number] = position
        self._update()

    def _update(self) -> None:
        places = [p for p in self._places.values() if p is not None]
        place = min(places) if places and 0 not in places else None
        if place != self.place:
            self.place = place
            self._moved()


def album_request(artist: str, title: str) -> tuple[str, str]:
    """The artist and title asked for, spaces normalized; the cog checks them before deferring.

    Raises
    ------
    AlbumError
        Either is empty once spaces are dropped ("give both").
    """
    try:
        return asked_album(artist, title)
    except AlbumNotFoundError as error:
        raise AlbumError(str(error)) from None


class AlbumService:
    """Rates albums through a :class:`RatingService`.

    Parameters
    ----------
    ratings : RatingService
        The song pipeline (pool, cache, store).
    settings : AlbumSettings
        Caps, concurrency and time budget.
    resolve : Resolver
        Finds an album's tracklist; raises :class:`UserFacingError` (or a tracklist error) when it can't.
    find_track : Finder
        Finds the video of one track (blocking; run by :meth:`bot.jobs.Jobs.search`); raises
        ``youtube.SourceError``.
    """

    def __init__(
        self, ratings: RatingService, settings: AlbumSettings, resolve: Resolver, find_track: Finder
    ) -> None:
        self.ratings = ratings
        self.store = ratings.store
        self.settings = settings
        self.fantano = ratings.fantano
        self._resolve = resolve
        self._find_track = find_track

    async def rate_album(
        self, artist: str, title: str, requester: Requester, progress: Progress | None = None
    ) -> RatedAlbum:
        """Rate the album ``title`` by ``artist``, telling ``progress`` how far it got.

        Parameters
        ----------
        artist : str
            Artist name as the user typed it.
        title : str
            Album title as the user typed it.
        requester : Requester
            Who asked; the tracks queue as one batch of theirs (its ``on_position`` is not used: the
            album's place in line goes to ``progress``).
        progress : Progress, optional
            Told the tracks finished so far and the album's place in line; its errors are logged, not raised.

        Returns
        -------
        RatedAlbum
            Every track's result in tracklist order, the score (1..10, None when too few tracks were rated),
            picks and Fantano's review; tracks not reached within ``time_budget_seconds`` are marked so.

        Raises
        ------
        AlbumError
            An empty artist or title, no tracklist, or a tracklist with no tracks.
        BusyError
            The request queue is full.
        OutageError
            The model could not be loaded, the database stayed locked, or the tracklist provider could not
            answer for now.
        """
        started = time.monotonic()
        artist, title = album_request(artist, title)
        # A missing model fails every track; say so once, and remember nothing about the album's tracks.
        thresholds = await self.ratings.album_thresholds()
        album = await self._album(artist, title)
        # Tracks queue as one request's batch: they take turns with other users' songs in the fair queue.
        requester = dataclasses.replace(requester, batch=True)
        deadline = started + self.settings.time_budget_seconds
        results, complete = await self._rate_tracks(album, requester, progress, deadline)
        review = self.fantano.find(album.artist, album.title) or self.fantano.find(artist, title)
        rated = _summarize(album, results, thresholds, complete=complete, review=review)
        rated = dataclasses.replace(rated, fantano=review)
        if rated.score is not None:
            await self.store.record_album(
                album.release_id, rated.score, user_id=requester.user_id, guild_id=requester.guild_id
            )
        log.info(
            "album %s: %d/%d tracks rated, score %s, in %.1f s%s",
            album.release_id,
            len(rated.rated),
            len(results),
            rated.score,
            time.monotonic() - started,
            "" if rated.complete else " (time budget ran out)",
        )
        return rated

    async def _album(self, artist: str, title: str) -> AlbumRecord:
        """The album as stored for these words, else resolved, capped and stored (AlbumError: no tracks)."""
        query = "\x1f".join(album_key(artist, title))
        album = await self.store.find_album(query)
        if album is None:
            album = self._capped(await self._resolve(artist, title))
            if not album.tracks:
                raise AlbumError(f"{album.source} lists no tracks for “{album.title}” by {album.artist}.")
            await self.store.save_album(album, query)
        return album

    async def _rate_tracks(
        self, album: AlbumRecord, requester: Requester, progress: Progress | None, deadline: float
    ) -> tuple[tuple[TrackResult, ...], bool]:
        """Every track's result in tracklist order (those not reached by ``deadline``, a monotonic time,
        marked so), and whether all were reached; at most ``concurrency`` tracks at once."""
        outcomes = await self.store.track_outcomes(album.release_id)
        done: list[TrackResult] = []
        limit = asyncio.Semaphore(self.settings.concurrency)

        def tell() -> None:
            if progress is not None:
                try:
                    progress(album, tuple(done), line.place)
                except Exception:
                    log.exception("album progress callback failed")  # the album itself goes on

        line = _Line(tell)

        async def one(number: int) -> TrackResult:
            async with limit:
                result = await self._track(album, number, outcomes.get(number), requester, line)
            done.append(result)
            tell()
            return result

        tasks = [asyncio.create_task(one(n)) for n in range(len(album.tracks))]
        try:
            finished, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0.0))
        finally:
            # Out of time, or cancelled ourselves: no track may go on rating (or holding a slot) unseen.
            for task in tasks:
                task.cancel()
            outcomes_or_errors = await asyncio.gather(*tasks, return_exceptions=True)
        for error in outcomes_or_errors:
            if isinstance(error, BusyError):
                raise error
        by_number = {r.number: r for r in (t.result() for t in finished)}
        results = tuple(
            by_number.get(n) or TrackResult(n, track, None, None, None, NOT_REACHED, cached=False)
            for n, track in enumerate(album.tracks)
        )
        return results, not pending

    async def artists(self, prefix: str, limit: int = CHOICES) -> list[str]:
        """Artists for autocomplete: those Fantano reviewed, then those users had rated, without repeats.

        Parameters
        ----------
        prefix : str
            What the user typed so far.
        limit : int
            At most this many names (Discord shows `bot.embeds.CHOICES`).

        Returns
        -------
        list[str]
            Distinct names (compared normalized), Fantano's reviews first.
        """
        names = self.fantano.artists(prefix, limit) + await self.store.rated_artists(prefix, limit)
        return _distinct(names, limit)

    async def titles(self, artist: str, prefix: str, limit: int = CHOICES) -> list[str]:
        """Album titles of ``artist`` for autocomplete, from the same two sources as :meth:`artists`.

        Parameters
        ----------
        artist : str
            Artist name as chosen so far.
        prefix : str
            What the user typed so far.
        limit : int
            At most this many titles (Discord shows `bot.embeds.CHOICES`).

        Returns
        -------
        list[str]
            Distinct titles (compared normalized), Fantano's reviews first.
        """
        rated = await self.store.rated_albums(artist, prefix, limit)
        return _distinct(self.fantano.albums(artist, prefix, limit) + rated, limit)

    async def _track(
        self, album: AlbumRecord, number: int, outcome: TrackOutcome | None, requester: Requester, line: _Line
    ) -> TrackResult:
        track = album.tracks[number]
        known = outcome or TrackOutcome(None, None, None, None)
        video_url, video_title = known.video_url, known.video_title
        if known.error is not None:
            return TrackResult(number, track, None, video_title, video_url, known.error, cached=True)
        if known.song_key is not None and (song := await self.store.find_song(known.song_key)) is not None:
            return TrackResult(number, track, song, video_title, video_url, None, cached=True)
        try:
            if video_url is None:
                video = await self._search(album, track)
                video_url, video_title = video.url, video.title
                # Kept before rating, so a crash during the download does not repeat the search.
                await self.store.save_track_outcome(
                    album.release_id, number, TrackOutcome(video_url, video_title, None, None)
                )
            with line.asking(number, requester) as asker:
                rated = await self.ratings.rate_link(
                    video_url, asker, artist=album.artist, genres=album.genres
                )
        except BusyError:
            raise  # not the track's fault: nothing is remembered about it
        except VerdictError as error:
            # The song's own (not audio, removed, no video found): asking again would say the same.
            await self.store.save_track_outcome(
                album.release_id, number, TrackOutcome(video_url, video_title, None, str(error))
            )
            return TrackResult(number, track, None, video_title, video_url, str(error), cached=False)
        except UserFacingError as error:
            # Our side or a host, for now (workers offline, the database locked, a job past its time):
            # listed now, tried again next time.
            return TrackResult(number, track, None, video_title, video_url, str(error), cached=False)
        await self.store.save_track_outcome(
            album.release_id, number, TrackOutcome(video_url, video_title, rated.song.key, None)
        )
        return TrackResult(number, track, rated.song, video_title, video_url, None, rated.cached)

    async def _search(self, album: AlbumRecord, track: StoredTrack) -> youtube.VideoInfo:
        """The track's video, searched in the searches' own threads (never where discord.py looks up
        host names); a failed search is the bot's error of its kind."""
        try:
            return await self.ratings.jobs.search(self._find_track, album.artist, track.title, track.seconds)
        except youtube.SourceError as error:
            raise for_user(error) from None

    def _capped(self, album: AlbumRecord) -> AlbumRecord:
        """The album cut to ``max_tracks`` tracks and ``max_minutes`` of music, with a note saying so."""
        tracks, note = album.tracks, ""
        if len(tracks) > self.settings.max_tracks:
            tracks = tracks[: self.settings.max_tracks]
            note = f"Rated the first {len(tracks)} of {len(album.tracks)} tracks (my limit per album)."
        total = 0.0
        for kept, track in enumerate(tracks):
            total += track.seconds or 0.0
            if total > 60 * self.settings.max_minutes and kept > 0:
                note = (
                    f"Rated the first {kept} of {len(album.tracks)} tracks: I rate up to"
                    f" {self.settings.max_minutes:g} minutes of music per album."
                )
                tracks = tracks[:kept]
                break
        return dataclasses.replace(album, tracks=tracks, note=note)


def _summarize(
    album: AlbumRecord,
    results: tuple[TrackResult, ...],
    thresholds: Sequence[float],
    *,
    complete: bool,
    review: FantanoReview | None = None,
) -> RatedAlbum:
    """The album's score and picks by ``model.album`` from its rated tracks (none under half rated).

    When he reviewed the album, his score is the album's and anchors each track (his picks a point up or
    down, ``model.taste.anchored``), so the picks follow his.
    """
    if review is not None:
        results = tuple(_anchored(r, review) for r in results)
    rated = [r for r in results if r.song is not None]
    cached = all(r.cached for r in results)
    if not rated or 2 * len(rated) < len(results):
        return RatedAlbum(album, results, None, None, (), None, complete, cached, tuple(thresholds))
    expected = [r.song.rating.expected for r in rated if r.song is not None]
    favourites, least = picks(expected)
    return RatedAlbum(
        album,
        results,
        album_score(expected, thresholds) if review is None else int(np.clip(review.score, 1, 10)),
        album_expected(expected),
        tuple(rated[i].number for i in favourites),
        None if least is None else rated[least].number,
        complete,
        cached,
        tuple(thresholds),
    )


def _anchored(result: TrackResult, review: FantanoReview) -> TrackResult:
    """A rated track with its rating replaced by his album score, moved by his picks."""
    if result.song is None:
        return result
    score, dist = anchored(album_review(review, result.track.title))
    rating = dataclasses.replace(result.song.rating, score=score, expected=float(dist @ np.arange(len(dist))),
                                 distribution=tuple(float(p) for p in dist), evidence="review")
    return dataclasses.replace(result, song=dataclasses.replace(result.song, rating=rating))


def _distinct(names: list[str], limit: int) -> list[str]:
    """The first spelling of each name (compared normalized), at most ``limit`` of them."""
    kept: dict[str, str] = {}
    for name in names:
        kept.setdefault(normalize_title(name), name)
    return list(kept.values())[:limit]


def make_album_service(settings: Settings, ratings: RatingService) -> AlbumService:
    """The album service on the configured tracklist providers and track search.

    Parameters
    ----------
    settings : Settings
        Providers, Genius token, socket timeout (seconds), album caps and time budget.
    ratings : RatingService
        The song pipeline the album's tracks go through.

    Returns
    -------
    AlbumService
        A service whose tracklist lookups raise AlbumError for the user.
    """
    timeout = settings.limits.socket_timeout_seconds
    options = settings.sources.tracklist_options(settings.genius.token, timeout)

    async def resolve(artist: str, title: str) -> AlbumRecord:
        async with aiohttp.ClientSession() as session:
            try:
                tracklist = await find_tracklist(artist, title, options, session)
            except TracklistError as error:
                kind = OutageError if isinstance(error, TryAgainLater) else AlbumError
                raise kind(str(error)) from None
        # Genius has no release ids: its albums key on their names.
        release = tracklist.release_id or "/".join(album_key(tracklist.artist, tracklist.album))
        return AlbumRecord(
            release_id=f"{tracklist.source}:{release}",
            artist=tracklist.artist,
            title=tracklist.album,
            year=tracklist.year,
            cover_url=tracklist.cover_url,
            source=tracklist.source,
            tracks=tuple(StoredTrack(t.title, t.disc, t.position, t.seconds) for t in tracklist.tracks),
            note="",
            genres=tracklist.genres,
        )

    def find_track(artist: str, title: str, seconds: float | None) -> youtube.VideoInfo:
        return youtube.find_track(artist, title, seconds, ratings.youtube_options, settings.sources.search)

    return AlbumService(ratings, settings.albums, resolve, find_track)
