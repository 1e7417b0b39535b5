"""YouTube links and searches through yt-dlp used as a library: audio only, capped, errors a user can act on.

Every call builds its own ``YoutubeDL`` and blocks, so callers run it in a thread. Nothing here imports
discord. Unknown durations (direct file links, which only tests allow) are let through: the decoder's
own length cap and ``max_filesize`` still bound the work; YouTube always reports a duration except for
live streams, which are rejected.

Every ``YoutubeDL`` comes from :func:`sources.netguard.guarded_ydl`, so each request, redirect and
connection yt-dlp makes stays on the allowed hosts and off private addresses. YouTube needs a
JavaScript runtime to solve its challenges: ``yt-dlp[default,deno]`` installs deno and the EJS scripts,
and :func:`ydl_params` enables deno explicitly. Failures become one :class:`SourceError` subclass per
cause, whose ``str`` is the user's message; the bot check also tells the owner's log what to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import yt_dlp
from yt_dlp.extractor import get_info_extractor
from yt_dlp.networking.exceptions import HTTPError, NoSupportingHandlers, TransportError
from yt_dlp.utils import (
    DownloadCancelled,
    GeoRestrictedError,
    UnsupportedError,
    YoutubeDLError,
    unsmuggle_url,
)

from sources.failures import TryAgainLater
from sources.names import normalize_title
from sources.netguard import BlockedRequestError, HostPolicy, guarded_ydl
from sources.text import clock, one_line

log = logging.getLogger(__name__)

_MAX_URL_CHARS = 2000
# Query parameters that tie a video link to a playlist or mix (YouTube and YouTube Music add them).
_PLAYLIST_PARAMS = frozenset({"list", "index", "start_radio", "pp"})
SEARCH_TEMPLATE = "ytsearch5:{query}"  # the default [sources] search: five YouTube results, flat


@dataclass(frozen=True)
class VideoInfo:
    """What we keep of a video: yt-dlp's ``id`` (the cache key), title, page URL, seconds, uploader.

    ``artist`` and ``album`` are set when the site names them (YouTube Music tracks do);
    ``likely_artist`` guesses the artist of any video.
    """

    id: str
    title: str
    url: str
    duration: float | None
    uploader: str | None
    artist: str | None = None
    album: str | None = None

    @property
    def likely_artist(self) -> str | None:
        """The artist, best evidence first; None when nothing names one.

        The site's own credit (``artist``); else the part before " - " in an "Artist - Title" title;
        else the channel, without the " - Topic" or "VEVO" of artist channels.
        """
        if self.artist:
            return self.artist
        for separator in _TITLE_SEPARATORS:
            if separator in self.title and (artist := self.title.partition(separator)[0].strip()):
                return artist
        channel = (self.uploader or "").strip()
        for suffix in _CHANNEL_SUFFIXES:
            channel = channel.removesuffix(suffix).strip()
        return channel or None


_TITLE_SEPARATORS = (" - ", " – ", " — ")  # "Artist - Title (Official Video)"
_CHANNEL_SUFFIXES = (" - Topic", "VEVO")  # YouTube's auto-generated artist channels, and labels' ones


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
    # Videos longer than this are refused before downloading; up to it, a song is rated on its first part
    # (the audio cap, `[limits] max_audio_seconds`). The defaults of `[limits]` come from here.
    max_duration_s: float = 1800.0
    max_filesize: int = 100_000_000
    socket_timeout: float = 15.0
    # The whole download, in seconds: a host trickling bytes never trips the socket timeout.
    download_timeout: float = 120.0
    cookiefile: str | None = None
    # Hosts yt-dlp may also contact while handling an allowed link (never accepted as links themselves):
    # YouTube serves the audio itself from googlevideo.com.
    media_hosts: tuple[str, ...] = ("googlevideo.com",)
    allow_loopback: bool = False

    @property
    def policy(self) -> HostPolicy:
        """What every request yt-dlp makes for us must pass."""
        return HostPolicy((*self.allowed_hosts, *self.media_hosts), self.allow_loopback)


class SourceError(Exception):
    """A link or search we cannot use; ``str(e)`` is meant for the user.

    Those that are also :class:`~sources.failures.TryAgainLater` say nothing about the video (the host or
    YouTube refused for now); the rest are the video's own verdict.
    """


class UnsupportedLinkError(SourceError):
    pass


class BotCheckError(SourceError, TryAgainLater):
    """YouTube asked this server to sign in to prove it is not a bot (common on datacenter IPs)."""


class VideoUnavailableError(SourceError):
    """The video cannot be watched; the subclasses say why when YouTube does."""


class PrivateVideoError(VideoUnavailableError):
    pass


class RemovedVideoError(VideoUnavailableError):
    pass


class AgeRestrictedError(VideoUnavailableError):
    pass


class RegionBlockedError(VideoUnavailableError):
    pass


class TooLongError(SourceError):
    pass


class TooLargeError(SourceError):
    pass


class LiveStreamError(SourceError):
    pass


class NoResultsError(SourceError):
    pass


class DownloadFailedError(SourceError, TryAgainLater):
    """The download failed for a reason YouTube did not name; another try may work."""


class NetworkError(DownloadFailedError):
    """The video host could not be reached or did not answer in time."""


class _SizeCapReached(DownloadCancelled):
    """Raised from a progress hook; yt-dlp lets DownloadCancelled through unwrapped."""


class _DeadlineReached(DownloadCancelled):
    """Raised from a progress hook once the download has run past ``download_timeout``."""


def check_url(url: str, opts: YouTubeOptions) -> str:
    """Return ``url`` normalized, or raise UnsupportedLinkError unless it is http(s) on an allowed host.

    Runs before yt-dlp sees the URL, so yt-dlp never fetches from hosts we did not allow.

    Parameters
    ----------
    url : str
        A link as the user pasted it (``<>`` around it allowed).
    opts : YouTubeOptions
        The allowed hosts.

    Returns
    -------
    str
        The URL stripped of whitespace and angle brackets.

    Raises
    ------
    UnsupportedLinkError
        Not a link, malformed, not http(s), with credentials, on a host not allowed, to a refused IP
        address, or a playlist/channel link.
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
    if not HostPolicy(opts.allowed_hosts).allows_host(host):
        raise UnsupportedLinkError("I can only fetch YouTube links. Upload the file instead.")
    netloc = host if port is None else f"{host}:{port}"
    url = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    try:
        opts.policy.check_url(url)  # an IP literal is judged here; names when they resolve
    except BlockedRequestError:
        raise UnsupportedLinkError("Links to private or local network addresses are not accepted.") from None
    return _one_video(url)


