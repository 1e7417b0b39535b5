"""A media server on 127.0.0.1 for yt-dlp's generic extractor.

It serves whatever a test registers: audio files (with or without Content-Length), slow responses,
bodies that trickle a few bytes at a time or stall after the headers,
an HTML page embedding audio, an RSS feed of several enclosures (also a search backend: each item has
a title and an iTunes duration, which yt-dlp's flat extraction reads without downloading), HTTP
redirects, HLS playlists with a known duration or none (live). Unknown names are 404. Every request
is counted, and the cookies it sent kept, so a test can prove what was fetched and with which cookies.

    with MediaServer() as media:
        url = media.add_song("song.wav", seconds=3.0)
        ...
        assert media.hits("song.wav") == 2   # the generic extractor's probe, then the download
"""

from __future__ import annotations

import html
import select
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from tests.support.audio import synth_song, write_audio

CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
}


@dataclass(frozen=True)
class FeedItem:
    """One RSS item: the enclosure ``audio_name``, titled ``title`` (default: the name), ``seconds`` long."""

    audio_name: str
    title: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class _Resource:
    data: bytes
    content_type: str
    content_length: bool
    delay_s: float
    status: int
    location: str | None = None
    trickle_s: float = 0.0  # seconds between chunks of the body; 0 sends it at once
    stall: bool = False  # send the headers, then nothing until the client or the server gives up
    delayed: int | None = None  # how many of the first requests wait delay_s; None: every one


