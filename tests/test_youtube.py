"""The yt-dlp client, run for real against a media server on 127.0.0.1 through the generic extractor."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf
import yt_dlp
from yt_dlp.extractor.common import InfoExtractor

from sources import youtube
from sources.failures import TryAgainLater
from sources.youtube import (
    AgeRestrictedError,
    BotCheckError,
    DownloadFailedError,
    LiveStreamError,
    NetworkError,
    NoResultsError,
    PrivateVideoError,
    RegionBlockedError,
    RemovedVideoError,
    SourceError,
    TooLargeError,
    TooLongError,
    UnsupportedLinkError,
    VideoInfo,
    VideoUnavailableError,
    YouTubeOptions,
    check_url,
    download_audio,
    find_track,
)
from tests.fakes.media import FeedItem, MediaServer

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
        server.add_hls("long.m3u8", seconds=2400)
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
        ("long.m3u8", TooLongError, "40:00 long; I rate up to 30:00"),
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
    assert isinstance(info.value, TryAgainLater) == (error is DownloadFailedError), "only the timeout passes"
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
        # a video opened from a mix, a playlist or a YouTube Music album: the video alone
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ&start_radio=1",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        ),
        (
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=OLAK5uy_x&index=3",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ",
        ),
        ("https://youtu.be/dQw4w9WgXcQ?list=PLx&t=5", "https://youtu.be/dQw4w9WgXcQ?t=5"),
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


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/playlist?list=PLx",
        "https://music.youtube.com/playlist?list=OLAK5uy_x",
        "https://www.youtube.com/@somechannel",
        "https://www.youtube.com/channel/UC0123456789abcdefghijkl/videos",
    ],
)
def test_check_url_refuses_playlists_and_channels_before_any_download(url: str) -> None:
    with pytest.raises(UnsupportedLinkError, match="playlist or channel link"):
        check_url(url, YouTubeOptions())


def test_search_without_a_search_extractor_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedLinkError, match="Searching YouTube isn't available"):
        find_track("death grips", "get got", None, LOOPBACK, "ytsearch5:{query}")
    with pytest.raises(NoResultsError, match="track title"):
        find_track("death grips", "   ", None, LOOPBACK, "ytsearch5:{query}")


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
    caplog.set_level(logging.DEBUG, logger="sources.youtube")
    download_audio(media.url("song.wav"), tmp_path, LOOPBACK)
    assert "[generic]" in caplog.text
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# Track search -----------------------------------------------------------------------------------------

# Candidates as a search would list them; only "plain" and "official" are the studio track.
GET_GOT = [
    FeedItem("live.wav", "Death Grips - Get Got (Live at Coachella)", 175),
    FeedItem("reaction.wav", "FIRST TIME REACTING to Death Grips - Get Got | REACTION", 600),
    FeedItem("sped.wav", "death grips - get got (sped up)", 140),
    FeedItem("hour.wav", "Death Grips - Get Got [1 HOUR]", 3600),
    FeedItem("album.wav", "Death Grips - The Money Store (FULL ALBUM)", 2500),
    FeedItem("other.wav", "Death Grips - Lost Boys", 172),
    FeedItem("plain.wav", "Death Grips - Get Got", 240),
    FeedItem("official.wav", "Death Grips - Get Got (Official Audio)", 172),
]


@pytest.fixture(scope="module")
def search_media() -> Iterator[tuple[MediaServer, str]]:
    with MediaServer() as server:
        for seed, item in enumerate(GET_GOT):
            server.add_song(item.audio_name, seconds=3.0, seed=10 + seed)
        server.add_feed("search/Death Grips Get Got.rss", GET_GOT)
        server.add_feed("search/Death Grips Review.rss", GET_GOT)
        server.add_feed("search/Oasis Live Forever.rss", [FeedItem("plain.wav", "Oasis - Live Forever", 277)])
        yield server, f"{server.base_url}/search/{{query}}.rss"


def test_find_track_prefers_official_audio_and_skips_other_versions(
    search_media: tuple[MediaServer, str], tmp_path: Path
) -> None:
    media, template = search_media
    before = media.hits()
    video = find_track("Death Grips", "Get Got", 171.8, LOOPBACK, template)
    assert (video.url, video.title, video.duration) == (
        media.url("official.wav"),
        "Death Grips - Get Got (Official Audio)",
        172.0,
    )
    assert media.hits() - before == 1  # flat extraction: the feed only, no candidate downloaded
    path, info = download_audio(video.url, tmp_path, LOOPBACK)
    assert info.url == media.url("official.wav") and sf.info(path).duration == pytest.approx(3.0, abs=0.01)


def test_find_track_weighs_the_tracklist_length(search_media: tuple[MediaServer, str]) -> None:
    media, template = search_media
    # A 4-minute version: the plain upload of that length beats the 172 s "Official Audio".
    assert find_track("Death Grips", "Get Got", 240.0, LOOPBACK, template).url == media.url("plain.wav")
    # Without a length the title decides.
    assert find_track("Death Grips", "Get Got", None, LOOPBACK, template).url == media.url("official.wav")


def test_find_track_keeps_words_the_title_itself_has(search_media: tuple[MediaServer, str]) -> None:
    media, template = search_media
    assert find_track("Oasis", "Live Forever", 276.0, LOOPBACK, template).url == media.url("plain.wav")
    with pytest.raises(NoResultsError, match="no video of “Review” by Death Grips"):
        find_track("Death Grips", "Review", None, LOOPBACK, template)  # every candidate is another song


def test_topic_channel_is_preferred() -> None:
    # Flat YouTube search entries carry the channel; YouTube Music's "Artist - Topic" is the studio track.
    entries = [
        {"id": "aaaaaaaaaaa", "title": "Get Got", "duration": 172.0, "channel": "some fan"},
        {"id": "bbbbbbbbbbb", "title": "Get Got", "duration": 172.0, "channel": "Death Grips - Topic"},
        {"id": "ccccccccccc", "title": "Get Got", "duration": 172.0, "channel": "Death Grips"},
    ]
    videos = youtube._video_infos(entries, YouTubeOptions())
    scores = [youtube._match_score(v, "Death Grips", "Get Got", 171.8) for v in videos]
    assert scores[1] > scores[2] > scores[0]  # type: ignore[operator]


# JavaScript runtime ---------------------------------------------------------------------------------------

JS_CHECK = """
import json
from sources import youtube
from sources.netguard import guarded_ydl
opts = youtube.YouTubeOptions()
with guarded_ydl(youtube.ydl_params(opts), opts.policy) as ydl:
    runtime = ydl._js_runtimes["deno"].info
    ie = ydl.get_info_extractor("Youtube")
    ie.initialize()
    deno = ie._jsc_director.providers["Deno"]
    print(json.dumps({
        "runtime": [runtime.name, runtime.version, runtime.supported] if runtime else None,
        "available": deno.is_available(),
        "scripts": [deno._core_script.source.name, deno._lib_script.source.name],
    }))
