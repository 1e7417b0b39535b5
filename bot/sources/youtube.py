"""YouTube links and searches through yt-dlp used as a library: audio only, capped, errors a user can act on.

Every call builds its own ``YoutubeDL`` and blocks, so callers run it in a thread. Nothing here imports
discord. Unknown durations (direct file links, which only tests allow) are let through: the decoder's
own length cap and ``max_filesize`` still bound the work; YouTube always reports a duration except for
live streams, which are rejected.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, NoSupportingHandlers, TransportError
from yt_dlp.utils import DownloadCancelled, UnsupportedError, YoutubeDLError, unsmuggle_url

log = logging.getLogger(__name__)

_MAX_URL_CHARS = 2000


@dataclass(frozen=True)
class VideoInfo:
    """What we keep of a video: yt-dlp's ``id`` (the cache key), title, page URL, seconds, uploader.

    ``artist`` and ``album`` are set when the site names them (YouTube Music tracks do).
    """

    id: str
    title: str
    url: str
    duration: float | None
    uploader: str | None
    artist: str | None = None
    album: str | None = None


@dataclass(frozen=True)
class YouTubeOptions:
    """Limits and policy for every yt-dlp call; sizes in bytes, times in seconds."""

    allowed_hosts: tuple[str, ...] = (
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtu.be",
    )
    allowed_extractors: tuple[str, ...] = ("youtube",)
    max_duration_s: float = 900.0
    max_filesize: int = 50_000_000
    socket_timeout: float = 15.0
    cookiefile: str | None = None


class SourceError(Exception):
    """A link or search we cannot use; ``str(e)`` is meant for the user."""


class UnsupportedLinkError(SourceError):
    pass


class VideoUnavailableError(SourceError):
    pass


class TooLongError(SourceError):
    pass


class TooLargeError(SourceError):
    pass


class LiveStreamError(SourceError):
    pass


class NoResultsError(SourceError):
    pass


class DownloadFailedError(SourceError):
    pass


class _SizeCapReached(DownloadCancelled):
    """Raised from a progress hook; yt-dlp lets DownloadCancelled through unwrapped."""


def check_url(url: str, opts: YouTubeOptions) -> str:
    """Return ``url`` normalized, or raise UnsupportedLinkError unless it is http(s) on an allowed host.

    Runs before yt-dlp sees the URL, so yt-dlp never fetches from hosts we did not allow.
    """
    url = url.strip().strip("<>")  # Discord users wrap links in <> to suppress embeds
    if not url or len(url) > _MAX_URL_CHARS:
        raise UnsupportedLinkError("That doesn't look like a link. Paste a YouTube video link.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as e:
        raise UnsupportedLinkError("That link is malformed. Paste a YouTube video link.") from e
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsupportedLinkError("Only http(s) links work. Paste a YouTube video link.")
    if parts.username is not None or parts.password is not None:
        raise UnsupportedLinkError("Links with a user name or password in them are not accepted.")
    if not any(host == allowed or host.endswith("." + allowed) for allowed in opts.allowed_hosts):
        raise UnsupportedLinkError("I can only fetch YouTube links. Upload the file instead.")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def download_audio(url: str, dest_dir: Path, opts: YouTubeOptions) -> tuple[Path, VideoInfo]:
    """Download the best audio-only format of one video into ``dest_dir`` (blocking).

    Returns the file's path (named after the video id) and its VideoInfo. On any failure nothing is
    left in ``dest_dir``: yt-dlp works in a private temporary directory inside it.
    """
    url = check_url(url, opts)
    dest_dir = Path(dest_dir)
    work = Path(tempfile.mkdtemp(prefix=".ytdl-", dir=dest_dir))
    try:
        filepath, info = _download(url, work, opts)
        # Generic ids can be whole URLs; YouTube ids ([A-Za-z0-9_-]{11}) pass through unchanged.
        final = dest_dir / f"{re.sub(r'[^A-Za-z0-9_-]', '_', info.id)[:80]}{filepath.suffix}"
        filepath.replace(final)
        return final, info
    finally:
        shutil.rmtree(work, ignore_errors=True)


def search(query: str, opts: YouTubeOptions, n: int = 1) -> list[VideoInfo]:
    """Search YouTube for ``query`` and return up to ``n`` videos, best match first (blocking).

    Live streams and videos longer than ``opts.max_duration_s`` are left out, since we could not rate them.
    """
    query = " ".join(query.split())
    if not query:
        raise NoResultsError("Give me something to search for.")
    # allowed_extractors are fullmatched regexes: the search extractor of "youtube" is "youtube:search".
    extractors = (*opts.allowed_extractors, *(f"{name}:search" for name in opts.allowed_extractors))
    params = {**_base_params(opts), "allowed_extractors": list(extractors), "extract_flat": "in_playlist"}
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            result = ydl.extract_info(f"ytsearch{n}:{query}", download=False)
    except YoutubeDLError as e:
        error = _user_error(e)
        if isinstance(error, UnsupportedLinkError):  # no allowed extractor searches
            error = UnsupportedLinkError("Searching YouTube isn't available here; paste a link instead.")
        raise error from None
    videos = _video_infos((result or {}).get("entries") or [], opts)
    if not videos:
        raise NoResultsError(f"Nothing usable on YouTube for “{query[:100]}”.")
    return videos


def _download(url: str, work: Path, opts: YouTubeOptions) -> tuple[Path, VideoInfo]:
    """Run yt-dlp in ``work``; return the downloaded file and its VideoInfo, or raise SourceError."""
    rejection: list[SourceError] = []
    logger = _YtdlpLogger()

    def match_filter(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        error = _rejection(info, opts)
        if error is not None:
            rejection.append(error)
            return str(error)
        return None

    def cap_size(progress: dict[str, Any]) -> None:
        # max_filesize only acts on a Content-Length; this catches bodies streamed without one.
        if (progress.get("downloaded_bytes") or 0) > opts.max_filesize:
            raise _SizeCapReached()

    params = {
        **_base_params(opts),
        "format": "bestaudio/best",
        "noplaylist": True,
        "playlist_items": "1",  # noplaylist does not stop the generic extractor's playlists
        "allowed_extractors": list(opts.allowed_extractors),
        "match_filter": match_filter,
        "max_filesize": opts.max_filesize,
        "progress_hooks": [cap_size],
        "outtmpl": str(work / "audio.%(ext)s"),
        "logger": logger,
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=True)
    except _SizeCapReached:
        raise TooLargeError(_too_large_message(opts)) from None
    except YoutubeDLError as e:
        raise _user_error(e) from None
    if rejection:
        raise rejection[-1]
    video = _video_entry(info)
    if video is None:
        raise NoResultsError("That link has no video in it.")
    files = [Path(d["filepath"]) for d in video.get("requested_downloads") or [] if d.get("filepath")]
    files = [f for f in files if f.is_file()]
    if not files:
        if logger.saw("max-filesize"):
            raise TooLargeError(_too_large_message(opts))
        raise DownloadFailedError("The download produced no audio. Try another link.")
    return files[0], _info_from(video, url)


def _base_params(opts: YouTubeOptions) -> dict[str, Any]:
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,  # quiet alone still prints progress
        "no_warnings": True,
        "logger": _YtdlpLogger(),
        "socket_timeout": opts.socket_timeout,
        "retries": 1,
        "fragment_retries": 1,
        "extractor_retries": 1,
    }
    if opts.cookiefile:
        params["cookiefile"] = opts.cookiefile
    return params


def _rejection(info: dict[str, Any], opts: YouTubeOptions) -> SourceError | None:
    """The error for a video we will not download (live, or known to be too long); None to accept."""
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        return LiveStreamError("That's a live stream. Send a finished video instead.")
    duration = info.get("duration")
    if duration is not None and duration > opts.max_duration_s:
        return TooLongError(
            f"That video is {_minutes(duration)} long; I rate up to {_minutes(opts.max_duration_s)}."
        )
    return None


def _video_entry(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The single video in yt-dlp's result: itself, or the first entry of a playlist."""
    while info is not None and info.get("_type") in ("playlist", "multi_video"):
        info = next(iter(info.get("entries") or []), None)
    return info


