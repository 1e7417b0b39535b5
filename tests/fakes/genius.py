"""A fake Genius on 127.0.0.1 serving the endpoints lyricsgenius calls, in Genius's response shapes.

Paths as lyricsgenius builds them from ``API_ROOT = root + "/"`` and ``PUBLIC_API_ROOT = root + "/api/"``:

- ``GET /search?q=``              token API: song hits (``{"meta": {...}, "response": {"hits": [...]}}``)
- ``GET /songs/{id}``             token API: one song with its ``album``
- ``GET /api/albums/{id}/tracks`` public API: ``{"tracks": [{"number", "song"}], "next_page"}``, paginated

Token API paths answer 401 with Genius's own ``invalid_token`` body unless the request carries
``Authorization: Bearer <token>``; the public API needs no token, as on genius.com.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sources.names import normalize_title


@dataclass(frozen=True)
class FakeAlbum:
    artist: str
    name: str
    tracks: tuple[str, ...]


class FakeGenius:
    """Threaded HTTP server holding ``albums``; use as a context manager and pass ``api_root``."""

    def __init__(self, token: str, albums: list[FakeAlbum]) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self.authorizations: list[str | None] = []  # Authorization header of every token-API request
        self._albums: dict[int, dict[str, Any]] = {}
        self._songs: dict[int, dict[str, Any]] = {}
        for album_id, album in enumerate(albums, start=100):
            self._add(album_id, album)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-genius", daemon=True
        )

    @property
    def api_root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hits(self, kind: str | None = None) -> int:
        """Requests served of one kind ("search", "song", "tracks", "unauthorized"), or all of them."""
        with self._lock:
            return self._hits[kind] if kind is not None else sum(self._hits.values())

    def __enter__(self) -> FakeGenius:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _add(self, album_id: int, album: FakeAlbum) -> None:
        artist = {"id": album_id * 10, "name": album.artist, "url": f"https://genius.com/artists/{album_id}"}
        self._albums[album_id] = {
            "id": album_id,
            "name": album.name,
            "full_title": f"{album.name} by {album.artist}",
            "url": f"https://genius.com/albums/{album_id}",
            "artist": artist,
        }
        for number, title in enumerate(album.tracks, start=1):
            song_id = album_id * 1000 + number
            self._songs[song_id] = {
                "id": song_id,
                "title": title,
                "full_title": f"{title} by {album.artist}",
                "url": f"https://genius.com/songs/{song_id}",
                "lyrics_state": "complete",
                "primary_artist": artist,
                "album": self._albums[album_id],
                "_number": number,
            }

    def _search(self, query: str, per_page: int) -> dict[str, Any]:
        words = normalize_title(query).split()

        def text(s: dict[str, Any]) -> list[str]:
            return normalize_title(f"{s['primary_artist']['name']} {s['album']['name']} {s['title']}").split()

        found = [s for s in self._songs.values() if all(w in text(s) for w in words)]
        hits = [{"highlights": [], "index": "song", "type": "song", "result": _public(s)} for s in found]
        return {"hits": hits[:per_page]}

    def _tracks(self, album_id: int, per_page: int, page: int) -> dict[str, Any] | None:
        if album_id not in self._albums:
            return None
        songs = [s for s in self._songs.values() if s["album"]["id"] == album_id]
        chunk = songs[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(songs)
        tracks = [{"number": s["_number"], "song": _public(s)} for s in chunk]
        return {"tracks": tracks, "next_page": page + 1 if more else None}

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], auth: str | None
    ) -> tuple[int, Any]:
        def arg(name: str, default: int) -> int:
            return int(query.get(name, [default])[0] or default)

        public = path.startswith("/api/")
        with self._lock:
            if not public:
                self.authorizations.append(auth)
            if not public and auth != f"Bearer {self.token}":
                self._hits["unauthorized"] += 1
                return 401, {
                    "error": "invalid_token",
                    "error_description": "The access token provided is expired, revoked, malformed or "
                    "invalid for other reasons.",
                }
        if method == "GET" and path == "/search":
            self._count("search")
            return _ok(self._search(query.get("q", [""])[0], arg("per_page", 10)))
        if method == "GET" and (m := re.fullmatch(r"/songs/(\d+)", path)):
            self._count("song")
            song = self._songs.get(int(m.group(1)))
            return _ok({"song": {k: v for k, v in song.items() if k != "_number"}}) if song else _not_found()
        if method == "GET" and (m := re.fullmatch(r"/api/albums/(\d+)/tracks", path)):
            self._count("tracks")
            tracks = self._tracks(int(m.group(1)), arg("per_page", 20), arg("page", 1))
            return _ok(tracks) if tracks is not None else _not_found()
        return _not_found()

    def _count(self, kind: str) -> None:
        with self._lock:
            self._hits[kind] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = fake._route(
                    "GET", parts.path, parse_qs(parts.query), self.headers["Authorization"]
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # requests are counted instead

        return Handler


def _public(song: dict[str, Any]) -> dict[str, Any]:
    """A song as search hits and tracklists show it: no album, no private fields."""
    return {k: v for k, v in song.items() if k not in ("album", "_number")}


def _ok(response: Any) -> tuple[int, Any]:
    return 200, {"meta": {"status": 200}, "response": response}


def _not_found() -> tuple[int, Any]:
    return 404, {"meta": {"status": 404, "message": "Not found"}}
