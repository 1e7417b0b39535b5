"""A fake MusicBrainz web service and Cover Art Archive on 127.0.0.1 (aiohttp, in its own thread).

Shapes follow what the real services send (checked against MusicBrainz's own JSON serializer and tests,
metabrainz/musicbrainz-server lib/.../Serializer/JSON/2/{Release,Medium,ArtistCredit}.pm, the search
index's converter metabrainz/sir sir/wscompat/convert.py and metabrainz/mb-solr's release-list.json,
picard's test/data/ws_data, and the Cover Art Archive API page); the documents here are our own:

- ``GET /ws/2/release/?query=release:"T" AND artist:"A"&limit=N`` (``artist`` matches a phrase of the
  credit, so collaborations come back too; ``limit`` 1 to 100, default 25, and ``offset`` page the
  results) -> ``{"created", "count" (all matches), "offset", "releases": [{"id", "score" (int),
  "count", "title", "status" (left out when unset), "artist-credit": [{"name", "artist", "joinphrase"
  (left out when empty)}], "release-group": {"id", "title", "primary-type", "secondary-types" (both left
  out when unset)}, "date", "country", "release-events" (all three left out without a release event;
  dates may be "2016" or "2016-05"), "track-count", "media": [{"format", "disc-count", "track-count"}]}]}``
- ``GET /ws/2/release/<mbid>?inc=recordings+artist-credits`` -> the release (``"status"`` null when unset,
  ``"artist-credit"`` with every ``joinphrase``, ``"cover-art-archive"``) with ``"media"`` in position
  order: ``[{"position", "title", "format" (null when unknown), "track-count", "tracks": [{"id", "number"
  (a string), "position", "title", "length" (ms, null when unknown), "artist-credit", "recording": {"id",
  "title", "length", "video", ...}}], "track-offset"}]``; a medium without tracks has neither "tracks" nor
  "track-offset"; a hidden track before track 1 is the medium's ``"pregap"`` (position 0) and data tracks
  are its ``"data-tracks"``, both outside "tracks".
- ``GET /release/<mbid>/front-500`` (Cover Art Archive) -> 307 to the image on archive.org (here a small
  JPEG on this server), or 404.
- Errors carry MusicBrainz's ``{"error", "help"}`` body: 404 for an unknown release, 400 for a bad query.

What MusicBrainz enforces, this enforces: a request less than ``min_interval_s`` after the previous one
gets 503 with MusicBrainz's rate-limit body, and a User-Agent without a contact in parentheses (as
aiohttp's and python-requests' defaults are) gets 403. ``unavailable = True`` answers 503 to everything,
``fail_next = N`` to the next N requests (with the body of an overloaded server); ``retry_after`` adds a
Retry-After header (seconds) to every 503; ``busy_status = 429`` answers those as a rate-limiting proxy
in front of a mirror does. ``old_search = True`` writes search results as a response
captured in 2017 has them (lachlan-00/MusicBrainz tests/MusicBrainz/Tests/MusicBrainzTest.php), and as
mb-solr's writer test still expects: the score a string, credits without their own ``"name"``.
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

from sources.names import normalize_title

# The smallest valid JPEG header and end marker: enough for a client that checks the type.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
RATE_LIMITED = (
    "Your requests are exceeding the allowable rate limit. Please see "
    "http://wiki.musicbrainz.org/XMLWebService for more information."
)
OVERLOADED = "The MusicBrainz web server is currently busy. Please try again later."


@dataclass(frozen=True)
class FakeRelease:
    """One release; ``discs`` holds each medium's tracks as (title, seconds, None when unknown).

    ``date`` "" means no release event (no date, country or events at all). ``status`` and
    ``primary_type`` None are unset on MusicBrainz. ``credit`` lists (credited name, join phrase) when
    several artists share the credit (``artist`` is then the whole credit as displayed); empty means
    ``artist`` alone. ``formats`` gives each medium's format (default "CD", None unknown); the
    recordings on a "DVD-Video" medium are videos. ``pregap`` is a hidden track before track 1 of the
    first medium, ``data_tracks`` come after the last medium's tracks. ``artists`` gives each credited
    artist's own name and sort name, in the order of the credit, when they differ from the name it is
    credited under (a variant: credited "Ye", the artist "Kanye West", sorted "West, Kanye").
    ``genres`` are the release group's genres with their vote counts.
    """

    mbid: str
    title: str
    artist: str
    date: str
    discs: Sequence[Sequence[tuple[str, float | None]]]
    primary_type: str | None = "Album"
    secondary_types: tuple[str, ...] = ()
    status: str | None = "Official"
    cover: bool = True
    darkened: bool = False  # images taken down (at a rights holder's request): "front" may still say true
    credit: tuple[tuple[str, str], ...] = ()
    formats: tuple[str | None, ...] = ()
    pregap: tuple[str, float] | None = None
    data_tracks: tuple[tuple[str, float], ...] = ()
    artists: tuple[tuple[str, str], ...] = ()
    genres: tuple[tuple[str, int], ...] = ()


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
    retry_after: int | None = None  # seconds, sent in a Retry-After header with every 503
    busy_status: int = 503
    old_search: bool = False
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
        app.router.add_get("/download/{item}/{image}", self._image)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    def _record(self, request: web.Request) -> Request:
        entry = Request(
            request.path, dict(request.query), time.monotonic(), request.headers.get("User-Agent", "")
        )
        with self._lock:
            self.requests.append(entry)
        return entry

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
            entry.status = self.busy_status
            headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
            message = OVERLOADED if overloaded else RATE_LIMITED
            return web.json_response(
                {"error": message, "help": HELP}, status=self.busy_status, headers=headers
            )
        if not re.search(r"\(.*\S.*\)", agent):
            entry.status = 403
            return web.json_response(
                {"error": "Please provide a meaningful User-Agent.", "help": HELP}, status=403
            )
        return None

    async def _search(self, request: web.Request) -> web.Response:
        if (refused := self._admit(request)) is not None:
            return refused
        query = request.query.get("query", "")
        title, artist = _phrase(query, "release"), _phrase(query, "artist")
        limit, offset = request.query.get("limit", "25"), request.query.get("offset", "0")
        if (
            request.query.get("fmt") != "json" or title is None or artist is None
            or not limit.isdigit() or not 1 <= int(limit) <= 100 or not offset.isdigit()
        ):  # fmt: skip
            return web.json_response({"error": "Invalid query", "help": HELP}, status=400)
        # Lucene finds the artist phrase anywhere in the credit (so collaborations too), the artistname
        # phrase in any credited artist's own name, and every word of the title.
        name = _phrase(query, "artistname")
        found = [
            r for r in self.releases
            if (f" {artist} " in f" {normalize_title(r.artist)} " or (name is not None and _named(r, name)))
            and set(title.split()) <= set(normalize_title(r.title).split())
        ]  # fmt: skip
        found.sort(key=lambda r: len(r.title))  # the closest titles score highest, as Lucene's would
        page = list(enumerate(found))[int(offset) : int(offset) + int(limit)]
        releases = [_search_result(r, max(100 - 5 * i, 1), self.old_search) for i, r in page]
        return web.json_response(
            {
                "created": "2026-11-26T00:00:00.000Z",
                "count": len(found),
                "offset": int(offset),
                "releases": releases,
            }
        )

    async def _release(self, request: web.Request) -> web.Response:
        if (refused := self._admit(request)) is not None:
            return refused
        release = next((r for r in self.releases if r.mbid == request.match_info["mbid"]), None)
        if release is None:
            return web.json_response({"error": "Not Found", "help": HELP}, status=404)
        return web.json_response(_lookup(release, set(request.query.get("inc", "").split("+"))))

    async def _cover(self, request: web.Request) -> web.Response:
        self._record(request)
        release = next((r for r in self.releases if r.mbid == request.match_info["mbid"]), None)
        if release is None or not release.cover:
            return web.Response(status=404, text="Not Found")
        item = f"mbid-{release.mbid}"
        raise web.HTTPTemporaryRedirect(f"{self.url}/download/{item}/{item}-1_thumb500.jpg")

    async def _image(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(body=JPEG, content_type="image/jpeg")


def _phrase(query: str, name: str) -> str | None:
    """The normalized words of the quoted Lucene phrase ``name:"..."`` in ``query``; None without one."""
    match = re.search(name + r':"((?:[^"\\]|\\.)*)"', query)
    return normalize_title(re.sub(r"\\(.)", r"\1", match.group(1))) if match else None


def _named(release: FakeRelease, phrase: str) -> bool:
    """Whether one credited artist's own name holds the normalized ``phrase``."""
    return any(f" {phrase} " in f" {normalize_title(c[2])} " for c in _credits(release))


