"""The bad-input table: input that is not really a song, each case run through the real bot and fake Discord.

`CASES` feeds both tests/test_bad_input.py (one test per case) and the "Bad input" section of
RELIABILITY.md (tests/reliability/report.py). A case sends one interaction; `run_case` waits for what the user
saw and lists every way the outcome falls short (`Outcome.problems`): a refusal must be a clear message
seen by that user alone, a valid-but-odd input must be rated, and nothing may be left behind (temporary
files, half-written rows).

To add a command's cases, append `Case`s whose ``send`` dispatches that command; an album that is rated
expects "rated album" (its final reply comes after progress edits).
"""

from __future__ import annotations

import functools
import io
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from model.decode import ffmpeg_executable
from tests.fakes.discord import FakeInteraction, SentMessage
from tests.fakes.media import FeedItem, song_bytes
from tests.fakes.musicbrainz import FakeRelease
from tests.support.audio import square_wave, synth_song
from tests.support.harness import MAX_ALBUM_TRACKS, Harness
from tests.support.markup import Hostile, Reading, assert_shown, embed_text

LIMIT_BYTES = 2_000_000  # the harness's max_attachment_bytes
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)

Send = Callable[[Harness], Awaitable[FakeInteraction]]


@dataclass(frozen=True)
class Case:
    """One bad (or odd) input.

    ``expect`` is "refused" (a clear ephemeral message containing ``says``), "rated" (a public rating
    whose text contains ``says``, e.g. the title) or "rated album" (a public album rating saying ``says``, one
    song rating stored per rated track). ``before_defer``: refused without deferring, i.e. no
    I/O was needed to see the problem.
    """

    name: str
    what: str
    send: Send
    expect: str
    says: str
    before_defer: bool = False


@dataclass
class Outcome:
    """What one case did: what the user saw, who saw it, how long it took, and what fell short.

    ``text`` is all the reply's text; ``summary`` its gist for a report (the error, or title, score and
    footer of a rating).
    """

    case: Case
    text: str = ""
    summary: str = ""
    private: bool = False
    rated: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


# --- inputs --------------------------------------------------------------------------------------------


def _wav(y: np.ndarray, sr: int, subtype: str = "PCM_16", format: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format=format, subtype=subtype)
    return buffer.getvalue()


def _noise(seconds: float, peak: float, sr: int = 22050) -> np.ndarray:
    y = np.random.default_rng(0).uniform(-1, 1, int(seconds * sr))
    return (y * peak / np.max(np.abs(y))).astype(np.float32)


def _ffmpeg(*args: str, suffix: str) -> bytes:
    """Run the bundled ffmpeg with lavfi sources and return the file it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"out{suffix}"
        cmd = [ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error", *args, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        return out.read_bytes()


@functools.cache
def video_without_audio() -> bytes:
    """Two seconds of ffmpeg's test pattern as mp4, with no audio track."""
    return _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10", "-pix_fmt", "yuv420p",
                   suffix=".mp4")  # fmt: skip


@functools.cache
def twenty_minutes() -> bytes:
    """A 20-minute mono mp3 at 8 kbit/s (1.2 MB): a tone with a slow tremolo, under the size limit."""
    return _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=1200:sample_rate=8000",
                   "-af", "tremolo=f=2:d=0.7", "-ac", "1", "-b:a", "8k", suffix=".mp3")  # fmt: skip


def upload(filename: str, data: Callable[[], bytes], content_type: str) -> Send:
    """A /rate with an attachment; ``data`` is built when the case runs."""

    async def send(harness: Harness) -> FakeInteraction:
        attachment = harness.fake.add_attachment(filename, data(), content_type)
        return await harness.fake.slash_command("rate", {"file": attachment})

    return send


def link(url: str | Callable[[Harness], str]) -> Send:
    """A /rate with a link; a callable builds it from the harness (e.g. serves a file first)."""

    async def send(harness: Harness) -> FakeInteraction:
        return await harness.fake.slash_command("rate", {"url": url(harness) if callable(url) else url})

    return send