def _info_from(video: dict[str, Any], url: str) -> VideoInfo:
    return VideoInfo(
        id=str(video["id"]),
        title=str(video.get("title") or video["id"]),
        url=unsmuggle_url(str(video.get("webpage_url") or url))[0],
        duration=_float_or_none(video.get("duration")),
        uploader=video.get("uploader") or video.get("channel"),
        # yt-dlp lists every credited artist in "artists"; the first is the album's own.
        artist=next(iter(video.get("artists") or []), None) or video.get("artist"),
        album=video.get("album"),
    )


def _video_infos(entries: list[dict[str, Any]], opts: YouTubeOptions) -> list[VideoInfo]:
    """Map flat search entries to VideoInfo, leaving out those we could not rate."""
    videos = []
    for entry in entries:
        if not entry or not entry.get("id") or _rejection(entry, opts) is not None:
            continue
        url = entry.get("url") or f"https://www.youtube.com/watch?v={entry['id']}"
        videos.append(_info_from({**entry, "webpage_url": url}, url))
    return videos


def _user_error(error: YoutubeDLError) -> SourceError:
    """Map a yt-dlp failure to a message a user can act on; the raw message goes to the log only."""
    log.info("yt-dlp failed: %s", error)
    causes = list(_causes(error))
    if any(isinstance(c, NoSupportingHandlers | UnsupportedError) for c in causes):
        return UnsupportedLinkError("I can't fetch anything from that link.")
    for cause in causes:
        if isinstance(cause, HTTPError) and cause.status in (401, 403, 404, 410):
            return VideoUnavailableError("That video is unavailable (private, removed or blocked).")
        if isinstance(cause, HTTPError):
            return DownloadFailedError(f"The video host answered with error {cause.status}. Try again later.")
    if any(isinstance(c, TimeoutError) for c in causes):
        return DownloadFailedError("The video host did not answer in time. Try again later.")
    if any(isinstance(c, TransportError) for c in causes):
        return DownloadFailedError("I couldn't reach the video host. Try again later.")
    text = str(error).lower()
    if "no suitable extractor" in text or "unsupported url" in text:
        return UnsupportedLinkError("I can't fetch anything from that link. Paste a YouTube video link.")
    if any(w in text for w in ("private", "unavailable", "removed", "terminated", "sign in", "blocked")):
        return VideoUnavailableError("That video is unavailable (private, removed or age/region-blocked).")
    if "live" in text:
        return LiveStreamError("That's a live stream (or not started yet). Send a finished video instead.")
    return DownloadFailedError("The download failed. Try again later or upload the file.")


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, through yt-dlp's ``exc_info``/``cause`` links and Python's chaining."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        exc_info = getattr(e, "exc_info", None)
        todo += [exc_info[1] if isinstance(exc_info, tuple) else None, getattr(e, "cause", None)]
        todo += [e.__cause__, e.__context__]


def _too_large_message(opts: YouTubeOptions) -> str:
    return f"That file is bigger than {opts.max_filesize / 1e6:g} MB, more than I download."


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class _YtdlpLogger:
    """Routes yt-dlp's output to ``logging`` and remembers it, since some outcomes are only logged."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def debug(self, msg: str) -> None:
        self._lines.append(msg)
        log.debug("%s", msg)

    def info(self, msg: str) -> None:
        self._lines.append(msg)
        log.info("%s", msg)

    def warning(self, msg: str) -> None:
        self._lines.append(msg)
        log.info("%s", msg)  # yt-dlp hands warnings to a logger even with no_warnings; failures raise

    def error(self, msg: str) -> None:
        self._lines.append(msg)
        log.info("%s", msg)  # every error is raised to the caller too, which decides how loud it is

    def saw(self, fragment: str) -> bool:
        return any(fragment in line for line in self._lines)
