"""Settings: defaults here, overridden by a TOML file and then by environment variables.

``config.example.toml`` documents every setting with its default value; a test keeps the two equal.
Secrets come from the environment (``DISCORD_TOKEN``, ``GENIUS_ACCESS_TOKEN``) or the TOML file and
are held in :class:`Secret`, whose ``repr`` and ``str`` never show the value.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import DEFAULT_MAX_SECONDS
from sources.albums import TracklistOptions
from sources.tracklists import PROVIDERS as TRACKLIST_PROVIDERS
from sources.youtube import SEARCH_TEMPLATE, YouTubeOptions

DEFAULT_CONFIG_FILE = Path("config.toml")


class ConfigError(Exception):
    """Invalid configuration; the message names the setting and says what is expected."""


class Secret:
    """A string that never shows itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it (logging in); never log the result."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class DiscordSettings:
    token: Secret = field(default_factory=lambda: Secret(""))
    owner_ids: tuple[int, ...] = ()
    dev_guild_id: int = 0
    shards: int = 1


@dataclass(frozen=True)
class GeniusSettings:
    token: Secret = field(default_factory=lambda: Secret(""))


@dataclass(frozen=True)
class StorageSettings:
    data_dir: Path = Path("data")
    database: Path = Path("needlebot.sqlite3")
    cached_songs: int = 10_000

    @property
    def database_path(self) -> Path:
        """The SQLite file: ``database`` inside ``data_dir``."""
        return self.data_dir / self.database


@dataclass(frozen=True)
class LimitSettings:
    max_attachment_bytes: int = 25_000_000
    max_audio_seconds: float = DEFAULT_MAX_SECONDS
    max_video_seconds: float = YouTubeOptions.max_duration_s
    max_download_bytes: int = YouTubeOptions.max_filesize
    socket_timeout_seconds: float = YouTubeOptions.socket_timeout
    download_timeout_seconds: float = YouTubeOptions.download_timeout
    database_timeout_seconds: float = 30.0
    job_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class JobSettings:
    workers: int = 2
    max_queue: int = 60
    per_user: int = 1
    per_user_queued: int = 30
    cooldown_seconds: float = 10.0
    backend: str = "local"
    scheduler: str = "tcp://127.0.0.1:8786"
    tls_ca_file: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    require_encryption: bool = False
    singles_share: float = 0.25
    answer_reserve_seconds: float = 60.0
    worker_memory_mb: int = 4096

    def __post_init__(self) -> None:
        if not 0 <= self.singles_share < 1:
            raise ConfigError(f"jobs.singles_share must be from 0 to below 1, not {self.singles_share!r}")
        tls = [
            key
            for key in ("tls_ca_file", "tls_client_cert", "tls_client_key", "require_encryption")
            if getattr(self, key)
        ]
        if self.scheduler.startswith("tls://"):
            if not (self.tls_ca_file and self.tls_client_cert):
                raise ConfigError(
                    "jobs.scheduler is a tls:// address: set jobs.tls_ca_file (the cluster's CA) and"
                    " jobs.tls_client_cert (the bot's certificate; and jobs.tls_client_key unless it holds"
                    " the key)"
                )
        elif tls:
            raise ConfigError(
                f"jobs.{', jobs.'.join(tls)} set, but jobs.scheduler ({self.scheduler}) is not a tls://"
                " address: jobs would travel unencrypted"
            )


@dataclass(frozen=True)
class SourceSettings:
    allowed_hosts: tuple[str, ...] = YouTubeOptions.allowed_hosts
    allowed_extractors: tuple[str, ...] = YouTubeOptions.allowed_extractors
    cookiefile: str = ""
    media_hosts: tuple[str, ...] = YouTubeOptions.media_hosts
    allow_loopback: bool = False
    search: str = SEARCH_TEMPLATE
    tracklists: tuple[str, ...] = TracklistOptions.providers
    musicbrainz_url: str = TracklistOptions.musicbrainz_url
    musicbrainz_user_agent: str = TracklistOptions.user_agent
    coverart_url: str = TracklistOptions.coverart_url
    genius_url: str = TracklistOptions.genius_url
    fantano_scores: str = ""  # path of a newer scores table (see sources/fantano.py); "": the bundled one

    def __post_init__(self) -> None:
        unknown = set(self.tracklists) - set(TRACKLIST_PROVIDERS)
        if unknown:
            known = ", ".join(TRACKLIST_PROVIDERS)
            raise ConfigError(f"sources.tracklists: unknown {', '.join(sorted(unknown))}; known: {known}")
        if "{query}" not in self.search:
            raise ConfigError('sources.search must contain {query}, e.g. "ytsearch5:{query}"')

    def tracklist_options(self, genius_token: Secret, timeout: float) -> TracklistOptions:
        """The tracklist providers' options from these settings and the Genius token (seconds).

        Parameters
        ----------
        genius_token : Secret
            The Genius API token; empty skips Genius.
        timeout : float
            Seconds per HTTP request.

        Returns
        -------
        TracklistOptions
            The token is revealed into a field left out of its repr.
        """
        return TracklistOptions(
            providers=self.tracklists,
            musicbrainz_url=self.musicbrainz_url,
            user_agent=self.musicbrainz_user_agent,
            coverart_url=self.coverart_url,
            genius_url=self.genius_url,
            genius_token=genius_token.reveal(),
            timeout=timeout,
        )

    def youtube_options(self, limits: LimitSettings) -> YouTubeOptions:
        """yt-dlp's options from these settings and the download limits.

        Parameters
        ----------
        limits : LimitSettings
            The video length cap (seconds), the download size cap (bytes) and the timeouts (seconds).

        Returns
        -------
        YouTubeOptions
            What every link, search and download obeys.
        """
        return YouTubeOptions(
            allowed_hosts=self.allowed_hosts,
            allowed_extractors=self.allowed_extractors,
            max_duration_s=limits.max_video_seconds,
            max_filesize=limits.max_download_bytes,
            socket_timeout=limits.socket_timeout_seconds,
            download_timeout=limits.download_timeout_seconds,
            cookiefile=self.cookiefile or None,
            media_hosts=self.media_hosts,
            allow_loopback=self.allow_loopback,
        )