def _one_video(url: str) -> str:
    """``url`` without its playlist; UnsupportedLinkError for a playlist or channel link.

    yt-dlp hands a watch link that names a list (a mix, an album on YouTube Music) to its playlist
    extractor, which ``allowed_extractors`` leaves out, so such a link would fail after the user waited.
    The video alone is what the user meant; a link to a whole playlist or channel is refused up front.
    """
    video, playlist = get_info_extractor("Youtube"), get_info_extractor("YoutubeTab")
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key not in _PLAYLIST_PARAMS]
    if len(kept) < len(pairs):
        single = urlunsplit(parts._replace(query=urlencode(kept)))
        if video.suitable(single):
            return single
    if playlist.suitable(url) and not video.suitable(url):
        raise UnsupportedLinkError("That's a playlist or channel link. Paste the link of one song's video.")
    return url


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


def find_track(
    artist: str, title: str, seconds: float | None, opts: YouTubeOptions, template: str
) -> VideoInfo:
    """Search for one album track and return the best candidate video (blocking).

    Parameters
    ----------
    artist, title : str
        The track as the tracklist names it.
    seconds : float or None
        The track's length from the tracklist, or None; candidates far from it rank lower.
    opts : YouTubeOptions
        Allowed hosts, timeouts (seconds) and limits for the search.
    template : str
        A yt-dlp URL with ``{query}``, e.g. ``ytsearch5:{query}`` (the ``[sources] search`` setting); in an
        http(s) template the query is URL-encoded.

    Candidates are flat search entries (no download). Versions that are not the track (live, reaction,
    review, full album, "1 hour", sped up, slowed, ...) are skipped unless the track's own title says so;
    the rest are ranked by how much of the title and artist they name, a YouTube Music "Artist - Topic"
    channel or "Official Audio", and how close their duration is to ``seconds``.

    Returns
    -------
    VideoInfo
        The chosen candidate as its flat search entry describes it (duration in seconds).

    Raises
    ------
    NoResultsError
        Nothing usable matches; the message names the track.
    SourceError
        The search itself failed (see :class:`SourceError`'s subclasses).
    """
    artist, title = one_line(artist), one_line(title)
    if not title:
        raise NoResultsError("Give me a track title to search for.")
    query = f"{artist} {title}".strip()
    best = max(
        ((score, video) for video in _search(query, opts, template)
         if (score := _match_score(video, artist, title, seconds)) is not None),
        key=lambda pair: pair[0],
        default=None,
    )  # fmt: skip
    if best is None:
        raise NoResultsError(f"I found no video of “{title[:100]}” by {artist[:100]}.")
    return best[1]


