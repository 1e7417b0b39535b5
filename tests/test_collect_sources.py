"""`training collect` with its default sources: the MusicBrainz chain and the track search, on loopback.

tests/test_collect.py injects a finder; here the real ``find_track`` picks each track's video from an
RSS search feed, using the lengths the fake MusicBrainz gave, and the real aiohttp client (one event
loop per collect thread) fetches the tracklist.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sources.albums import TracklistOptions
from sources.youtube import YouTubeOptions
from tests.fakes.media import FeedItem, MediaServer
from tests.fakes.musicbrainz import FakeMusicBrainz, FakeRelease
from training.collect import run_collect

LOOPBACK = YouTubeOptions(
    allowed_hosts=("127.0.0.1",), allowed_extractors=("generic",), socket_timeout=5.0, allow_loopback=True
)
REVIEWS = (
    "id,video_id,publish_date,title,artist,album,rating,yellow_flannel,fav_tracks,least_fav_track,genres\n"
    "1,aaaaaaaaaaa,2001-08-27,x,Björk,Vespertine,8,0,COCOON,,\n"
)
RELEASE = FakeRelease(
    "mb-vespertine", "Vespertine", "Björk", "2001-08-27", [[("Hidden Place", 328.0), ("Cocoon", 270.0)]]
)


def test_collect_uses_musicbrainz_and_picks_videos_by_length(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(REVIEWS, encoding="utf-8")
    with FakeMusicBrainz([RELEASE]) as mb, MediaServer() as media:
        for seed, name in enumerate(["hp-short", "hp-right", "cocoon-right", "cocoon-live"]):
            media.add_song(f"{name}.wav", seconds=3.0, seed=seed)
        # Titles alike: only the lengths from MusicBrainz tell the candidates apart (or the "live").
        media.add_feed(
            "search/Björk Hidden Place.rss",
            [
                FeedItem("hp-short.wav", "Björk - Hidden Place", 200),
                FeedItem("hp-right.wav", "Björk - Hidden Place", 329),
            ],
        )
        media.add_feed(
            "search/Björk Cocoon.rss",
            [
                FeedItem("cocoon-live.wav", "Björk - Cocoon (Live)", 270),
                FeedItem("cocoon-right.wav", "Björk - Cocoon", 268),
            ],
        )
        options = TracklistOptions(
            providers=("musicbrainz",),
            musicbrainz_url=mb.url,
            user_agent="NeedleBotTests/1 ( t@example.org )",
        )
        tracks = run_collect(
            reviews,
            tmp_path / "out",
            genius_token="",
            workers=2,
            tracklist_options=options,
            yt_options=LOOPBACK,
            search_template=f"{media.base_url}/search/{{query}}.rss",
        )
        assert [r.status for r in mb.hits()] == [200, 200]
    with tracks.open(newline="", encoding="utf-8") as f:
        rows = {row["track"]: row for row in csv.DictReader(f)}
    assert {t: r["video_id"] for t, r in rows.items()} == {
        "Hidden Place": "hp-right",
        "Cocoon": "cocoon-right",
    }
    assert rows["Cocoon"]["is_favourite"] == "1"
    (line,) = (tmp_path / "out" / "tracklists.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "album_id": "aaaaaaaaaaa", "tracks": ["Hidden Place", "Cocoon"], "seconds": [328.0, 270.0]
    }  # fmt: skip