@dataclass(frozen=True)
class AudioSettings:
    ffmpeg: str = ""


@dataclass(frozen=True)
class ModelSettings:
    directory: str = ""


@dataclass(frozen=True)
class AlbumSettings:
    max_tracks: int = 30
    max_minutes: float = 120.0
    concurrency: int = 3
    time_budget_seconds: float = 840.0
    searches: int = 4


@dataclass(frozen=True)
class Settings:
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    genius: GeniusSettings = field(default_factory=GeniusSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    albums: AlbumSettings = field(default_factory=AlbumSettings)


_ENV_SECRETS = {"DISCORD_TOKEN": ("discord", "token"), "GENIUS_ACCESS_TOKEN": ("genius", "token")}

# Lower bounds of numeric settings; a value below one is a configuration error.
_MINIMUMS = {
    "storage.cached_songs": 1,
    "limits.max_attachment_bytes": 1,
    "limits.max_audio_seconds": 5,
    "limits.max_video_seconds": 5,
    "limits.max_download_bytes": 1,
    "limits.socket_timeout_seconds": 1,
    "limits.download_timeout_seconds": 1,
    "limits.database_timeout_seconds": 0,
    "limits.job_timeout_seconds": 5,
    "jobs.workers": 1,
    "jobs.max_queue": 1,
    "jobs.per_user": 1,
    "jobs.per_user_queued": 1,
    "jobs.cooldown_seconds": 0,
    "jobs.answer_reserve_seconds": 0,
    "jobs.worker_memory_mb": 0,
    "discord.dev_guild_id": 0,
    "discord.shards": 0,
    "albums.max_tracks": 1,
    "albums.max_minutes": 1,
    "albums.concurrency": 1,
    "albums.time_budget_seconds": 10,
    "albums.searches": 1,
}

# Settings that take one of a few words.
_CHOICES = {"jobs.backend": ("local", "dask")}


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from a TOML file and the environment.

    Parameters
    ----------
    path : Path, optional
        The TOML file; default ``$NEEDLEBOT_CONFIG`` or ``config.toml``, skipped when absent.
    environ : Mapping[str, str], optional
        The environment (default ``os.environ``); ``DISCORD_TOKEN`` and ``GENIUS_ACCESS_TOKEN`` override
        the file.

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        The file is not valid TOML, a section or key is unknown, or a value has the wrong type or range.
    """
    environ = os.environ if environ is None else environ
    if path is None:
        path = Path(environ.get("NEEDLEBOT_CONFIG", DEFAULT_CONFIG_FILE))
        raw = _read_toml(path) if path.exists() else {}
    else:
        raw = _read_toml(path)
    for variable, (section, key) in _ENV_SECRETS.items():
        if environ.get(variable):
            raw.setdefault(section, {})[key] = environ[variable]
    return settings_from_dict(raw)


def settings_from_dict(raw: Mapping[str, Any]) -> Settings:
    """Build `Settings` from nested mappings shaped like the TOML file.

    Parameters
    ----------
    raw : Mapping[str, Any]
        Section name -> {setting: value}; missing sections and settings keep their defaults.

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        A section or key is unknown, or a value has the wrong type or range.
    """
    sections = {}
    hints = typing.get_type_hints(Settings)
    for name, value in raw.items():
        if name not in hints:
            raise ConfigError(f"unknown section [{name}]; known sections: {', '.join(hints)}")
        if not isinstance(value, Mapping):
            raise ConfigError(f"[{name}] must be a table of settings")
        sections[name] = _section(name, hints[name], value)
    return Settings(**sections)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _section(name: str, cls: type, raw: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        setting = f"{name}.{key}"
        if key not in hints:
            raise ConfigError(f"unknown setting {setting}; known in [{name}]: {', '.join(hints)}")
        values[key] = _coerce(setting, hints[key], value)
        minimum = _MINIMUMS.get(setting)
        if minimum is not None and values[key] < minimum:
            raise ConfigError(f"{setting} must be at least {minimum}, not {value!r}")
        choices = _CHOICES.get(setting)
        if choices is not None and values[key] not in choices:
            raise ConfigError(f"{setting} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return cls(**values)


def _coerce(setting: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is Secret:
        if not isinstance(value, str):
            raise ConfigError(f"{setting} must be a string")
        return Secret(value.strip())
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{setting} must be a non-empty path string")
        return Path(value).expanduser()
    if origin is tuple:
        (item_type, _) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{setting} must be a list")
        return tuple(_coerce(f"{setting}[{i}]", item_type, item) for i, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{setting} must be true or false, not {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{setting} must be a number, not {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{setting} must be a whole number, not {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{setting} must be a string, not {value!r}")
        return value
    raise TypeError(f"no coercion for {setting}: {hint}")


def as_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings as TOML-shaped mappings, secrets masked (for logs and the config test).

    Parameters
    ----------
    settings : Settings

    Returns
    -------
    dict[str, dict[str, Any]]
        Section name -> {setting: value}; secrets stay `Secret` objects, which never show their value.
    """
    result: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        result[section.name] = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    return result
