"""A fake MusicBrainz web service and Cover Art Archive on 127.0.0.1 (aiohttp, in its own thread).

Shapes follow the MusicBrainz JSON web service (``/ws/2``, ``fmt=json``):

- ``GET /ws/2/release/?query=release:"T" AND artist:"A"`` -> ``{"created", "count", "offset",
  "releases": [{"id", "score", "title", "status", "date", "country", "artist-credit", "release-group":
  {"id", "primary-type", "secondary-types"}, "track-count", "media": [{"format", "track-count"}]}]}``
- ``GET /ws/2/release/<mbid>?inc=recordings+artist-credits`` -> the release with ``"cover-art-archive"``
  and ``"media": [{"position", "format", "track-count", "track-offset", "tracks": [{"id", "number",
  "position", "title", "length" (ms), "recording": {"id", "title", "length"}}]}]``
- ``GET /release/<mbid>/front-500`` (Cover Art Archive) -> a small JPEG, or 404.

What MusicBrainz enforces, this enforces: a request less than ``min_interval_s`` after the previous one
gets 503 with MusicBrainz's rate-limit body, and a User-Agent without a contact in parentheses (as
aiohttp's and python-requests' defaults are) gets 403. ``unavailable = True`` answers 503 to everything,
``fail_next = N`` to the next N requests.
Every request is recorded (path, time, User-Agent) so tests can check what was asked and when.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sources.names import normalize_title

# The smallest valid JPEG header and end marker: enough for a client that checks the type.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


@dataclass(frozen=True)
class FakeRelease:
    """One release; ``discs`` holds each medium's tracks as (title, seconds)."""

    mbid: str
    title: str
    artist: str
    date: str
    discs: Sequence[Sequence[tuple[str, float]]]
    primary_type: str = "Album"
    secondary_types: tuple[str, ...] = ()
    status: str = "Official"
    cover: bool = True


@dataclass
class Request:
    path: str
    query: dict[str, str]
    at: float
    user_agent: str
    status: int = 200


@dataclass
class FakeMusicBrainz:
    releases: list[FakeRelease]
    min_interval_s: float = 1.0  # MusicBrainz's rule: one request per second
    unavailable: bool = False
    fail_next: int = 0  # the next N MusicBrainz requests get 503, as an overloaded server answers
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-musicbrainz", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, prefix: str = "/ws/2/") -> list[Request]:
        """Requests whose path starts with ``prefix`` (MusicBrainz's by default, not cover art)."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def __enter__(self) -> FakeMusicBrainz:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake MusicBrainz did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/ws/2/release/", self._search)
        app.router.add_get("/ws/2/release/{mbid}", self._release)
        app.router.add_get("/release/{mbid}/front-500", self._cover)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    def _admit(self, request: web.Request) -> web.Response | None:
        """Record the request; the error response MusicBrainz would give it, or None to serve it."""
        now = time.monotonic()
        agent = request.headers.get("User-Agent", "")
        with self._lock:
            previous = [r.at for r in self.requests if r.path.startswith("/ws/2/")]
            entry = Request(request.path, dict(request.query), now, agent)
            self.requests.append(entry)
            overloaded = self.unavailable or self.fail_next > 0
            self.fail_next = max(0, self.fail_next - 1)
        if overloaded or (previous and now - previous[-1] < self.min_interval_s):
            entry.status = 503
            return web.json_response(
                {"error": "Your requests are exceeding the allowable rate limit. Please see "
                 "http://wiki.musicbrainz.org/XMLWebService for more information."},
                status=503,
            )  # fmt: skip
        if not re.search(r"\(.*\S.*\)", agent):
            entry.status = 403
            return web.json_response({"error": "Please provide a meaningful User-Agent."}, status=403)
        return None

    async def _search(self, request: web.Request) -> web.Response:
        if (refused := self._admit(request)) is not None:
            return refused
        query = request.query.get("query", "")
        title = re.search(r'release:"((?:[^"\\]|\\.)*)"', query)
        artist = re.search(r'artist:"((?:[^"\\]|\\.)*)"', query)
        if request.query.get("fmt") != "json" or not title or not artist:
            return web.json_response({"error": "Invalid query"}, status=400)
        words = normalize_title(title.group(1).replace('\\"', '"')).split()
        who = normalize_title(artist.group(1).replace('\\"', '"'))
        found = [
            r for r in self.releases
            if normalize_title(r.artist) == who and all(w in normalize_title(r.title).split() for w in words)
        ]  # fmt: skip
        found.sort(key=lambda r: len(r.title))  # the closest titles score highest, as Lucene's would
        releases = [_summary(r, score=100 - 5 * i) for i, r in enumerate(found)]
        return web.json_response(
            {"created": "2026-11-26T00:00:00.000Z", "count": len(releases), "offset": 0, "releases": releases}
        )

    async def _release(self, request: web.Request) -> web.Response:
        if (refused := self._admit(request)) is not None:
            return refused
        release = next((r for r in self.releases if r.mbid == request.match_info["mbid"]), None)
        if release is None:
            return web.json_response({"error": "Not Found"}, status=404)
        document = {k: v for k, v in _summary(release).items() if k not in ("score", "release-group")}
        document["cover-art-archive"] = {
            "artwork": release.cover, "count": int(release.cover), "front": release.cover,
            "back": False, "darkened": False,
        }  # fmt: skip
        document["media"] = [
            {
                "position": disc,
                "title": "",
                "format": "CD",
                "track-count": len(tracks),
                "track-offset": 0,
                "tracks": [
                    {
                        "id": f"{release.mbid}-t{disc}-{n}",
                        "number": str(n),
                        "position": n,
                        "title": title,
                        "length": round(seconds * 1000),
                        "artist-credit": _credit(release.artist),
                        "recording": {
                            "id": f"{release.mbid}-r{disc}-{n}",
                            "title": title,
                            "length": round(seconds * 1000),
                            "video": False,
                        },
                    }
                    for n, (title, seconds) in enumerate(tracks, start=1)
                ],
            }
            for disc, tracks in reversed(list(enumerate(release.discs, start=1)))  # order by position
        ]
        return web.json_response(document)

    async def _cover(self, request: web.Request) -> web.Response:
        with self._lock:
            self.requests.append(
                Request(
                    request.path, dict(request.query), time.monotonic(), request.headers.get("User-Agent", "")
                )
            )
        release = next((r for r in self.releases if r.mbid == request.match_info["mbid"]), None)
        if release is None or not release.cover:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=JPEG, content_type="image/jpeg")


def _credit(artist: str) -> list[dict[str, Any]]:
    return [
        {"name": artist, "joinphrase": "",
         "artist": {"id": f"artist-{normalize_title(artist)}", "name": artist, "sort-name": artist}}
    ]  # fmt: skip


def _summary(release: FakeRelease, score: int = 100) -> dict[str, Any]:
    return {
        "id": release.mbid,
        "score": score,
        "title": release.title,
        "status": release.status,
        "date": release.date,
        "country": "XW",
        "artist-credit": _credit(release.artist),
        "release-group": {
            "id": f"rg-{release.mbid}",
            "title": release.title,
            "primary-type": release.primary_type,
            # MusicBrainz leaves the key out when there are none
            **({"secondary-types": list(release.secondary_types)} if release.secondary_types else {}),
        },
        "track-count": sum(len(d) for d in release.discs),
        "media": [{"format": "CD", "disc-count": 0, "track-count": len(d)} for d in release.discs],
    }