def _credits(release: FakeRelease) -> list[tuple[str, str, str, str]]:
    """(credited name, join phrase, the artist's own name, its sort name) for each credited artist."""
    credits = release.credit or ((release.artist, ""),)
    own = list(release.artists) + [(name, name) for name, _ in credits[len(release.artists) :]]
    return [(name, join, *artist) for (name, join), artist in zip(credits, own, strict=True)]


def _artist(credit: tuple[str, str, str, str]) -> dict[str, Any]:
    _, _, name, sort_name = credit
    return {
        "id": f"artist-{normalize_title(name)}", "name": name, "sort-name": sort_name, "disambiguation": "",
    }


def _events(release: FakeRelease) -> dict[str, Any]:
    """Date, country and events, all left out when the release has no release event."""
    if not release.date:
        return {}
    area = {"id": "area-xw", "name": "[Worldwide]", "sort-name": "[Worldwide]", "iso-3166-1-codes": ["XW"]}
    return {"date": release.date, "country": "XW", "release-events": [{"date": release.date, "area": area}]}


def _search_result(release: FakeRelease, score: int, old: bool) -> dict[str, Any]:
    """One release as the search server writes it: unset and empty values are left out."""
    group: dict[str, Any] = {"id": f"rg-{release.mbid}", "title": release.title}
    if release.primary_type is not None:
        group["primary-type"] = release.primary_type
    if release.secondary_types:
        group["secondary-types"] = list(release.secondary_types)
    credit = [
        {
            **({} if old else {"name": c[0]}),
            "artist": _artist(c),
            **({"joinphrase": c[1]} if c[1] else {}),
        }
        for c in _credits(release)
    ]
    formats = release.formats or ("CD",) * len(release.discs)
    return {
        "id": release.mbid,
        "score": str(score) if old else score,
        "count": 1,
        "title": release.title,
        **({"status": release.status} if release.status is not None else {}),
        "artist-credit": credit,
        "release-group": group,
        **_events(release),
        "track-count": sum(len(d) for d in release.discs),
        "media": [
            {**({"format": f} if f else {}), "disc-count": 0, "track-count": len(d)}
            for f, d in zip(formats, release.discs, strict=True)
        ],
    }


