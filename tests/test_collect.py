"""The collect recipe end to end: real lyricsgenius and yt-dlp against fake Genius and media servers."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.features import FEATURE_NAMES
from model.scorer import Scorer
from sources.albums import TracklistOptions
from sources.youtube import YouTubeOptions
from tests.fakes.genius import FakeAlbum, FakeGenius
from tests.fakes.media import MediaServer
from training.collect import FAILURE_COLUMNS, TRACK_COLUMNS, Finder, run_collect

TOKEN = "collect-token"
LOOPBACK = YouTubeOptions(
    allowed_hosts=("127.0.0.1",), allowed_extractors=("generic",), socket_timeout=2.0, allow_loopback=True
)
REVIEWS = (
    "id,video_id,publish_date,title,artist,album,rating,yellow_flannel,fav_tracks,least_fav_track,genres\n"
    '1,aaaaaaaaaaa,2012-04-24,x,Death Grips,The Money Store,9,1,"GET GOT, LOST BOYS",THE FEVER (AYE AYE),\n'
    "2,bbbbbbbbbbb,2001-08-27,x,Björk,Vespertine,8,0,COCOON,N/A,\n"
    '3,ccccccccccc,2019-05-20,x,"Tyler, The Creator",IGOR,7,0,EARFQUAKE,,\n'
    "4,ddddddddddd,2020-01-01,x,Nobody,Missing Album,5,0,,,\n"
    "5,eeeeeeeeeee,2020-01-02,x,Unscored,Album,classic,0,,,\n"
)
GENIUS_ALBUMS = [
    FakeAlbum("Death Grips", "The Money Store", ("Get Got", "The Fever (Aye Aye)", "Lost Boys")),
    FakeAlbum("Björk", "Vespertine", ("Hidden Place", "Cocoon")),
    FakeAlbum("Tyler, The Creator", "IGOR", ("EARFQUAKE", "I THINK", "NEW MAGIC WAND (feat. Santigold)")),
]
# Media names by (album, track); what is not here is a 404.
BROKEN = {"I THINK": "page", "NEW MAGIC WAND (feat. Santigold)": "garbage", "Hidden Place": "404"}


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[FakeGenius, MediaServer]]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # so the test can see every temp file go
    with FakeGenius(TOKEN, GENIUS_ALBUMS) as genius, MediaServer() as media:
        for seed, album in enumerate(GENIUS_ALBUMS):
            for number, track in enumerate(album.tracks, start=1):
                name = f"{seed}-{number}.wav"
                match BROKEN.get(track):
                    case None:
                        media.add_song(name, seconds=3.0, seed=seed * 10 + number)
                    case "page":
                        media.add(name, b"<html><body>no audio</body></html>", "text/html")
                    case "garbage":
                        media.add(name, b"RIFF\x00\x00\x00\x00WAVEjunk" * 100, "audio/wav")
        yield genius, media


def _finder(media: MediaServer) -> Finder:
    names = {
        (a.artist, t): f"{i}-{n}.wav" for i, a in enumerate(GENIUS_ALBUMS) for n, t in enumerate(a.tracks, 1)
    }

    def find(artist: str, album: str, track: str) -> str:
        return media.url(names[(artist, track)])

    return find


def _run(tmp_path: Path, genius: FakeGenius, media: MediaServer, **kwargs: object) -> Path:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(REVIEWS, encoding="utf-8")
    return run_collect(
        reviews,
        tmp_path / "out",
        genius_token=TOKEN,
        workers=2,
        tracklist_options=TracklistOptions(
            providers=("genius",), genius_url=genius.api_root, genius_token=TOKEN, timeout=5.0
        ),
        finder=_finder(media),
        yt_options=LOOPBACK,
        **kwargs,  # type: ignore[arg-type]
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_collect_end_to_end_then_resume(tmp_path: Path, servers: tuple[FakeGenius, MediaServer]) -> None:
    genius, media = servers
    tracks_path = _run(tmp_path, genius, media)

    assert tracks_path == tmp_path / "out" / "tracks.csv"
    assert tracks_path.read_text(encoding="utf-8").splitlines()[0] == ",".join(TRACK_COLUMNS)
    rows = {(r["album_id"], r["track"]): r for r in _rows(tracks_path)}
    assert sorted(rows) == [
        ("aaaaaaaaaaa", "Get Got"),
        ("aaaaaaaaaaa", "Lost Boys"),
        ("aaaaaaaaaaa", "The Fever (Aye Aye)"),
        ("bbbbbbbbbbb", "Cocoon"),
        ("ccccccccccc", "EARFQUAKE"),
    ]
    flags = {k[1]: (r["is_favourite"], r["is_least_favourite"]) for k, r in rows.items()}
    assert flags == {
        "Get Got": ("1", "0"),
        "Lost Boys": ("1", "0"),
        "The Fever (Aye Aye)": ("0", "1"),
        "Cocoon": ("1", "0"),
        "EARFQUAKE": ("1", "0"),
    }
    fever = rows[("aaaaaaaaaaa", "The Fever (Aye Aye)")]
    assert (fever["artist"], fever["album"], fever["album_score"], fever["video_id"]) == (
        "Death Grips",
        "The Money Store",
        "9",
        "0-2",
    )
    for row in rows.values():
        values = [float(row[name]) for name in FEATURE_NAMES]
        assert all(math.isfinite(v) for v in values)
    assert len({rows[k]["mfcc1"] for k in rows}) == 5  # different songs, different features

    failures = {(r["album_id"], r["track"]): r for r in _rows(tmp_path / "out" / "failures.csv")}
    assert list(_rows(tmp_path / "out" / "failures.csv")[0]) == list(FAILURE_COLUMNS)
    assert set(failures) == {
        ("ddddddddddd", ""),
        ("bbbbbbbbbbb", "Hidden Place"),
        ("ccccccccccc", "I THINK"),
        ("ccccccccccc", "NEW MAGIC WAND (feat. Santigold)"),
    }
    stage = {k[1]: (r["stage"], r["reason"]) for k, r in failures.items()}
    assert stage[""][0] == "tracklist" and "couldn't find the album “Missing Album”" in stage[""][1]
    assert stage["Hidden Place"][0] == "download" and "unavailable" in stage["Hidden Place"][1]
    assert stage["I THINK"][0] == "download" and "can't fetch" in stage["I THINK"][1]
    assert stage["NEW MAGIC WAND (feat. Santigold)"][0] == "features"
    assert list((tmp_path / "tmp").iterdir()) == []

    # A rerun finds everything done or failed: no Genius request, no download, nothing appended.
    before = (
        media.hits(),
        genius.hits(),
        tracks_path.read_bytes(),
        (tmp_path / "out" / "failures.csv").read_bytes(),
    )
    _run(tmp_path, genius, media)
    after = (
        media.hits(),
        genius.hits(),
        tracks_path.read_bytes(),
        (tmp_path / "out" / "failures.csv").read_bytes(),
    )
    assert after == before

    # Retrying failures fetches only the failed items again and records them once.
    media_before, tracklist_before = media.hits(), genius.hits("search")
    _run(tmp_path, genius, media, retry_failures=True)
    assert media.hits() - media_before == 4  # the 404 and the page once (the probe fails), the garbage twice
    assert genius.hits("search") - tracklist_before == 1  # only the album Genius lacks
    assert len(_rows(tmp_path / "out" / "failures.csv")) == 4
    assert tracks_path.read_bytes() == before[2]


def test_torn_last_row_is_cut_and_collected_again(
    tmp_path: Path, servers: tuple[FakeGenius, MediaServer]
) -> None:
    genius, media = servers
    tracks_path = _run(tmp_path, genius, media, limit=1)
    assert {r["album_id"] for r in _rows(tracks_path)} == {"aaaaaaaaaaa"}
    complete = tracks_path.read_bytes()
    lines = complete.splitlines(keepends=True)
    tracks_path.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])  # a crash in the middle of the last row

    before = media.hits()
    _run(tmp_path, genius, media, limit=1)
    assert media.hits() - before == 2  # just the torn row's track: probe + download
    assert sorted(tracks_path.read_bytes().splitlines()) == sorted(complete.splitlines())


def test_collect_then_fit_then_serve(tmp_path: Path, servers: tuple[FakeGenius, MediaServer]) -> None:
    # The whole original pipeline on loopback: what collect writes, fit trains on, and the scorer serves.
    tracks = _run(tmp_path, *servers)
    out = tmp_path / "model"
    # What is under test is the hand-over (collect's table trains, the scorer serves the result), not
    # the statistics: one permutation still runs that path, and test_fit.py pins the p-value's meaning.
    quick = ("--folds", "2", "--steps", "50", "--permutations", "1")
    fit = subprocess.run(
        [sys.executable, "-m", "training", "fit", str(tracks), "--out", str(out), *quick],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    with tracks.open(newline="") as file:
        rows = list(csv.DictReader(file))
    scorer = Scorer.load(out)
    assert scorer.card["kind"] == "direct" and scorer.card["metrics"]["tracks"] == len(rows)
    features = [[float(row[name]) for name in FEATURE_NAMES] for row in rows]
    ratings = [scorer.rate(row) for row in features]
    assert len(ratings) == len(rows) and all(1 <= r.score <= 10 for r in ratings)
