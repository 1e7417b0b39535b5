"""An upload's own artist, title and album tags (model.filetags), and a link's artist (sources.youtube)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from model.features import ffmpeg_executable
from model.filetags import MAX_TAG_CHARS, FileTags, read_file_tags
from sources.youtube import _info_from
from tests.support.audio import synth_song, write_audio


def tagged_file(directory: Path, format: str, *, seconds: float = 3.0, **tags: str) -> Path:
    """A synthesized song in ``format`` whose tags ffmpeg wrote (ID3, Vorbis comments, MP4 atoms)."""
    plain = write_audio(directory / "plain.wav", synth_song(seconds, seed=13), 44100, "wav")
    path = directory / f"tagged.{format}"
    metadata = [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]
    subprocess.run([ffmpeg_executable(), "-nostdin", "-y", "-loglevel", "error", "-i", str(plain), *metadata,
                    str(path)], check=True)  # fmt: skip
    return path


@pytest.mark.parametrize("format", ["mp3", "ogg", "m4a", "flac", "opus"])
def test_the_file_names_its_artist_title_and_album(format: str, tmp_path: Path) -> None:
    path = tagged_file(tmp_path, format, artist="Björk", title="Army of Me", album="Post")
    expected = FileTags(artist="Björk", title="Army of Me", album="Post")
    assert read_file_tags(str(path)) == expected
    assert read_file_tags(path.read_bytes()) == expected  # an upload's bytes, as the worker gets them


def test_hostile_tag_text_is_trimmed_not_trusted(tmp_path: Path) -> None:
    path = tagged_file(tmp_path, "ogg", artist="  a\u0007b\u202e\tc  ", album="x" * 5000)
    tags = read_file_tags(str(path))
    assert tags.artist == "a b c" and tags.album == "x" * MAX_TAG_CHARS and tags.title is None


def test_no_tags_or_no_audio_gives_empty_tags(tmp_path: Path) -> None:
    plain = write_audio(tmp_path / "plain.wav", synth_song(1.0, seed=1), 44100, "wav")
    assert read_file_tags(str(plain)) == FileTags()
    assert read_file_tags(b"ID3\x04\x00\x00\xff\xff\xff\xff" + b"junk" * 50) == FileTags()


@pytest.mark.parametrize(("video", "artist"), [
    ({"artists": ["Kendrick Lamar", "SZA"], "artist": "Kendrick Lamar, SZA"}, "Kendrick Lamar"),
    ({"creator": "Phoebe Bridgers", "title": "Other - Thing"}, "Phoebe Bridgers"),
    ({"title": "Black Country, New Road - Basketball Shoes (Live)", "uploader": "KEXP"},
     "Black Country, New Road"),
    ({"title": "Motion Sickness", "uploader": "Phoebe Bridgers - Topic"}, "Phoebe Bridgers"),
    ({"title": "Bad Guy", "uploader": "BillieEilishVEVO"}, "BillieEilish"),
    ({"title": "- untitled"}, None),
])  # fmt: skip
def test_a_links_artist_comes_from_the_best_evidence(video: dict, artist: str | None) -> None:
    assert _info_from({"id": "abc", **video}, "https://youtu.be/abc").likely_artist == artist