def _search(query: str, opts: YouTubeOptions, template: str) -> list[VideoInfo]:
    """Flat-extract the search ``template`` filled with ``query``; the entries we could rate."""
    url = template.replace("{query}", quote(query) if "://" in template else query)
    if "://" in template:
        url = check_url(url, opts)
    # allowed_extractors are fullmatched regexes: the search extractor of "youtube" is "youtube:search".
    extractors = (*opts.allowed_extractors, *(f"{name}:search" for name in opts.allowed_extractors))
    params = {**ydl_params(opts), "allowed_extractors": list(extractors), "extract_flat": "in_playlist"}
    try:
        with _youtube_dl(params, opts) as ydl:
            result = ydl.extract_info(url, download=False)
    except YoutubeDLError as e:
        error = _user_error(e, opts)
        if isinstance(error, UnsupportedLinkError):  # no allowed extractor searches
            error = UnsupportedLinkError("Searching YouTube isn't available here; paste a link instead.")
        raise error from None
    return _video_infos((result or {}).get("entries") or [], opts)


# Words that mark a version other than the studio track, unless the track's own title has them.
_OTHER_VERSIONS = re.compile(
    r"\b(live|reaction|reacts?|review|full album|\d+ hours?|sped up|speed up|slowed|reverb|nightcore"
    r"|8d audio|karaoke|instrumental|cover|remix|tutorial|lesson)\b"
)


def _match_score(video: VideoInfo, artist: str, title: str, seconds: float | None) -> float | None:
    """How well ``video`` matches the track (higher is better); None when it is not the track at all."""
    name, track = normalize_title(video.title), normalize_title(title)
    channel = normalize_title(video.uploader or "")
    for word in _OTHER_VERSIONS.findall(name):
        if not re.search(rf"\b{re.escape(word)}\b", track):
            return None
    title_words = set(track.split())
    if not title_words:
        return None
    named = len(title_words & set(name.split())) / len(title_words)
    if named < 0.5:  # fewer than half of the title's words: another song
        return None
    artist_words = set(normalize_title(artist).split())
    artist_named = len(artist_words & set(f"{name} {channel}".split())) / max(1, len(artist_words))
    score = 2.0 * named + artist_named
    if channel == f"{normalize_title(artist)} topic":
        score += 1.5  # YouTube Music's auto-generated channel: the studio track itself
    if "official audio" in name:
        score += 0.5
    if seconds and video.duration:
        score -= min(abs(video.duration - seconds) / 20.0, 3.0)  # a minute off costs 3 points
    return score


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

    deadline = time.monotonic() + opts.download_timeout

    def cap_size_and_time(progress: dict[str, Any]) -> None:
        # max_filesize only acts on a Content-Length; this catches bodies streamed without one.
        if (progress.get("downloaded_bytes") or 0) > opts.max_filesize:
            raise _SizeCapReached()
        # yt-dlp calls this after every block it reads, so a trickling host is stopped here, in the
        # downloading thread itself; a host that sends nothing at all trips the socket timeout instead.
        if time.monotonic() > deadline:
            raise _DeadlineReached()

    params = {
        **ydl_params(opts),
        "format": "bestaudio/best",
        "noplaylist": True,
        "playlist_items": "1",  # noplaylist does not stop the generic extractor's playlists
        "allowed_extractors": list(opts.allowed_extractors),
        "match_filter": match_filter,
        "max_filesize": opts.max_filesize,
        "progress_hooks": [cap_size_and_time],
        "outtmpl": str(work / "audio.%(ext)s"),
        "logger": logger,
    }
    try:
        with _youtube_dl(params, opts) as ydl:
            info = ydl.extract_info(url, download=True)
    except _SizeCapReached:
        raise TooLargeError(_too_large_message(opts)) from None
    except _DeadlineReached:
        log.info("download of %s stopped after %g s", url, opts.download_timeout)
        raise NetworkError(
            f"The video host is too slow: the download took over {opts.download_timeout:g} seconds."
            " Try again later or upload the file."
        ) from None
    except YoutubeDLError as e:
        raise _user_error(e, opts) from None
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