def menu(filename: str, data: Callable[[], bytes], content_type: str) -> Send:
    """The "Rate this song" menu on a message carrying one attachment."""

    async def send(harness: Harness) -> FakeInteraction:
        attachment = harness.fake.add_attachment(filename, data(), content_type)
        message = harness.fake.make_message(content="listen", attachments=[attachment])
        return await harness.fake.message_command("Rate this song", message=message)

    return send


def song(seconds: float, seed: int, format: str = "wav", sr: int = 22050) -> Callable[[], bytes]:
    return lambda: song_bytes(seconds, seed=seed, format=format, sr=sr)


def _served(name: str, data: Callable[[], bytes], content_type: str) -> Callable[[Harness], str]:
    return lambda harness: harness.media.add(name, data(), content_type)


def _feed(harness: Harness) -> str:
    for number in (1, 2):
        harness.media.add(f"feed-{number}.wav", song_bytes(5.0, seed=140 + number), "audio/wav")
    return harness.media.add_feed("playlist.rss", ["feed-1.wav", "feed-2.wav"], title="A playlist")


SQL_TITLE = "Robert'); DROP TABLE ratings; --"
MARKDOWN_TITLE = "**[free nitro](https:⁄⁄evil.example)**"  # no "/": a URL's last part is the title


def album(artist: str, title: str) -> Send:
    """An /album."""

    async def send(harness: Harness) -> FakeInteraction:
        return await harness.fake.slash_command("album", {"artist": artist, "title": title})

    return send


async def _forty_tracks(harness: Harness) -> FakeInteraction:
    # MusicBrainz lists 40 tracks, each found by its search feed as a 5 s song: more than the cap.
    artist, title = "Forty Band", "Forty Tracks"
    tracks = [f"Track {number}" for number in range(1, 41)]
    for number, track in enumerate(tracks):
        name = f"forty-{number}.wav"
        harness.media.add(name, song_bytes(5.0, seed=1900 + number), "audio/wav")
        item = FeedItem(name, f"{artist} - {track} (Official Audio)", 200.0)
        harness.media.add_feed(f"search/{artist} {track}.rss", [item])
    discs = [[(track, 200.0) for track in tracks]]
    harness.musicbrainz.releases.append(FakeRelease("mb-forty", title, artist, "2020-01-01", discs))
    return await album(artist, title)(harness)


