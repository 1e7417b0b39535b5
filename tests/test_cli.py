"""The ``needlebot`` command, run as a user would: a child process with its own working directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from model import FEATURE_NAMES
from tests.support.audio import synth_song, write_audio

ROOT = Path(__file__).resolve().parents[1]


def needlebot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "NEEDLEBOT_CONFIG")}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("cli") / "my song.ogg", synth_song(6.0, seed=11), 44100, "ogg")


def test_run_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    result = needlebot("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "applications.commands" in result.stderr
    assert "needlebot rate some-song.mp3" in result.stderr


def test_invalid_config_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[jobs]\nworkers = -1\n")
    result = needlebot("run", cwd=tmp_path, env={"DISCORD_TOKEN": "not-shown-anywhere"})
    assert result.returncode == 2
    assert "jobs.workers" in result.stderr
    assert "not-shown-anywhere" not in result.stderr + result.stdout


def test_features_json(song: Path, tmp_path: Path) -> None:
    result = needlebot("features", str(song), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data["features"]) == list(FEATURE_NAMES)
    assert data["seconds"] == pytest.approx(5.0, abs=0.05) and data["truncated"] is False


def test_features_of_a_bad_file(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp3"
    bogus.write_text("not a song")
    result = needlebot("features", str(bogus), cwd=tmp_path)
    assert result.returncode == 1
    assert "notes.mp3" in result.stderr and "Traceback" not in result.stderr


def test_rate_prints_the_verdict_then_answers_from_the_cache(song: Path, tmp_path: Path) -> None:
    first = needlebot("rate", str(song), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rating = json.loads(first.stdout)
    assert rating["title"] == "my song" and 1 <= rating["score"] <= 10 and not rating["cached"]
    assert rating["verdict"].endswith(str(rating["score"])) or rating["verdict"] in ("NOT GOOD", "CLASSIC")
    assert "opinion" in rating["quip"].lower()
    assert (tmp_path / "data" / "needlebot.sqlite3").exists()
    # Every heard tag (musicnn's 50), best first; the reply names the top ones the tagger clearly hears.
    tags = rating["tags"]
    assert len(tags) == 50 and [p for _, p in tags] == sorted((p for _, p in tags), reverse=True)
    assert tags[0][1] >= 0.1
    heard = ", ".join(tag.lower() for tag, p in tags[:3] if p >= 0.1)

    text = needlebot("rate", str(song), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"my song: {rating['score']}/10, {rating['verdict']}")
    assert "Sounds like: " in text.stdout and "*" not in text.stdout, "Discord markdown in a terminal"
    for run in (first, text):
        assert "XNNPACK" not in run.stdout + run.stderr, "LiteRT's INFO line reached the terminal"
    assert "from the cache" in text.stdout
    assert f"I hear: {heard}\n" in text.stdout  # the cache kept the tags


def test_rate_json_lists_the_sections_of_a_long_song(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.wav", synth_song(70.0, sr=22050, seed=12, channels=1), 22050, "wav")
    result = needlebot("rate", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rating = json.loads(result.stdout)
    sections = rating["sections"]
    assert [(s["start"], s["end"]) for s in sections] == [(1.0, 31.0), (31.0, pytest.approx(70.0))]
    assert all(1 <= s["score"] <= 10 and isinstance(s["genre"], str) for s in sections)
    again = json.loads(needlebot("rate", str(path), "--json", cwd=tmp_path).stdout)
    assert again["cached"] and again["sections"] == sections


def test_rate_json_names_the_artist_and_album_the_file_tags_name(tmp_path: Path) -> None:
    from tests.test_filetags import tagged_file

    tagged = tagged_file(tmp_path, "mp3", seconds=6.0, artist="Death Grips *", album="The Money Store",
                         title="Get Got")
    rating = json.loads(needlebot("rate", str(tagged), "--json", cwd=tmp_path).stdout)
    # The title stays the file's name, as the uploader gave it; the artist feeds the taste model.
    assert (rating["artist"], rating["album"], rating["title"]) == ("Death Grips *", "The Money Store",
                                                                    "tagged")


def test_heard_tags_are_escaped_on_discord_and_plain_in_a_terminal() -> None:
    from bot.embeds import rating_embed
    from bot.store import SongRecord
    from bot.terminal import rating_text
    from model.scorer import Rating

    rating = Rating(score=7, expected=7.0, distribution=(1 / 11,) * 11, genres=(),
                    tags=(("*bold*_", 0.6), ("rock", 0.3), ("jazz", 0.2), ("punk", 0.15), ("pop", 0.05)))
    song = SongRecord("k", "t", None, rating, 60.0, False, b"", ())
    (heard,) = rating_embed(song, cached=False, picture=None).fields
    assert heard.value == "\\*bold\\*\\_, rock, jazz"
    assert "I hear: *bold*_, rock, jazz\n" in rating_text(song, cached=False)
    quiet = Rating(score=7, expected=7.0, distribution=(1 / 11,) * 11, genres=(), tags=(("rock", 0.05),))
    assert "I hear" not in rating_text(SongRecord("k", "t", None, quiet, 60.0, False, b"", ()), cached=False)


def test_rate_a_missing_file(tmp_path: Path) -> None:
    result = needlebot("rate", str(tmp_path / "absent.mp3"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Can't read" in result.stderr and "Traceback" not in result.stderr


def test_the_bot_process_imports_neither_librosa_nor_tensorflow() -> None:
    # Audio work happens in the workers and the model is served by LiteRT: the bot process stays light.
    heavy = "{'librosa', 'tensorflow', 'keras'}"
    code = f"import sys, bot.client, bot.cli; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_rate_an_empty_file_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "empty.mp3").write_bytes(b"")
    result = needlebot("rate", str(tmp_path / "empty.mp3"), cwd=tmp_path)
    assert result.returncode == 1
    assert "empty" in result.stderr.lower() and "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "data" / "needlebot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM songs").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ratings").fetchone() == (0,)
