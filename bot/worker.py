"""What runs inside the audio worker processes.

Kept free of top-level numpy imports, so that :func:`init_worker` can cap BLAS threads before the
numeric libraries start theirs (threadpoolctl then enforces it whatever was imported first).
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import numpy as np

    from model.features import FeatureResult
    from model.scorer import Rating, SectionRating
    from model.tagger import Tagger
    from sources.youtube import VideoInfo, YouTubeOptions

_SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_tagger: Tagger | None = None  # this process's, loaded by its first job (or warm)


def init_worker() -> None:
    """Process-pool initializer: one BLAS thread per worker (two workers on two cores beat one pool of
    oversubscribed threads, see DESIGN.md)."""
    os.environ.update(_SINGLE_THREAD)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def serve(connection: Connection, scratch: str, memory_limit: int | None = None) -> None:
    """Main loop of a :class:`bot.pool.LocalPool` worker: answer ``(function, args)`` requests.

    Each request is answered with ``(True, result)`` or ``(False, (exception, traceback text))``.
    Returns when the pool closes its end of the pipe.

    Parameters
    ----------
    connection : Connection
        This worker's end of the pipe to the pool.
    scratch : str
        A private directory for every temporary file of this process and its children; the pool removes
        it when the worker ends, however it ends.
    memory_limit : int, optional
        Bytes of address space this process (and each ffmpeg child, which inherits it) may map; a job
        past it fails with MemoryError instead of the machine swapping or the OOM killer choosing a
        victim. None: no ceiling.
    """
    # A process group of its own: killing the group also kills the ffmpeg children a job started.
    os.setsid()
    if memory_limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    os.environ["TMPDIR"] = tempfile.tempdir = scratch
    init_worker()
    try:
        _answer(connection)
    finally:
        # The pool removes it after a kill; if the pool itself died (the bot was killed), only we can.
        shutil.rmtree(scratch, ignore_errors=True)


def _answer(connection: Connection) -> None:
    """Answer requests until the pool closes its end of the pipe or is gone."""
    while True:
        try:
            function, args = connection.recv()
        except (EOFError, ConnectionResetError):  # closed by the pool, or reset as the bot was killed
            return
        try:
            answer: tuple[bool, object] = (True, function(*args))
        except Exception as error:
            answer = (False, (error, traceback.format_exc()))
        try:
            connection.send(answer)
        except OSError:  # the pool is gone mid-job (the bot was killed): nobody is left to answer
            return
        except Exception as error:  # pickling the answer failed, so nothing was sent yet
            failed = RuntimeError(f"the worker could not send its answer back: {error!r}")
            connection.send((False, (failed, traceback.format_exc())))


def tagger() -> Tagger:
    """This process's tagger (model.tagger), loaded on first use: the flatbuffer is checked once.

    Raises
    ------
    model.tagger.TaggerError
        Its files are missing or do not match their card.
    """
    global _tagger
    if _tagger is None:
        from model.tagger import Tagger

        _tagger = Tagger.load()
    return _tagger


def warm() -> int:
    """Featurize and tag a short synthetic tone and draw its picture, before a user waits for either.

    Featurizing compiles librosa's numba code (or loads its cache) and loads the tagger; drawing imports
    matplotlib and loads its fonts, which made each worker's first picture about 0.3 s slower than the rest.

    Returns
    -------
    int
        The worker's process id, so a caller can tell that every worker was warmed.
    """
    import numpy as np
    import soundfile

    from model.features import SAMPLE_RATE, extract_features
    from model.scorer import N_SCORES, Rating

    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, tone, SAMPLE_RATE, format="WAV")
    features = extract_features(buffer.getvalue(), tagger=tagger())
    flat = Rating(score=5, expected=5.0, distribution=(1 / N_SCORES,) * N_SCORES, genres=())
    render(features.mel_db, flat, (), features.seconds, "warm")
    return os.getpid()


def featurize(source: bytes | str, max_seconds: float, ffmpeg: str | None) -> FeatureResult:
    """Features and heard tags of one song (bytes or a path), analysing at most ``max_seconds`` of it.

    The file's own artist, title and album tags come back too (FeatureResult.file_tags).

    Audio too short or too quiet to rate is refused (model.decode's MIN_RATED_SECONDS, QUIET_FLOOR_DBFS).

    Parameters
    ----------
    source : bytes or str
        The encoded audio file's bytes, or its path on the worker's machine.
    max_seconds : float
        Most seconds of audio analysed.
    ffmpeg : str or None
        Path of the ffmpeg binary; None or "" looks it up on PATH.

    Returns
    -------
    FeatureResult
        The song's features, sections, heard tags and file tags.

    Raises
    ------
    model.decode.AudioError
        The audio cannot be decoded, or is too short or too quiet; the message is meant for the user.
    """
    import dataclasses

    from model.decode import MIN_RATED_SECONDS, QUIET_FLOOR_DBFS
    from model.features import extract_features
    from model.filetags import read_file_tags

    features = extract_features(
        source,
        max_seconds=max_seconds,
        ffmpeg=ffmpeg or None,
        min_seconds=MIN_RATED_SECONDS,
        floor_dbfs=QUIET_FLOOR_DBFS,
        tagger=tagger(),
    )
    return dataclasses.replace(features, file_tags=read_file_tags(source))


def featurize_link(
    url: str, options: YouTubeOptions, max_seconds: float, ffmpeg: str | None
) -> tuple[FeatureResult, VideoInfo, float]:
    """Download a link's audio into a private temporary folder, featurize it, delete it.

    Runs in the worker, so with a Dask cluster the audio goes from the source to the machine that
    decodes it and never through the bot's process.

    Returns
    -------
    tuple
        The features, the video's info, and the seconds the download took (for the bot's log).

    Raises
    ------
    sources.youtube.SourceError
        The link cannot be downloaded; the message is meant for the user.
    model.decode.AudioError
        The download is not audio we can decode.
    """
    from sources.youtube import download_audio

    with tempfile.TemporaryDirectory(prefix="needlebot-") as scratch:
        started = time.perf_counter()
        path, info = download_audio(url, Path(scratch), options)
        downloaded = time.perf_counter() - started
        return featurize(str(path), max_seconds, ffmpeg), info, downloaded


def render(
    mel_db: np.ndarray, rating: Rating, sections: Sequence[SectionRating], seconds: float, title: str | None
) -> bytes:
    """The reply's picture: spectrogram and section scores beside the score and its evidence.

    Parameters
    ----------
    mel_db : np.ndarray
        The song's (128, T) log-mel picture (FeatureResult.mel_db).
    rating : Rating
        The whole song's rating.
    sections : Sequence[SectionRating]
        Its sections' ratings, drawn as a timeline when there are two or more.
    seconds : float
        Seconds of audio analysed, from OFFSET_S into the file.
    title : str, optional
        The song's title, drawn above.

    Returns
    -------
    bytes
        A PNG (see bot.pictures).
    """
    from bot.pictures import render_rating_png
    from model.features import OFFSET_S

    end_s = OFFSET_S + seconds
    return render_rating_png(mel_db, rating, sections, start_s=OFFSET_S, end_s=end_s, title=title)
