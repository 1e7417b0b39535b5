"""Build the per-track training table: reviews -> tracklists -> audio (YouTube) -> 26 features.

Output, in ``out_dir``:

- ``tracks.csv``: one row per track, ``album_id, artist, album, track, album_score, is_favourite,
  is_least_favourite, video_id`` then the 26 FEATURE_NAMES.
- ``failures.csv``: ``album_id, artist, album, track, stage, reason`` for every album or track that
  failed; ``stage`` is tracklist, search, download or features; ``track`` is empty for a tracklist failure.
- ``tracklists.jsonl``: the tracklists fetched so far, so a rerun asks MusicBrainz or Genius nothing twice.

Resuming: a rerun skips every track already in tracks.csv or failures.csv. Failures are not retried
unless ``retry_failures`` is set (most are permanent: a deleted video, an album no provider has); then the
old failures.csv is set aside and the failed items run again. Every line is written whole and flushed,
and a torn last line (a crash mid-write) is cut off on the next start.

Concurrency: ``workers`` threads each run whole tracks (search, download, featurize). Downloads wait on
the network, featurizing on ffmpeg and numpy (both release the GIL), so two threads keep two cores busy
without a process pool's start-up and numba warm-up cost per worker. BLAS is held to one thread: measured
on 2 cores featurizing 8 two-minute webm files, 2 threads took 3.5-3.7 s with one BLAS thread against
4.7-7.8 s with OpenBLAS's default (each thread's BLAS calls otherwise fight for the same cores).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import re
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, TypeVar

import aiohttp
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from model.features import FEATURE_NAMES, AudioError, extract_features
from sources.albums import Tracklist, TracklistError, TracklistOptions
from sources.names import core_title
from sources.tracklists import find_tracklist
from sources.youtube import SEARCH_TEMPLATE, SourceError, YouTubeOptions, download_audio, find_track
from training.reviews import DataError, Review, read_reviews

log = logging.getLogger(__name__)

TRACK_COLUMNS: tuple[str, ...] = (
    "album_id",
    "artist",
    "album",
    "track",
    "album_score",
    "is_favourite",
    "is_least_favourite",
    "video_id",
    *FEATURE_NAMES,
)
FAILURE_COLUMNS: tuple[str, ...] = ("album_id", "artist", "album", "track", "stage", "reason")

Finder = Callable[[str, str, str], str]  # (artist, album, track) -> URL of the track's audio
T = TypeVar("T")
R = TypeVar("R")


class _Failure(Exception):
    """Why one album or track could not be collected, and at which stage."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(stage, reason)
        self.stage, self.reason = stage, reason