def _lookup(release: FakeRelease, inc: set[str]) -> dict[str, Any]:
    """The release as ``/ws/2/release/<mbid>?inc=recordings+artist-credits`` returns it; ``inc``
    ``release-groups`` adds its release group, and ``genres`` the genres of it and of the release (the
    release's own are left empty here: voters tag the group)."""
    credit = [{"name": c[0], "joinphrase": c[1], "artist": _artist(c)} for c in _credits(release)]
    formats = release.formats or ("CD",) * len(release.discs)
    media = []
    for position, (fmt, tracks) in enumerate(zip(formats, release.discs, strict=True), start=1):
        video = fmt == "DVD-Video"
        medium: dict[str, Any] = {
            "position": position,
            "title": "",
            "format": fmt,
            "track-count": len(tracks),
        }
        if position == 1 and release.pregap:
            medium["pregap"] = _track(release, credit, position, 0, *release.pregap, video=video)
        if tracks:  # MusicBrainz leaves both keys out of a medium without tracks
            medium["tracks"] = [
                _track(release, credit, position, n, title, seconds, video=video)
                for n, (title, seconds) in enumerate(tracks, start=1)
            ]
            medium["track-offset"] = 0
        if position == len(release.discs) and release.data_tracks:
            medium["data-tracks"] = [
                _track(release, credit, position, n, title, seconds, video=True)
                for n, (title, seconds) in enumerate(release.data_tracks, start=len(tracks) + 1)
            ]
        media.append(medium)
    return {
        "id": release.mbid,
        "title": release.title,
        "status": release.status,
        "quality": "normal",
        "packaging": None,
        "barcode": None,
        "disambiguation": "",
        "text-representation": {"language": "eng", "script": "Latn"},
        **_events(release),
        "artist-credit": credit,
        "cover-art-archive": {
            "artwork": release.cover,
            "count": int(release.cover),
            "front": release.cover,
            "back": False,
            "darkened": release.darkened,
        },
        "media": media,
        **({"genres": []} if "genres" in inc else {}),
        **({"release-group": _group(release, inc)} if "release-groups" in inc else {}),
    }


def _group(release: FakeRelease, inc: set[str]) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": f"rg-{release.mbid}",
        "title": release.title,
        "primary-type": release.primary_type,
        "secondary-types": list(release.secondary_types),
        "first-release-date": release.date,
        "disambiguation": "",
    }
    if "genres" in inc:
        group["genres"] = [
            {"id": f"genre-{normalize_title(name)}", "name": name, "count": count, "disambiguation": ""}
            for name, count in release.genres
        ]
    return group


def _track(
    release: FakeRelease, credit: list[dict[str, Any]], disc: int, position: int, title: str,
    seconds: float | None, *, video: bool,
) -> dict[str, Any]:  # fmt: skip
    length = None if seconds is None else round(seconds * 1000)
    return {
        "id": f"{release.mbid}-t{disc}-{position}",
        "number": str(position),
        "position": position,
        "title": title,
        "length": length,
        "artist-credit": credit,
        "recording": {
            "id": f"{release.mbid}-r{disc}-{position}",
            "title": title,
            "length": length,
            "video": video,
            "disambiguation": "",
        },
    }