class MediaServer:
    """Threaded HTTP/1.0 server on an ephemeral loopback port; use as a context manager."""

    def __init__(self) -> None:
        self._resources: dict[str, _Resource] = {}
        self._hits: Counter[str] = Counter()
        self._cookies: list[str] = []  # the Cookie header of every request that sent one
        self._abandoned: Counter[str] = Counter()  # bodies the client stopped reading before the end
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="media-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        """The URL that serves ``name`` (registered or not: unknown names give 404)."""
        return f"{self.base_url}/{quote(name)}"

    def add(
        self,
        name: str,
        data: bytes,
        content_type: str,
        *,
        content_length: bool = True,
        delay_s: float = 0.0,
        delayed: int | None = None,
        status: int = 200,
    ) -> str:
        """Serve ``data`` at ``name`` and return its URL.

        Parameters
        ----------
        content_length : False streams the body without a Content-Length header (ends at close).
        delay_s : seconds to wait before answering, to trip a client's socket timeout.
        delayed : only the first ``delayed`` requests wait ``delay_s`` (None: every request), so a
            host that was slow once answers a retry at once.
        status : HTTP status to answer with (the body is sent as well).
        """
        with self._lock:
            self._resources[name] = _Resource(
                data, content_type, content_length, delay_s, status, delayed=delayed
            )
        return self.url(name)

    def add_song(
        self,
        name: str,
        *,
        seconds: float = 3.0,
        seed: int = 0,
        format: str = "wav",
        content_length: bool = True,
    ) -> str:
        """Serve a synthesized song (tests/support/audio.py) as ``format`` at ``name``; return its URL."""
        return self.add(
            name, song_bytes(seconds, seed, format), CONTENT_TYPES[format], content_length=content_length
        )

    def add_page(self, name: str, audio_name: str, *, title: str = "A song") -> str:
        """Serve an HTML page with an ``<audio>`` element pointing at ``audio_name``; return its URL."""
        body = (
            f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>"
            f'<audio controls src="{html.escape(self.url(audio_name))}"></audio></body></html>'
        )
        return self.add(name, body.encode(), "text/html; charset=utf-8")

    def add_feed(self, name: str, items: Sequence[str | FeedItem], *, title: str = "A feed") -> str:
        """Serve an RSS 2.0 feed with one item and enclosure per audio name or FeedItem; return its URL."""
        entries = []
        for item in items:
            item = item if isinstance(item, FeedItem) else FeedItem(item)
            url = html.escape(self.url(item.audio_name))
            duration = f"<itunes:duration>{round(item.seconds)}</itunes:duration>" if item.seconds else ""
            entries.append(
                f"<item><title>{html.escape(item.title or item.audio_name)}</title><guid>{url}</guid>"
                f'{duration}<enclosure url="{url}" type="audio/wav" length="0"/></item>'
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
            f"<title>{html.escape(title)}</title><link>{self.base_url}</link>{''.join(entries)}</channel></rss>"
        )
        return self.add(name, body.encode(), "application/rss+xml")

    def add_trickle(self, name: str, data: bytes, content_type: str, *, every_s: float = 0.5) -> str:
        """Serve ``data`` at ``name`` one 256-byte chunk every ``every_s`` seconds; return its URL.

        Each chunk arrives well within a socket timeout, so only an overall deadline stops the client.
        """
        with self._lock:
            self._resources[name] = _Resource(data, content_type, True, 0.0, 200, trickle_s=every_s)
        return self.url(name)

    def add_stall(self, name: str, content_type: str, *, size: int = 1_000_000) -> str:
        """Answer ``name`` with headers announcing ``size`` bytes, then send nothing; return its URL."""
        with self._lock:
            self._resources[name] = _Resource(bytes(size), content_type, True, 0.0, 200, stall=True)
        return self.url(name)

    def abandoned(self, name: str) -> int:
        """How many responses for ``name`` the client closed before their body ended."""
        with self._lock:
            return self._abandoned[name]

    def add_redirect(self, name: str, location: str, *, status: int = 302) -> str:
        """Answer requests for ``name`` with an HTTP redirect to ``location``; return its URL."""
        with self._lock:
            self._resources[name] = _Resource(b"", "text/plain", True, 0.0, status, location)
        return self.url(name)

    def add_hls(self, name: str, *, seconds: float, live: bool = False, segment_s: float = 10.0) -> str:
        """Serve an HLS media playlist of ``seconds`` total; ``live`` omits EXT-X-ENDLIST. Return its URL.

        yt-dlp reads the duration of a finished playlist and calls one without an end marker live,
        before fetching any segment (the segments themselves are not served).
        """
        n = max(1, round(seconds / segment_s))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{round(segment_s)}"]
        lines += ["#EXT-X-MEDIA-SEQUENCE:0"]
        for i in range(n):
            lines += [f"#EXTINF:{segment_s:.3f},", f"{name}.seg{i}.ts"]
        if not live:
            lines.append("#EXT-X-ENDLIST")
        return self.add(name, ("\n".join(lines) + "\n").encode(), "application/vnd.apple.mpegurl")

    def hits(self, name: str | None = None) -> int:
        """How many requests (any method) asked for ``name``; all requests when ``name`` is None."""
        with self._lock:
            return self._hits[name] if name is not None else sum(self._hits.values())

    def cookies(self) -> list[str]:
        """The ``Cookie`` headers requests sent, in order (requests without cookies left out)."""
        with self._lock:
            return list(self._cookies)

    def start(self) -> MediaServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup(self, path: str, cookie: str | None) -> tuple[_Resource | None, int]:
        """The resource at ``path`` and which request for it this is (1 for the first)."""
        name = unquote(urlsplit(path).path.lstrip("/"))
        with self._lock:
            self._hits[name] += 1
            if cookie:
                self._cookies.append(cookie)
            return self._resources.get(name), self._hits[name]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._respond(body=True)

            def do_HEAD(self) -> None:
                self._respond(body=False)

            def _respond(self, *, body: bool) -> None:
                res, number = server._lookup(self.path, self.headers.get("Cookie"))
                if res is None:
                    self.send_error(404, "Not Found")
                    return
                slow = res.delayed is None or number <= res.delayed
                if res.delay_s and slow and server._stopping.wait(res.delay_s):
                    return
                try:
                    self.send_response(res.status)
                    self.send_header("Content-Type", res.content_type)
                    if res.location is not None:
                        self.send_header("Location", res.location)
                    if res.content_length:
                        self.send_header("Content-Length", str(len(res.data)))
                    self.end_headers()
                    if body:
                        self._body(res)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a size cap or a timeout): that is what some tests want.
                    with server._lock:
                        server._abandoned[unquote(urlsplit(self.path).path.lstrip("/"))] += 1

            def _body(self, res: _Resource) -> None:
                if res.stall:
                    self.wfile.flush()
                    # A closed client shows as readable (EOF) on its socket: then stop, as a server would.
                    while not server._stopping.wait(0.1):
                        if select.select([self.connection], [], [], 0)[0]:
                            raise ConnectionResetError
                    return
                if not res.trickle_s:
                    self.wfile.write(res.data)
                    return
                for start in range(0, len(res.data), 256):
                    self.wfile.write(res.data[start : start + 256])
                    self.wfile.flush()
                    if server._stopping.wait(res.trickle_s):
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass  # requests are counted instead; stderr noise would hide test output

        return Handler


def song_bytes(seconds: float = 3.0, seed: int = 0, format: str = "wav", sr: int = 22050) -> bytes:
    """The bytes of a synthesized stereo song encoded as ``format`` (see tests/support/audio.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_audio(Path(tmp) / f"song.{format}", synth_song(seconds, sr=sr, seed=seed), sr, format)
        return path.read_bytes()