def run_collect(
    reviews_csv: Path,
    out_dir: Path,
    *,
    genius_token: str,
    workers: int = 2,
    limit: int | None = None,
    tracklist_options: TracklistOptions | None = None,
    finder: Finder | None = None,
    yt_options: YouTubeOptions | None = None,
    search_template: str = SEARCH_TEMPLATE,
    retry_failures: bool = False,
) -> Path:
    """Collect features for every track of the reviewed albums; return the path of tracks.csv.

    Parameters
    ----------
    reviews_csv : a review table in a format training/reviews.py reads.
    out_dir : where tracks.csv, failures.csv and tracklists.jsonl are written (created if missing).
    genius_token : the Genius API token for the default tracklist providers ("" skips Genius).
    workers : threads, each running whole tracks.
    limit : only the first ``limit`` albums of the cleaned review table.
    tracklist_options : the tracklist providers (tests point them at loopback); default MusicBrainz,
        then Genius when ``genius_token`` is set.
    finder : injected (tests); default ``find_track`` with ``search_template`` and the tracklist's lengths.
    yt_options : yt-dlp limits for search and download (default: YouTubeOptions()).
    search_template : the track search, a yt-dlp URL with ``{query}``.
    retry_failures : run again what failures.csv lists (it is set aside as failures.previous.csv).

    Raises
    ------
    DataError
        When the review table is unusable (nothing is created then) or tracks.csv / failures.csv were
        written by another version.
    """
    reviews, report = read_reviews(Path(reviews_csv))  # before anything is created: bad input leaves nothing
    log.info("%s", report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    opts = yt_options or YouTubeOptions()
    reviews = reviews[:limit] if limit is not None else reviews
    tracks_path, failures_path = out_dir / "tracks.csv", out_dir / "failures.csv"
    lists_path = out_dir / "tracklists.jsonl"
    if retry_failures and failures_path.exists():
        failures_path.replace(out_dir / "failures.previous.csv")
    done = _done_keys(tracks_path, TRACK_COLUMNS) | _done_keys(failures_path, FAILURE_COLUMNS)
    known, seconds = _read_tracklists(lists_path)
    tracks_out = _Appender(tracks_path, TRACK_COLUMNS)
    failures_out = _Appender(failures_path, FAILURE_COLUMNS)
    lists_out = lists_path.open("a", encoding="utf-8")
    try:
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect") as pool,
        ):
            missing = [r for r in reviews if r.album_id not in known and (r.album_id, "") not in done]
            if missing:
                options = tracklist_options or TracklistOptions(genius_token=genius_token)
                _collect_tracklists(pool, missing, options, (known, seconds), lists_out, failures_out)
            todo = [
                (review, track)
                for review in reviews
                for track in dict.fromkeys(known.get(review.album_id, ()))
                if (review.album_id, track) not in done
            ]
            lengths = {
                (r.artist, r.album, track): length
                for r in reviews
                for track, length in seconds.get(r.album_id, {}).items()
            }
            find = finder or _youtube_finder(opts, search_template, lengths)
            _collect_tracks(pool, todo, find, opts, tracks_out, failures_out)
    finally:
        lists_out.close()
        tracks_out.close()
        failures_out.close()
    return tracks_path


def _collect_tracklists(
    pool: ThreadPoolExecutor,
    missing: list[Review],
    options: TracklistOptions,
    into: tuple[dict[str, tuple[str, ...]], dict[str, dict[str, float | None]]],
    lists_out: IO[str],
    failures_out: _Appender,
) -> None:
    """The first phase: fetch each album's tracklist, adding its titles and lengths to ``into`` (the
    known titles and seconds by album id) and a line to tracklists.jsonl, or a row to failures.csv."""
    known, seconds = into
    for review, result in _each(pool, missing, lambda r: _tracklist(options, r), "tracklists"):
        if isinstance(result, _Failure):
            failures_out.write(_failure_row(review, "", result))
            continue
        known[review.album_id] = tuple(t.title for t in result.tracks)
        seconds[review.album_id] = {t.title: t.seconds for t in result.tracks}
        line = {
            "album_id": review.album_id,
            "tracks": list(known[review.album_id]),
            "seconds": [t.seconds for t in result.tracks],
        }
        lists_out.write(json.dumps(line, ensure_ascii=False) + "\n")
        lists_out.flush()


def _collect_tracks(
    pool: ThreadPoolExecutor,
    todo: list[tuple[Review, str]],
    find: Finder,
    opts: YouTubeOptions,
    tracks_out: _Appender,
    failures_out: _Appender,
) -> None:
    """The second phase: search, download and featurize each (review, track), writing its row to
    tracks.csv or failures.csv as it completes."""
    for (review, track), result in _each(
        pool, todo, lambda item: _collect_track(item[0], item[1], find, opts), "tracks"
    ):
        if isinstance(result, _Failure):
            failures_out.write(_failure_row(review, track, result))
        else:
            tracks_out.write(result)


def _each(
    pool: ThreadPoolExecutor, items: list[T], job: Callable[[T], R], what: str
) -> Iterable[tuple[T, R | _Failure]]:
    """Run ``job`` on every item in ``pool``; yield (item, result or _Failure) as each completes."""
    futures: dict[Future[R], T] = {pool.submit(job, item): item for item in items}
    try:
        for future in tqdm(
            as_completed(futures), total=len(futures), desc=what, unit=what[:-1], disable=not futures
        ):
            item = futures[future]
            try:
                yield item, future.result()
            except _Failure as failure:
                yield item, failure
            except Exception as e:  # one bad item never stops the run; its row in failures.csv says why
                log.exception("%s failed on %r", what, item)
                yield item, _Failure("unexpected", f"{type(e).__name__}: {e}")
    finally:
        for future in futures:
            future.cancel()  # on Ctrl-C or an error while writing, don't start what is still queued


