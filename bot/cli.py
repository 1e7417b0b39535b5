"""``needlebot``: run the bot, or try it without Discord.

``needlebot run`` starts the bot; ``needlebot features PATH`` prints the 26 features of a file;
``needlebot rate PATH_OR_URL`` rates a song through the same service the bot uses;
``needlebot album ARTIST TITLE`` rates a whole album the way /album does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings

NO_TOKEN = """\
No Discord token: set DISCORD_TOKEN or put `token = "..."` under [discord] in config.toml.

To get one:
  1. Open https://discord.com/developers/applications and create an application.
  2. Under "Bot", reset the token and copy it (keep it secret). No privileged intents are needed.
  3. Under "OAuth2 > URL Generator", tick the scopes `bot` and `applications.commands` and the
     permissions "Send Messages", "Embed Links" and "Attach Files"; open the URL to invite the bot.
  4. DISCORD_TOKEN=... needlebot run, then mention the bot in your server: `@Needle Bot sync`.

Meanwhile, try it without Discord:  needlebot rate some-song.mp3
"""


def main(argv: list[str] | None = None) -> int:
    """Run the ``needlebot`` command.

    Parameters
    ----------
    argv : list[str], optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 done, 1 the input could not be used, 2 bad configuration or no token.
    """
    parser = argparse.ArgumentParser(prog="needlebot", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML settings file (default: config.toml if present)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the Discord bot")
    features = commands.add_parser("features", help="print the 26 audio features of a file")
    features.add_argument("path", type=Path)
    features.add_argument("--json", action="store_true", help="print JSON")
    rate = commands.add_parser("rate", help="rate a song file or YouTube link without Discord")
    rate.add_argument("target", metavar="PATH_OR_URL")
    rate.add_argument("--json", action="store_true", help="print JSON")
    album = commands.add_parser("album", help="rate a whole album without Discord")
    album.add_argument("artist")
    album.add_argument("title")
    album.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"needlebot: invalid configuration: {error}", file=sys.stderr)
        return 2
    if args.command == "run":
        return _run(settings)
    if args.command == "features":
        return _features(args.path, settings, as_json=args.json)
    if args.command == "album":
        return asyncio.run(_album(args.artist, args.title, settings, as_json=args.json))
    return asyncio.run(_rate(args.target, settings, as_json=args.json))


def _run(settings: Settings) -> int:
    import discord

    from bot.client import create_bot

    if not settings.discord.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    discord.utils.setup_logging()

    async def run() -> None:
        async with create_bot(settings) as bot:
            await bot.start(settings.discord.token.reveal())

    try:
        asyncio.run(run())
    except discord.LoginFailure:
        logging.getLogger(__name__).error("Discord refused the token; check DISCORD_TOKEN")
        return 1
    except ConfigError as error:  # a setting that only fails when used (a backend not installed)
        print(f"needlebot: invalid configuration: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _features(path: Path, settings: Settings, *, as_json: bool) -> int:
    from model.features import AudioError, extract_features

    try:
        result = extract_features(
            path, max_seconds=settings.limits.max_audio_seconds, ffmpeg=settings.audio.ffmpeg or None
        )
    except (AudioError, OSError) as error:
        print(f"needlebot: {path}: {error}", file=sys.stderr)
        return 1
    values = result.as_dict()
    if as_json:
        print(
            json.dumps(
                {"features": values, "seconds": result.seconds, "truncated": result.truncated}, indent=2
            )
        )
    else:
        for name, value in values.items():
            print(f"{name:>20}  {value:14.6f}")
        print(
            f"{'seconds analysed':>20}  {result.seconds:14.1f}"
            + ("  (truncated)" if result.truncated else "")
        )
    return 0


async def _rate(target: str, settings: Settings, *, as_json: bool) -> int:
    from bot import terminal
    from bot.errors import UserFacingError
    from bot.jobs import Jobs
    from bot.service import RatingService, Requester

    jobs = Jobs.from_settings(settings, workers=1)
    service = await RatingService.open(settings, jobs)
    requester = Requester(user_id=0)
    try:
        if target.startswith(("http://", "https://")):
            rated = await service.rate_link(target, requester)
        else:
            rated = await service.rate_path(Path(target), requester)
    except UserFacingError as error:
        print(f"needlebot: {error}", file=sys.stderr)
        return 1
    finally:
        await service.close()
    if as_json:
        print(json.dumps(terminal.rating_json(rated.song, cached=rated.cached, thresholds=rated.thresholds),
                         indent=2))
    else:
        print(terminal.rating_text(rated.song, cached=rated.cached, thresholds=rated.thresholds))
    return 0


async def _album(artist: str, title: str, settings: Settings, *, as_json: bool) -> int:
    from bot import terminal, voice
    from bot.album import TrackResult, make_album_service
    from bot.errors import UserFacingError
    from bot.jobs import Jobs
    from bot.service import RatingService, Requester
    from bot.store import AlbumRecord

    jobs = Jobs.from_settings(settings)
    ratings = await RatingService.open(settings, jobs)
    service = make_album_service(settings, ratings)

    def progress(album: AlbumRecord, done: Sequence[TrackResult], place: int | None) -> None:
        # ``place`` stays None: alone on its own workers, the CLI's album never waits behind anyone else.
        total, count = len(album.tracks), len(done)
        ending = "\n" if count == total or not sys.stderr.isatty() else ""
        print(f"\r{voice.progress_bar(count, total)}", end=ending, file=sys.stderr, flush=True)

    try:
        rated = await service.rate_album(artist, title, Requester(user_id=0), progress)
    except UserFacingError as error:
        print(f"needlebot: {error}", file=sys.stderr)
        return 1
    finally:
        await ratings.close()
    if as_json:
        print(json.dumps(terminal.album_json(rated), indent=2, ensure_ascii=False))
    else:
        print(terminal.album_text(rated))
    return 0 if rated.score is not None else 1


if __name__ == "__main__":
    sys.exit(main())