def ydl_params(opts: YouTubeOptions) -> dict[str, Any]:
    """The ``YoutubeDL`` parameters every call starts from: quiet, logged, timed out, deno for YouTube.

    The cookie file is not among them: :func:`_youtube_dl` hands yt-dlp a private copy of it.

    Parameters
    ----------
    opts : YouTubeOptions
        The socket timeout (seconds).

    Returns
    -------
    dict[str, Any]
        A fresh dict the caller may extend.
    """
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,  # quiet alone still prints progress
        "no_warnings": True,
        "logger": _YtdlpLogger(),
        "socket_timeout": opts.socket_timeout,
        "retries": 1,
        "fragment_retries": 1,
        "extractor_retries": 1,
        # yt-dlp's default today, stated so that a change of default cannot silently drop the runtime
        # YouTube's challenges need (tests/test_youtube.py checks deno and the EJS scripts are found).
        "js_runtimes": {"deno": {}},
    }
    return params


@contextlib.contextmanager
def _youtube_dl(params: dict[str, Any], opts: YouTubeOptions) -> Iterator[yt_dlp.YoutubeDL]:
    """A guarded ``YoutubeDL`` with ``params`` that reads a private copy of ``opts.cookiefile``.

    yt-dlp writes its cookie jar back to the cookie file when it closes, truncating the file first, so
    runs sharing the operator's file (worker processes, search threads) read it half-written ("does not
    look like a Netscape format cookies file") and the operator's cookies get rewritten. Each run reads
    its own copy instead, removed afterwards whatever happens (in a worker it sits in the worker's
    scratch directory, which goes with a killed worker); cookies YouTube sets during a run are dropped
    with it, and the operator's file is only ever read.
    """
    with _private_cookies(opts.cookiefile) as cookiefile:
        if cookiefile is not None:
            params = {**params, "cookiefile": cookiefile}
        with guarded_ydl(params, opts.policy) as ydl:
            yield ydl


@contextlib.contextmanager
def _private_cookies(cookiefile: str | None) -> Iterator[str | None]:
    """A temporary copy of ``cookiefile`` (owner-only), or None when there is none to copy."""
    if not cookiefile:
        yield None
        return
    handle, copy = tempfile.mkstemp(prefix="needlebot-cookies-", suffix=".txt")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with open(os.path.expanduser(cookiefile), "rb") as source:
                    shutil.copyfileobj(source, out)
                readable = True
            except OSError as error:
                # yt-dlp itself runs without cookies when the file is missing; say so: YouTube may refuse.
                log.warning("cannot read [sources] cookiefile %s (%s); running yt-dlp without cookies",
                            cookiefile, error.strerror or error)  # fmt: skip
                readable = False
        yield copy if readable else None
    finally:
        os.unlink(copy)