"""


def test_yt_dlp_as_we_configure_it_sees_deno_and_the_ejs_scripts(tmp_path: Path) -> None:
    # A bare PATH, as under a service manager: deno must come from the virtualenv (the deno wheel).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", JS_CHECK], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["runtime"][0] == "deno" and found["runtime"][2] is True
    assert found["available"] is True
    # The EJS challenge solver scripts come from the yt-dlp-ejs package, not from a download.
    assert found["scripts"] == ["PYPACKAGE", "PYPACKAGE"]


# Errors -----------------------------------------------------------------------------------------------

LOGIN_HINT = (
    "Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/"
    "wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies"
)


class _RefusingIE(InfoExtractor):
    """Fails the way yt-dlp's YouTube extractor does, with YouTube's own reasons (see its _video.py)."""

    _VALID_URL = r"refuse:(?P<id>\w+)"
    IE_NAME = "refuse"

    def _real_extract(self, url: str) -> dict[str, object]:
        match self._match_id(url):
            case "geo":
                countries = ["DE"]
                self.raise_geo_restricted(
                    "The uploader has not made this video available in your country", countries
                )
            case kind:
                self.raise_no_formats(REASONS[kind], expected=True)
        raise AssertionError("unreachable")


REASONS = {
    "bot": f"Sign in to confirm you’re not a bot. {LOGIN_HINT}",
    "private": f"Private video. Sign in if you've been granted access to this video. {LOGIN_HINT}",
    "removed": "Video unavailable. This video has been removed by the uploader",
    "terminated": "Video unavailable. This video is no longer available because the YouTube account "
    "associated with this video has been terminated.",
    "age": f"Sign in to confirm your age. This video may be inappropriate for some users. {LOGIN_HINT}",
    "unavailable": "Video unavailable",
}


def _real_error(kind: str) -> yt_dlp.utils.DownloadError:
    """The DownloadError yt-dlp itself raises when its extractor fails with ``kind``."""
    params = {"quiet": True, "no_warnings": True, "logger": logging.getLogger("tests.yt_dlp")}
    with yt_dlp.YoutubeDL(params, auto_init=False) as ydl:  # no built-in extractors: only this one
        ydl.add_info_extractor(_RefusingIE())
        with pytest.raises(yt_dlp.utils.DownloadError) as info:
            ydl.extract_info(f"refuse:{kind}", download=False)
    return info.value


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("bot", BotCheckError, "YouTube is refusing this bot right now"),
        ("private", PrivateVideoError, "That video is private"),
        ("removed", RemovedVideoError, "That video has been removed"),
        ("terminated", RemovedVideoError, "That video has been removed"),
        ("age", AgeRestrictedError, "age-restricted"),
        ("geo", RegionBlockedError, "blocked in the country this bot runs in"),
        ("unavailable", VideoUnavailableError, "^That video is unavailable"),
    ],
)
def test_youtube_refusals_map_to_one_message_each(
    kind: str, error: type[SourceError], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sources.youtube")
    mapped = youtube._user_error(_real_error(kind), YouTubeOptions())
    assert type(mapped) is error and re.search(message, str(mapped))
    assert isinstance(mapped, TryAgainLater) == (kind == "bot"), "only the bot check passes by itself"
    assert "--cookies" not in str(mapped) and "youtube.com" not in str(mapped)  # our words, not yt-dlp's
    ours = [r for r in caplog.records if r.name == "sources.youtube"]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    if kind == "bot":
        (warning,) = warnings  # once per error
        assert all(w in warning.getMessage() for w in ("cookiefile", "cookies.txt", "expire"))
    else:
        assert warnings == []


def test_bot_check_log_names_the_stale_cookie_file(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sources.youtube")
    youtube._user_error(_real_error("bot"), YouTubeOptions(cookiefile="/srv/needlebot/cookies.txt"))
    assert "The cookies in /srv/needlebot/cookies.txt are set but no longer work" in caplog.text


def test_unreachable_host_is_a_network_error(tmp_path: Path) -> None:
    with MediaServer() as gone:
        url = gone.url("song.wav")
    with pytest.raises(NetworkError, match="couldn't reach the video host"):
        download_audio(url, tmp_path, LOOPBACK)
    assert list(tmp_path.iterdir()) == []


# Every request yt-dlp makes passes the host check ---------------------------------------------------------


def test_redirect_to_a_host_not_allowed_is_not_followed(media: MediaServer, tmp_path: Path) -> None:
    media.add_redirect("to-elsewhere.wav", "http://media.example.net/song.wav")
    media.add_redirect("to-song.wav", media.url("song.wav"))
    with pytest.raises(UnsupportedLinkError, match="leads somewhere I don't fetch from"):
        download_audio(media.url("to-elsewhere.wav"), tmp_path, LOOPBACK)
    assert list(tmp_path.iterdir()) == []
    # The same redirect within the allowed hosts is followed.
    path, _ = download_audio(media.url("to-song.wav"), tmp_path, LOOPBACK)
    assert sf.info(path).duration == pytest.approx(3.0, abs=0.01)


def test_names_resolving_to_loopback_need_allow_loopback(media: MediaServer, tmp_path: Path) -> None:
    url = media.url("song.wav").replace("127.0.0.1", "localhost")
    before = media.hits()
    opts = replace(LOOPBACK, allowed_hosts=("localhost",), allow_loopback=False)
    with pytest.raises(UnsupportedLinkError, match="leads somewhere I don't fetch from"):
        download_audio(url, tmp_path, opts)
    assert media.hits() == before  # refused before connecting
    path, _ = download_audio(url, tmp_path, replace(opts, allow_loopback=True))
    assert path.exists()


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "192.168.0.10",
        "169.254.169.254",
        "[::1]",
        "[fd00::1]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of the metadata address
        "[::10.0.0.1]",  # IPv4-compatible
        "[2002:c0a8:1::1]",  # 6to4 of 192.168.0.1
        "[::ffff:192.168.0.10]",  # IPv4-mapped
    ],
)
def test_private_ip_literals_are_refused_before_any_request(host: str) -> None:
    opts = YouTubeOptions(
        allowed_hosts=(host.strip("[]"),), allowed_extractors=("generic",), allow_loopback=False
    )
    with pytest.raises(UnsupportedLinkError, match="private or local network"):
        check_url(f"http://{host}/song.wav", opts)


# The operator's cookie file ---------------------------------------------------------------------------


def _cookie_file(path: Path, count: int) -> Path:
    """A Netscape cookies file for 127.0.0.1 with ``count`` cookies (a big file widens any race)."""
    lines = ["# Netscape HTTP Cookie File", ""]
    lines += [f"127.0.0.1\tFALSE\t/\tFALSE\t2000000000\tc{i}\t{'v' * 60}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_concurrent_runs_read_private_copies_of_the_cookie_file(
    media: MediaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # yt-dlp rewrote the cookie file in place after every run: runs in parallel threads (album searches)
    # and processes (workers) then read it half-written and failed. Here 48 runs share one file.
    cookies = _cookie_file(tmp_path / "cookies.txt", 600)
    before = (cookies.read_bytes(), cookies.stat().st_mtime_ns)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where the private copies go
    opts = replace(LOOPBACK, cookiefile=str(cookies))
    media.add_feed("feed song.rss", [FeedItem("song.wav", "Feed - Song", 3)])
    template = f"{media.base_url}/{{query}}.rss"
    sent = len(media.cookies())

    def run(number: int) -> str:
        try:
            if number % 8 == 7:  # a failing run removes its copy too
                download_audio(media.url("missing.wav"), tmp_path / f"d{number}", opts)
            find_track("feed", "song", None, opts, template)
            return "ok"
        except SourceError as error:
            return type(error).__name__

    for number in range(48):
        (tmp_path / f"d{number}").mkdir()
    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(run, range(48)))
    assert outcomes == {"ok": 42, "VideoUnavailableError": 6}
    assert (cookies.read_bytes(), cookies.stat().st_mtime_ns) == before  # read, never written
    assert list(temp.iterdir()) == []  # every copy removed
    received = media.cookies()[sent:]
    # Every run sent the operator's cookies: the searches' feeds and the failing downloads' requests.
    assert len(received) >= 48 and all(header.count("=") == 600 for header in received)


def test_an_unreadable_cookie_file_is_logged_and_the_run_goes_on(
    media: MediaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone" / "cookies.txt"
    caplog.set_level(logging.WARNING, logger="sources.youtube")
    path, _ = download_audio(media.url("song.wav"), tmp_path, replace(LOOPBACK, cookiefile=str(missing)))
    assert path.exists() and not missing.parent.exists()  # yt-dlp used to create it
    assert f"cannot read [sources] cookiefile {missing}" in caplog.text