def _tracklist(options: TracklistOptions, review: Review) -> Tracklist:
    """The album's tracklist from the providers' chain (run in a pool thread, so its own event loop)."""

    async def fetch() -> Tracklist:
        async with aiohttp.ClientSession() as session:
            return await find_tracklist(review.artist, review.album, options, session)

    try:
        return asyncio.run(fetch())
    except TracklistError as e:
        raise _Failure("tracklist", str(e)) from None


def _collect_track(review: Review, track: str, find: Finder, opts: YouTubeOptions) -> list[object]:
    """Search, download and featurize one track; return its tracks.csv row or raise _Failure."""
    try:
        url = find(review.artist, review.album, track)
    except (SourceError, IndexError) as e:
        raise _Failure("search", str(e) or "no result") from None
    with tempfile.TemporaryDirectory(prefix="needlebot-collect-") as tmp:
        try:
            path, video = download_audio(url, Path(tmp), opts)
        except SourceError as e:
            raise _Failure("download", str(e)) from None
        try:
            features = extract_features(path)
        except AudioError as e:
            raise _Failure("features", str(e)) from None
    values = [float(v) for v in features.values]
    if not all(math.isfinite(v) for v in values):
        raise _Failure("features", "features are not finite numbers")
    key = _track_key(track)
    favourite = any(_track_key(f) == key for f in review.favourites)
    least = review.least_favourite is not None and _track_key(review.least_favourite) == key
    return [
        review.album_id,
        review.artist,
        review.album,
        track,
        review.score,
        int(favourite),
        int(least),
        video.id,
        *values,
    ]


def _youtube_finder(
    opts: YouTubeOptions, template: str, lengths: dict[tuple[str, str, str], float | None]
) -> Finder:
    """Search for a track; ``lengths`` (seconds by artist, album, track) helps pick the right version."""

    def find(artist: str, album: str, track: str) -> str:
        return find_track(artist, track, lengths.get((artist, album, track)), opts, template).url

    return find


def _track_key(name: str) -> str:
    """A track name for matching picks to titles: no bracketed qualifiers or "feat." credits, folded."""
    return core_title(re.split(r"\s(?:feat|ft|featuring)\.?\s", name, maxsplit=1, flags=re.IGNORECASE)[0])


def _failure_row(review: Review, track: str, failure: _Failure) -> list[object]:
    return [review.album_id, review.artist, review.album, track, failure.stage, failure.reason]


def _done_keys(path: Path, columns: tuple[str, ...]) -> set[tuple[str, str]]:
    """(album_id, track) of every complete row already in ``path``; cuts a torn last line off first."""
    if not path.exists():
        return set()
    _cut_torn_tail(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is not None and tuple(header) != columns:
            raise DataError(f"{path} has other columns than this version writes; move it away and rerun")
        return {(row[0], row[3]) for row in reader if len(row) == len(columns)}


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
        log.warning("%s ended in a partial line (an interrupted run); it was removed", path)


def _read_tracklists(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, float | None]]]:
    """Track titles by album id, and their lengths in seconds where known (older lines have none)."""
    if not path.exists():
        return {}, {}
    _cut_torn_tail(path)
    known: dict[str, tuple[str, ...]] = {}
    seconds: dict[str, dict[str, float | None]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        known[entry["album_id"]] = tuple(entry["tracks"])
        seconds[entry["album_id"]] = dict(zip(entry["tracks"], entry.get("seconds") or [], strict=False))
    return known, seconds


class _Appender:
    """Appends whole CSV rows to a file, writing the header first when the file is new or empty."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self._file = path.open("a", newline="", encoding="utf-8")
        if self._file.tell() == 0:
            self.write(list(columns))

    def write(self, row: list[object]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        self._file.write(buffer.getvalue())  # one write per row, then flush: a crash loses whole rows only
        self._file.flush()

    def close(self) -> None:
        self._file.close()
