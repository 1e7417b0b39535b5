"""The yt-dlp client, run for real against a media server on 127.0.0.1 through the generic extractor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf

from bot.sources import youtube
from bot.sources.youtube import (
    DownloadFailedError,
    LiveStreamError,
    NoResultsError,
    SourceError,
    TooLargeError,
    TooLongError,
    UnsupportedLinkError,
    VideoInfo,
    VideoUnavailableError,
    YouTubeOptions,
    check_url,
    download_audio,
    search,
)
from tests.fakes.media import MediaServer

LOOPBACK = YouTubeOptions(
    allowed_hosts=("127.0.0.1",), allowed_extractors=("generic",), socket_timeout=2.0, allow_loopback=True
)


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    with MediaServer() as server:
        server.add_song("song.wav", seconds=3.0, seed=1)
        server.add_song("streamed.wav", seconds=3.0, seed=2, content_length=False)
        server.add_song("song.webm", seconds=3.0, seed=3, format="webm")
        server.add_song("second.wav", seconds=3.0, seed=4)
        server.add_page("page.html", "song.wav")
        server.add_feed("feed.rss", ["song.wav", "second.wav"])
        server.add_hls("long.m3u8", seconds=1200)
        server.add_hls("live.m3u8", seconds=30, live=True)
        server.add("slow.wav", b"RIFF", "audio/wav", delay_s=10)
        server.add("text.html", b"<html><body>No media here.</body></html>", "text/html")
        yield server


def test_downloads_audio_and_names_it_after_the_video_id(media: MediaServer, tmp_path: Path) -> None:
    before = media.hits("song.wav")
    path, info = download_audio(media.url("song.wav"), tmp_path, LOOPBACK)
    assert path == tmp_path / "song.wav"
    assert sf.info(path).duration == pytest.approx(3.0, abs=0.01)
    assert info == VideoInfo(id="song", title="song", url=media.url("song.wav"), duration=None, uploader=None)
    assert list(tmp_path.iterdir()) == [path]  # no .part, no yt-dlp work directory
    assert media.hits("song.wav") - before == 2  # the generic extractor's probe, then the download


def test_downloads_webm_and_bodies_without_content_length(media: MediaServer, tmp_path: Path) -> None:
    webm, _ = download_audio(media.url("song.webm"), tmp_path, LOOPBACK)
    streamed, _ = download_audio(media.url("streamed.wav"), tmp_path, LOOPBACK)
    assert webm.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML magic: the file came through untouched
    assert sf.info(streamed).frames > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.webm", "streamed.wav"]


def test_rss_feed_downloads_only_its_first_enclosure(media: MediaServer, tmp_path: Path) -> None:
    before = media.hits("second.wav")
    path, info = download_audio(media.url("feed.rss"), tmp_path, LOOPBACK)
    assert info.title == "song.wav" and info.url == media.url("song.wav")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert media.hits("second.wav") == before


def test_html_page_needs_an_allowed_extractor(media: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLinkError):
        download_audio(media.url("page.html"), tmp_path, LOOPBACK)
    html5 = replace(LOOPBACK, allowed_extractors=("generic", "html5"))
    path, _ = download_audio(media.url("page.html"), tmp_path, html5)
    assert sf.info(path).duration == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("missing.wav", VideoUnavailableError, "unavailable"),
        ("text.html", UnsupportedLinkError, "can't fetch anything"),
        ("long.m3u8", TooLongError, "20:00 long; I rate up to 15:00"),
        ("live.m3u8", LiveStreamError, "live stream"),
        ("slow.wav", DownloadFailedError, "did not answer in time"),
    ],
)
def test_failures_are_user_errors_and_leave_nothing(
    media: MediaServer, tmp_path: Path, name: str, error: type[SourceError], message: str
) -> None:
    opts = replace(LOOPBACK, socket_timeout=0.5)
    with pytest.raises(error, match=message) as info:
        download_audio(media.url(name), tmp_path, opts)
    assert "127.0.0.1" not in str(info.value)  # our words, not yt-dlp's
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["song.wav", "streamed.wav"])
def test_size_cap_with_and_without_content_length(media: MediaServer, tmp_path: Path, name: str) -> None:
    # With Content-Length yt-dlp refuses silently; without it our progress hook stops the download.
    opts = replace(LOOPBACK, max_filesize=50_000)
    with pytest.raises(TooLargeError, match=r"bigger than 0\.05 MB"):
        download_audio(media.url(name), tmp_path, opts)
    assert list(tmp_path.iterdir()) == []


def test_default_options_refuse_other_hosts_before_any_request(media: MediaServer, tmp_path: Path) -> None:
    before = media.hits()
    with pytest.raises(UnsupportedLinkError, match="only fetch YouTube links"):
        download_audio(media.url("song.wav"), tmp_path, YouTubeOptions())
    assert media.hits() == before


def test_allowed_host_without_allowed_extractor_is_refused(media: MediaServer, tmp_path: Path) -> None:
    opts = YouTubeOptions(allowed_hosts=("127.0.0.1",), allow_loopback=True)  # extractors: youtube only
    with pytest.raises(UnsupportedLinkError):
        download_audio(media.url("song.wav"), tmp_path, opts)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        (" <https://YOUTU.BE/dQw4w9WgXcQ#t=3> ", "https://youtu.be/dQw4w9WgXcQ"),
        ("HTTP://music.youtube.com/watch?v=x", "http://music.youtube.com/watch?v=x"),
        ("https://www.youtube.com.:443/shorts/x", "https://www.youtube.com:443/shorts/x"),
    ],
)
def test_check_url_accepts_and_normalizes_youtube(url: str, expected: str) -> None:
    assert check_url(url, YouTubeOptions()) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "dQw4w9WgXcQ",
        "ftp://youtube.com/x",
        "file:///etc/passwd",
        "https://user:pw@www.youtube.com/watch?v=x",
        "https://youtube.com.evil.example/watch?v=x",
        "https://notyoutube.com/watch?v=x",
        "https://127.0.0.1/watch?v=x",
        "https://www.youtube.com:99999/x",
        "https://www.youtube.com/" + "a" * 2100,
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(UnsupportedLinkError):
        check_url(url, YouTubeOptions())


def test_search_without_a_search_extractor_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedLinkError, match="Searching YouTube isn't available"):
        search("death grips get got", LOOPBACK)
    with pytest.raises(NoResultsError, match="something to search for"):
        search("   ", LOOPBACK)


def test_search_results_leave_out_what_we_cannot_rate() -> None:
    # Entries as yt-dlp's youtube:search extractor returns them with extract_flat.
    entries = [
        {"_type": "url", "ie_key": "Youtube", "id": "aaaaaaaaaaa", "url": "https://www.youtube.com/watch?v=aaaaaaaaaaa",
         "title": "Get Got", "duration": 171.0, "channel": "Death Grips", "uploader": None},
        {"_type": "url", "id": "bbbbbbbbbbb", "title": "10 hour loop", "duration": 36000.0},
        {"_type": "url", "id": "ccccccccccc", "title": "LIVE", "duration": None, "live_status": "is_live"},
        {"_type": "url", "id": "ddddddddddd", "title": "No url", "duration": None, "uploader": "someone"},
        {"_type": "url", "title": "no id"},
    ]  # fmt: skip
    videos = youtube._video_infos(entries, YouTubeOptions())
    assert videos == [
        VideoInfo(
            "aaaaaaaaaaa", "Get Got", "https://www.youtube.com/watch?v=aaaaaaaaaaa", 171.0, "Death Grips"
        ),
        VideoInfo("ddddddddddd", "No url", "https://www.youtube.com/watch?v=ddddddddddd", None, "someone"),
    ]


def test_yt_dlp_output_goes_to_logging_not_stdout(
    media: MediaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.sources.youtube")
    download_audio(media.url("song.wav"), tmp_path, LOOPBACK)
    assert "[generic]" in caplog.text
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
