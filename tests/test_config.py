import inspect
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, Settings, as_dict, load_settings
from model import DEFAULT_MAX_SECONDS
from model.features import extract_features
from sources.youtube import YouTubeOptions

ROOT = Path(__file__).resolve().parents[1]


def test_example_file_documents_exactly_the_defaults() -> None:
    # The example is the documentation: every setting in it, each with its default value.
    assert as_dict(load_settings(ROOT / "config.example.toml", environ={})) == as_dict(Settings())


def test_every_setting_is_in_the_example() -> None:
    text = (ROOT / "config.example.toml").read_text()
    for section, values in as_dict(Settings()).items():
        assert f"[{section}]" in text
        for key in values:
            assert f"\n{key} = " in text, f"{section}.{key} is not documented"


def test_file_then_environment_override_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[jobs]\nworkers = 3\n[discord]\ntoken = "from-file"\nowner_ids = [42]\n')
    settings = load_settings(path, environ={"DISCORD_TOKEN": "from-env"})
    assert settings.jobs.workers == 3
    assert settings.discord.owner_ids == (42,)
    assert settings.discord.token.reveal() == "from-env"
    assert settings.limits == Settings().limits


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("[limits]\nmax_audio_seconds = 60\n")
    assert load_settings(environ={"NEEDLEBOT_CONFIG": str(path)}).limits.max_audio_seconds == 60.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[jobs]\nworkers = 0\n", "jobs.workers"),
        ("[jobs]\nworkers = 'two'\n", "jobs.workers"),
        ("[jobs]\nworkerz = 2\n", "jobs.workerz"),
        ("[nope]\nx = 1\n", "[nope]"),
        ("[limits]\nmax_audio_seconds = true\n", "limits.max_audio_seconds"),
        ("[sources]\nallowed_hosts = 'youtube.com'\n", "sources.allowed_hosts"),
        ("[discord]\nowner_ids = ['me']\n", "discord.owner_ids[0]"),
        ("[storage]\ndata_dir = ''\n", "storage.data_dir"),
        ("[jobs]\nbackend = 'celery'\n", "jobs.backend"),
        ("[discord]\nshards = -1\n", "discord.shards"),
        ("jobs = 3\n", "[jobs]"),
        ("[jobs\n", "not valid TOML"),
        ("[sources]\ntracklists = ['discogs']\n", "sources.tracklists: unknown discogs"),
        ("[sources]\nsearch = 'ytsearch5:'\n", "sources.search"),
        ("[sources]\nallow_loopback = 1\n", "sources.allow_loopback"),
    ],
)
def test_invalid_settings_are_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_settings(path, environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_secrets_never_show() -> None:
    environ = {"DISCORD_TOKEN": "sekrit-token", "GENIUS_ACCESS_TOKEN": "genius-sekrit"}
    settings = load_settings(ROOT / "config.example.toml", environ=environ)
    shown = repr(settings) + str(as_dict(settings)) + str(settings.discord.token)
    assert "sekrit" not in shown
    assert settings.genius.token.reveal() == "genius-sekrit"
    assert Secret("a") == Secret("a") and not Secret("")


def test_tracklist_options_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[sources]\ntracklists = ["genius"]\nmusicbrainz_user_agent = "Me/1 ( me@x.org )"\n')
    settings = load_settings(path, environ={"GENIUS_ACCESS_TOKEN": "tok"})
    options = settings.sources.tracklist_options(settings.genius.token, timeout=7.0)
    assert (options.providers, options.user_agent, options.genius_token, options.timeout) == (
        ("genius",), "Me/1 ( me@x.org )", "tok", 7.0
    )
    assert "tok" not in repr(options)


def test_youtube_options_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[limits]\nmax_video_seconds = 600\nmax_download_bytes = 5000000\nsocket_timeout_seconds = 3\n"
        'download_timeout_seconds = 30\n[sources]\ncookiefile = "/srv/cookies.txt"\nallow_loopback = true\n'
    )
    settings = load_settings(path, environ={})
    options = settings.sources.youtube_options(settings.limits)
    assert options == YouTubeOptions(
        max_duration_s=600.0,
        max_filesize=5_000_000,
        socket_timeout=3.0,
        download_timeout=30.0,
        cookiefile="/srv/cookies.txt",
        allow_loopback=True,
    )
    assert Settings().sources.youtube_options(Settings().limits).cookiefile is None  # "": no cookies


def test_one_home_for_each_limit() -> None:
    # yt-dlp's own defaults are the settings' defaults (they disagreed: 900 s and 50 MB against 1800 s and
    # 100 MB), and one audio cap serves the settings and the feature extractor alike.
    defaults = Settings()
    assert defaults.sources.youtube_options(defaults.limits) == YouTubeOptions()
    assert defaults.limits.max_audio_seconds == DEFAULT_MAX_SECONDS == 900.0
    assert inspect.signature(extract_features).parameters["max_seconds"].default == DEFAULT_MAX_SECONDS
