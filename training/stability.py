"""Score stability under lossy re-encoding: does the integer score survive mp3, opus and aac?

Users bring songs as whatever their platform serves (YouTube's opus, an mp3 from a download, aac from a
phone), so the same recording should get the same score in each. Each recording is re-encoded with the
bundled ffmpeg at common bit rates, rated through the same path as the bot (model.features, then the
taste model with the sound as its only evidence, as for an upload without tags), and compared with the
rating of the file as given. Each recording's score is also compared with the median of its sections'
scores (the picture's bars): they should stay within a point.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.decode import ffmpeg_executable
from model.features import extract_features
from model.scorer import Rating
from model.taste import TASTE_TFLITE, Evidence, Taste
from training import report

# name -> (file suffix, ffmpeg encoder arguments)
CODECS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mp3 128k": (".mp3", ("-c:a", "libmp3lame", "-b:a", "128k")),
    "opus 96k": (".opus", ("-c:a", "libopus", "-b:a", "96k")),
    "aac 128k": (".m4a", ("-c:a", "aac", "-b:a", "128k")),
}
AUDIO_SUFFIXES = (".ogg", ".mp3", ".wav", ".flac")
ENCODE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Stability:
    """One recording: its rating as given and after each re-encoding (CODECS order), its sections' median."""

    name: str
    original: Rating
    encoded: dict[str, Rating]
    section_median: float | None = None  # median score of the original's sections; None without sections

    def changes(self) -> dict[str, int]:
        """Integer score after re-encoding minus the original's, per codec.

        Returns
        -------
        dict[str, int]
            Codec name -> score change in points (-9..9), in CODECS order.
        """
        return {codec: r.score - self.original.score for codec, r in self.encoded.items()}


def reencode(source: Path, out_dir: Path, ffmpeg: str) -> dict[str, Path]:
    """Encode ``source`` once per CODECS entry into out_dir; codec name -> the new file.

    Parameters
    ----------
    source : Path
        The audio file.
    out_dir : Path
        Folder for the encoded files (existing ones are overwritten).
    ffmpeg : str
        Path of the ffmpeg binary.

    Returns
    -------
    dict[str, Path]
        Codec name -> encoded file, in CODECS order.

    Raises
    ------
    subprocess.CalledProcessError
        When ffmpeg fails (its stderr is attached).
    """
    paths = {}
    for codec, (suffix, arguments) in CODECS.items():
        target = out_dir / f"{source.stem}.{codec.split()[0]}{suffix}"
        subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source), "-vn", "-map_metadata", "-1",
             *arguments, str(target)],
            check=True, capture_output=True, timeout=ENCODE_TIMEOUT_S,
        )
        paths[codec] = target
    return paths


def rate_file(path: Path, taste: Taste, ffmpeg: str) -> tuple[Rating, float | None]:
    """The bot's rating of an audio file from its sound alone, and the median score of its sections.

    Parameters
    ----------
    path : Path
        The audio file.
    taste : Taste
        The model to rate with (``model.taste.load_taste``).
    ffmpeg : str
        Path of the ffmpeg binary.

    Returns
    -------
    rating : Rating
    section_median : float or None
        None for a file too short for sections.
    """
    features = extract_features(path, ffmpeg=ffmpeg)
    rating = taste.rate(evidence=Evidence(means=features.values, variances=features.variances)).rating
    sections = taste.rate_sections(features.sections, evidence=Evidence())
    median = float(np.median([s.rating.score for s in sections])) if sections else None
    return rating, median


def measure(recordings: list[Path], taste: Taste, ffmpeg: str | None = None) -> list[Stability]:
    """Rate each recording as given and re-encoded by each codec (temporary files, removed after).

    Parameters
    ----------
    recordings : list[Path]
        Audio files.
    taste : Taste
        The model to rate with.
    ffmpeg : str, optional
        Path of the ffmpeg binary; the bundled one by default.

    Returns
    -------
    list[Stability]
        One per recording, in order.
    """
    binary = ffmpeg_executable(ffmpeg)
    results = []
    with tempfile.TemporaryDirectory(prefix="needlebot-stability-") as tmp:
        for path in recordings:
            encoded = reencode(path, Path(tmp), binary)
            original, median = rate_file(path, taste, binary)
            results.append(Stability(
                name=path.name,
                original=original,
                encoded={codec: rate_file(p, taste, binary)[0] for codec, p in encoded.items()},
                section_median=median,
            ))
    return results


def recordings_in(directory: Path) -> list[Path]:
    """The audio files (AUDIO_SUFFIXES) directly in directory, sorted by name.

    Parameters
    ----------
    directory : Path
        The folder to list (not recursively).

    Returns
    -------
    list[Path]
    """
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def write_report(path: Path, results: list[Stability], taste: Taste) -> None:
    """The stability report: per recording its scores (expected score) as given and re-encoded.

    Parameters
    ----------
    path : Path
        The markdown file to write (atomically).
    results : list[Stability]
        What :func:`measure` returned; at least one recording.
    taste : Taste
        The model that rated them, named in the report from its card.
    """
    changes = np.array([list(r.changes().values()) for r in results])  # (recordings, codecs)
    rows = [
        [r.name, f"{r.original.score} ({r.original.expected:.3f})",
         *(f"{e.score} ({e.expected:.3f})" for e in r.encoded.values()),
         "-" if r.section_median is None else f"{r.section_median:g}"]
        for r in results
    ]
    apart = [abs(r.original.score - r.section_median) for r in results if r.section_median is not None]
    per_codec = [[codec, f"{np.count_nonzero(changes[:, i])} of {len(results)}",
                  int(np.abs(changes[:, i]).max())] for i, codec in enumerate(CODECS)]
    card = taste.card
    text = f"""# Score stability under re-encoding

Model: `{card["kind"]}`, created {card["created"]}, LiteRT sha256 `{card["sha256"][TASTE_TFLITE][:16]}`.
Each recording was re-encoded with the bundled ffmpeg ({", ".join(CODECS)}) and rated through the bot's
own path (features, then the taste model with the sound as its only evidence, as for an upload without
tags). Regenerate with `python -m training stability --data ../shared/data`.

**The integer score changed in {np.count_nonzero(changes)} of {changes.size} re-encodings; the largest
change is {int(np.abs(changes).max())} point(s).**

{report.table(["codec", "score changed", "largest change"], per_codec)}

**The score is within {max(apart, default=0):g} point(s) of the median of its sections' scores on every
recording** ({len(apart)} with sections).

Scores (expected score before calibration in brackets):

{report.table(["recording", "as given", *CODECS, "sections' median"], rows)}
"""
    report.write_text(path, text)