CASES: tuple[Case, ...] = (
    # Refused before any work (no defer, no download): an immediate private answer.
    Case("no-input", "/rate with neither a file nor a link", lambda h: h.fake.slash_command("rate"),
         "refused", "give me a song", before_defer=True),
    Case("both", "/rate with a file and a link", lambda h: h.fake.slash_command(
        "rate", {"file": h.fake.add_attachment("a.wav", song_bytes(5.0, seed=113), "audio/wav"),
                 "url": h.media.url("a.wav")}), "refused", "one song at a time", before_defer=True),
    Case("zero-bytes", "an empty file named .mp3", upload("nothing.mp3", lambda: b"", "audio/mpeg"),
         "refused", "empty", before_defer=True),
    Case("image", "a PNG image", upload("cover.png", lambda: PNG, "image/png"),
         "refused", "doesn't look like audio", before_defer=True),
    Case("over-size", "a 2.1 MB wav (the limit is 2 MB)",
         upload("huge.wav", lambda: b"RIFF" + bytes(2_100_000), "audio/wav"),
         "refused", "up to 2 mb", before_defer=True),
    Case("file-url", "a file:// link", link("file:///etc/passwd"),
         "refused", "only http(s)", before_defer=True),
    Case("ip-literal", "a private IP literal", link("http://10.0.0.1/song.mp3"),
         "refused", "only fetch youtube links", before_defer=True),
    Case("metadata-ip", "the cloud metadata address", link("http://169.254.169.254/latest/meta-data/"),
         "refused", "only fetch youtube links", before_defer=True),
    Case("decimal-ip", "127.0.0.1 written as a decimal number", link("http://2130706433/song.mp3"),
         "refused", "only fetch youtube links", before_defer=True),
    Case("ipv6-loopback", "[::1]", link("http://[::1]/song.mp3"),
         "refused", "only fetch youtube links", before_defer=True),
    Case("menu-image", '"Rate this song" on a message with only an image',
         menu("photo.png", lambda: PNG, "image/png"), "refused", "no audio file", before_defer=True),
    # Refused once the bytes are seen: the thinking message is deleted, the error is private.
    Case("text-as-mp3", "a text file named .mp3",
         upload("notes.mp3", lambda: b"these are not sounds\n" * 40, "audio/mpeg"),
         "refused", "not an audio file"),
    Case("cut-to-600-bytes", "an mp3 cut to its first 600 bytes (not one whole frame pair)",
         upload("cut.mp3", lambda: song_bytes(6.0, seed=101, format="mp3")[:600], "audio/mpeg"),
         "refused", "not an audio file"),
    Case("video-no-audio", "an mp4 video with no audio track",
         upload("clip.mp4", video_without_audio, "video/mp4"), "refused", "no audio in it"),
    Case("silent", "5 s of digital silence", upload("silence.wav", lambda: _wav(np.zeros(5 * 22050), 22050),
         "audio/wav"), "refused", "completely silent"),
    Case("inaudible", "white noise peaking at 3e-5 (-90 dBFS)",
         upload("hiss.wav", lambda: _wav(_noise(6.0, 3e-5), 22050, "FLOAT"), "audio/wav"),
         "refused", "too quiet to hear"),
    Case("too-short", "1.2 s of music (0.2 s after the 1 s offset)",
         upload("blip.wav", song(1.2, 102), "audio/wav"), "refused", "too short"),
    Case("menu-silent", '"Rate this song" on a silent track',
         menu("quiet.wav", lambda: _wav(np.zeros(6 * 22050), 22050), "audio/wav"),
         "refused", "completely silent"),
    Case("missing-link", "a link that answers 404", link(lambda h: h.media.url("nothing-here.mp3")),
         "refused", "unavailable"),
    Case("text-link", "a link to a text page", link(_served("page.txt", lambda: b"just text", "text/plain")),
         "refused", "not an audio file"),
    # Valid but odd: rated.
    Case("truncated-mp3", "a 12 s mp3 cut off halfway (a broken download): the part that is there is rated",
         upload("half.mp3", lambda: (lambda b: b[: len(b) // 2])(song_bytes(12.0, seed=112, format="mp3")),
                "audio/mpeg"), "rated", "half"),
    Case("8khz-mono", "8 kHz mono wav", upload("phone.wav", song(6.0, 103, sr=8000), "audio/wav"),
         "rated", "phone"),
    Case("96khz-24bit", "96 kHz 24-bit mono wav",
         upload("studio.wav", lambda: _wav(synth_song(5.0, sr=96000, seed=104, channels=1), 96000, "PCM_24"),
                "audio/wav"), "rated", "studio"),
    Case("six-channels", "5.1 (6-channel) flac",
         upload("surround.flac", lambda: _wav(synth_song(5.0, sr=22050, seed=105, channels=6), 22050,
                                              format="FLAC"), "audio/flac"), "rated", "surround"),
    Case("twenty-minutes", "a 20-minute mp3 (rated on the first max_audio_seconds, 20 s here)",
         upload("long_mix.mp3", twenty_minutes, "audio/mpeg"), "rated", "analysed the first 20 s only"),
    Case("playlist", "a playlist link (an RSS feed with two songs): its first song is rated", link(_feed),
         "rated", "feed-1"),
    Case("emoji-name", "a file name with emoji", upload("🎸 riff 🔥.ogg", song(5.0, 106, "ogg"), "audio/ogg"),
         "rated", "🎸 riff 🔥"),
    Case("quotes-name", "a file name with quotes",
         upload("""O'Brien "live".wav""", song(5.0, 107), "audio/wav"), "rated", """O'Brien "live\""""),
    Case("sql-name", "a file name with SQL",
         upload("'; DROP TABLE songs; --.wav", song(5.0, 108), "audio/wav"),
         "rated", "'; DROP TABLE songs; --"),
    Case("sql-title", "a link whose title (its file name) is SQL",
         link(_served(f"{SQL_TITLE}.wav", song(5.0, 150), "audio/wav")), "rated", SQL_TITLE),
    Case("markdown-title", "a link whose title (its file name) is a masked link in bold: shown as written",
         link(_served(f"{MARKDOWN_TITLE}.wav", song(5.0, 151), "audio/wav")), "rated", MARKDOWN_TITLE),
    Case("dot-dot-name", "a file named ../../etc/passwd.mp3",
         upload("../../etc/passwd.mp3", song(5.0, 109, "mp3"), "audio/mpeg"), "rated", "passwd"),
    Case("absolute-name", "a file named /tmp/evil.wav", upload("/tmp/evil.wav", song(5.0, 110), "audio/wav"),
         "rated", "evil"),
    Case("nul-name", "a file name with a NUL byte", upload("nul\x00byte.wav", song(5.0, 111), "audio/wav"),
         "rated", "nul byte"),
    Case("unknown-album", "an album neither MusicBrainz nor Genius knows", album("Nobody", "Nothing"),
         "refused", "I couldn't find the album “Nothing” by Nobody."),
    Case("forty-tracks", f"a 40-track album (cut at [albums] max_tracks, {MAX_ALBUM_TRACKS} in tests)",
         _forty_tracks, "rated album", f"Rated the first {MAX_ALBUM_TRACKS} of 40 tracks (my limit"),
    # Files whose cost is not their size: refused from their header, before any decoding.
    Case("1-hz-wav", "a 4 KB WAV declaring 1 Hz (its 2,000 frames would resample into 33 minutes)",
         upload("slow.wav", lambda: _wav(np.tile(np.float32([0.5, -0.5]), 1000), 1), "audio/wav"),
         "refused", "I take sample rates from 4 to 384 kHz"),
    Case("384khz-8-channels", "a FLAC at 384 kHz with 8 channels (3 million samples per second)",
         upload("dxd.flac", lambda: _wav(square_wave(0.3, 384_000, 8), 384_000, format="FLAC"), "audio/flac"),
         "refused", "I take up to 8 channels, and at most 96 kHz with 8 channels or 384 kHz stereo"),
    Case("16-channels", "a 16-channel WAV at 8 kHz",
         upload("array.wav", lambda: _wav(square_wave(0.5, 8000, 16), 8000), "audio/wav"),
         "refused", "16 channels at 8,000 Hz; I take up to 8 channels"),
)  # fmt: skip


# --- running a case ------------------------------------------------------------------------------------


def shown_text(message: SentMessage) -> str:
    """The text a user reads in a reply: its content, and each embed's title, description and footer
    (markdown escapes read as Discord reads them)."""
    parts = [message.content]
    for embed in message.embeds:
        footer = embed.get("footer", {}).get("text", "")
        parts += [embed.get("title", ""), embed.get("description", ""), footer]
    return " ".join(" ".join(Reading.of(part).visible.split()) for part in parts if part)


def summary(message: SentMessage) -> str:
    """The gist of a reply: an error's message, or a (song's or album's) rating's title, score line and
    footer."""
    if not message.embeds:
        return " ".join(message.content.split())
    embed = {key: Reading.of(value).visible if isinstance(value, str) else value
             for key, value in message.embeds[0].items()}
    description = [line.strip("#* ") for line in embed.get("description", "").splitlines() if line.strip()]
    footer = embed.get("footer", {}).get("text", "")
    if message.files or "tracks rated" in footer:  # a song's picture is attached; an album counts tracks
        parts = [embed.get("title", ""), description[0] if description else "", footer]
    else:
        parts = description
    return " · ".join(" ".join(part.split()) for part in parts if part)


def _scratch(harness: Harness) -> set[str]:
    # Every path at any depth: the workers keep their own temporary folders inside this one.
    return {str(p.relative_to(harness.scratch)) for p in harness.scratch.rglob("*")}


def _counts(harness: Harness) -> dict[str, int]:
    tables = ("songs", "ratings", "albums", "album_tracks", "album_ratings")
    # The table names are ours, not input: the one query built with an f-string.
    return {table: harness.rows(f"SELECT count(*) FROM {table}")[0][0] for table in tables}


def _is_final(message: SentMessage) -> bool:
    # /album's progress edits are titled "Listening to ..."; its answer, or an error, is not.
    return not message.embeds or "Listening to" not in message.embeds[0].get("title", "")


async def run_case(harness: Harness, case: Case, timeout: float = 120.0) -> Outcome:  # noqa: ASYNC109
    """Send ``case`` and check what came back; never raises for a shortfall, lists it in ``problems``."""
    outcome = Outcome(case)
    album_rated = case.expect == "rated album"
    counts = _counts(harness)
    before = _scratch(harness)
    started = time.monotonic()
    inter = await case.send(harness)
    try:
        wait = inter.wait_message(_is_final, timeout) if album_rated else inter.wait_reply(timeout)
        reply = await wait
    except TimeoutError:
        outcome.problems.append(f"no reply within {timeout:g} s")
        return outcome
    outcome.seconds = time.monotonic() - started
    outcome.text, outcome.summary = shown_text(reply), summary(reply)
    outcome.private = reply.ephemeral and not inter.shown_to_channel()
    if album_rated:
        outcome.rated = "tracks rated" in outcome.text
    else:
        outcome.rated = bool(reply.files) and any(e.get("image") for e in reply.embeds)
    problems = outcome.problems
    if case.says.lower() not in outcome.text.lower():
        problems.append(f"the reply does not say {case.says!r}")
    if case.expect == "refused":
        if outcome.rated:
            problems.append("rated instead of refused")
        if not outcome.private:
            problems.append("the refusal was shown to the whole channel")
        deferred = inter.response is not None and inter.response.type == 5
        if case.before_defer and deferred:
            problems.append("deferred before refusing input that needed no I/O to check")
        if _counts(harness) != counts:
            problems.append("a refused input left rows in the database")
    elif album_rated:
        if not outcome.rated:
            problems.append("the album was not rated")
        if reply.ephemeral or not inter.shown_to_channel():
            problems.append("the album's rating was private")
        cap = harness.bot.settings.albums.max_tracks
        if f"{cap} of {cap} tracks rated" not in outcome.text:
            problems.append(f"not every one of the first {cap} tracks was rated")
        added = {table: count - counts[table] for table, count in _counts(harness).items()}
        if (added["ratings"], added["album_ratings"]) != (cap, 1):
            problems.append(f"expected {cap} song ratings and 1 album rating, stored {added}")
    else:
        if not outcome.rated:
            problems.append("not rated")
        if reply.ephemeral:
            problems.append("the rating was private")
        if _counts(harness)["ratings"] != counts["ratings"] + 1:
            problems.append("the rating was not recorded exactly once")
        try:
            assert_shown(embed_text(reply.embeds[0]), Hostile(case.says))
        except AssertionError as error:
            problems.append(f"the title was not shown as written: {error}")
    if left := sorted(_scratch(harness) - before):
        problems.append(f"left temporary files behind: {left}")
    return outcome