def _rejection(info: dict[str, Any], opts: YouTubeOptions) -> SourceError | None:
    """The error for a video we will not download (live, or known to be too long); None to accept."""
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        return LiveStreamError("That's a live stream. Send a finished video instead.")
    duration = info.get("duration")
    if duration is not None and duration > opts.max_duration_s:
        return TooLongError(
            f"That video is {clock(duration)} long; I rate up to {clock(opts.max_duration_s)}."
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
        artist=next(iter(video.get("artists") or []), None) or video.get("artist") or video.get("creator"),
        album=video.get("album"),
    )


def _video_infos(entries: list[dict[str, Any]], opts: YouTubeOptions) -> list[VideoInfo]:
    """Map flat search entries to VideoInfo, leaving out those we could not rate.

    YouTube's entries carry an ``id``; a generic extractor's (an RSS feed) only a URL, which then
    stands for the id.
    """
    videos = []
    for entry in entries:
        if not entry or not (entry.get("id") or entry.get("url")) or _rejection(entry, opts) is not None:
            continue
        url = entry.get("url") or f"https://www.youtube.com/watch?v={entry['id']}"
        url = unsmuggle_url(url)[0]
        videos.append(_info_from({**entry, "id": entry.get("id") or url, "webpage_url": url}, url))
    return videos


_BOT_CHECK_ADVICE = (
    "YouTube asked this server to sign in to confirm it is not a bot, so links and album searches fail. "
    "Fix: export cookies of a YouTube session (a throwaway account, logged in, in a private window: a "
    "browser extension such as 'Get cookies.txt LOCALLY' or `yt-dlp --cookies-from-browser firefox "
    "--cookies cookies.txt`) and set [sources] cookiefile to that Netscape cookies file. Cookies expire "
    "(YouTube rotates them, often within days): when this comes back, export fresh ones. A PO-token "
    "provider plugin (see the README) may also help."
)


def _user_error(error: YoutubeDLError, opts: YouTubeOptions) -> SourceError:
    """Map a yt-dlp failure to one message a user can act on; the raw message goes to the log only."""
    log.info("yt-dlp failed: %s", error)
    causes = list(_causes(error))
    if any(isinstance(c, BlockedRequestError) for c in causes):
        return UnsupportedLinkError("That link leads somewhere I don't fetch from.")
    if any(isinstance(c, NoSupportingHandlers | UnsupportedError) for c in causes):
        return UnsupportedLinkError("I can't fetch anything from that link.")
    for cause in causes:
        if isinstance(cause, HTTPError) and cause.status in (401, 403, 404, 410):
            return VideoUnavailableError("That video is unavailable.")
        if isinstance(cause, HTTPError):
            return NetworkError(f"The video host answered with error {cause.status}. Try again later.")
    text = str(error).lower().replace("’", "'")
    # A body that stops mid-download is reported only in words, after yt-dlp's own retries.
    if any(isinstance(c, TimeoutError) for c in causes) or "got error: timed out" in text:
        return NetworkError("The video host did not answer in time. Try again later.")
    if any(isinstance(c, TransportError) for c in causes):
        return NetworkError("I couldn't reach the video host. Try again later.")
    if "no suitable extractor" in text or "unsupported url" in text:
        return UnsupportedLinkError("I can't fetch anything from that link. Paste a YouTube video link.")
    if "not a bot" in text:
        cookies = f" The cookies in {opts.cookiefile} are set but no longer work." if opts.cookiefile else ""
        log.warning("%s%s", _BOT_CHECK_ADVICE, cookies)
        return BotCheckError(
            "YouTube is refusing this bot right now, so I can't fetch that video. "
            "Upload the audio file instead; the bot's owner has been told how to fix it."
        )
    if "private video" in text:
        return PrivateVideoError("That video is private.")
    if any(isinstance(c, GeoRestrictedError) for c in causes) or "your country" in text:
        return RegionBlockedError("That video is blocked in the country this bot runs in.")
    if any(w in text for w in ("confirm your age", "age-restricted", "age restricted", "inappropriate")):
        return AgeRestrictedError(
            "That video is age-restricted, so I can't fetch it. Upload the file instead."
        )
    if any(w in text for w in ("removed", "terminated", "no longer available")):
        return RemovedVideoError("That video has been removed.")
    if "unavailable" in text or "not available" in text:
        return VideoUnavailableError("That video is unavailable.")
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
