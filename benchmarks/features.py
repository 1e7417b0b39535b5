"""Feature extraction: the straightforward reference against model.features, on 3- and 60-minute mp3s.

Run from the repository root: ``python -m benchmarks.features``. Each variant runs in its own child
process (so its peak RSS is its own), warmed up on a short clip first (numba compiles librosa's kernels
on first use). Children run with one BLAS thread, as the bot's audio workers do. Prints one markdown table.

``python -m benchmarks.features --worker [--rounds N]``: a worker's whole job for a cold 3-minute mp3
(decode, features, score, picture) without tags, as before the tagger, against the same with the heard
tags (bot.worker.featurize: tags and file tags too), in alternating child processes; prints the load
average beside each round, as the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CASES = ((3, 3), (60, 1))  # (minutes, timed repeats; the best is kept)


def reference_decode(path: str) -> tuple[np.ndarray, float]:
    import librosa

    return librosa.load(path, sr=22050, offset=1.0)


def run_reference(path: str) -> tuple[float, float]:
    """(decode seconds, feature seconds)."""
    from tests.support.reference import reference_from_signal

    start = time.perf_counter()
    y, sr = reference_decode(path)
    decoded = time.perf_counter()
    reference_from_signal(y, sr)
    return decoded - start, time.perf_counter() - decoded


def run_ours(path: str) -> tuple[float, float]:
    """(decode seconds, feature seconds); ours streams, so features = whole run - decoding alone."""
    from model.decode import decode
    from model.features import extract_features

    start = time.perf_counter()
    decode(path, lambda block: None, max_seconds=4000.0)
    decoded = time.perf_counter()
    extract_features(path, max_seconds=4000.0)
    whole = time.perf_counter() - decoded
    return decoded - start, whole - (decoded - start)


def _worker_job(path: str, *, tagged: bool) -> tuple[float, float]:
    """(featurize seconds, score + picture seconds) of one worker job, tagged or as before the tagger."""
    from bot import worker
    from model import DEFAULT_MAX_SECONDS
    from model.decode import MIN_RATED_SECONDS, QUIET_FLOOR_DBFS
    from model.features import extract_features
    from model.scorer import Scorer

    scorer = Scorer.load()
    start = time.perf_counter()
    if tagged:
        features = worker.featurize(path, DEFAULT_MAX_SECONDS, None)
    else:
        features = extract_features(path, max_seconds=DEFAULT_MAX_SECONDS, min_seconds=MIN_RATED_SECONDS,
                                    floor_dbfs=QUIET_FLOOR_DBFS)  # fmt: skip
    featurized = time.perf_counter()
    rating = scorer.rate(features.values, features.variances)
    worker.render(features.mel_db, rating, scorer.rate_sections(features.sections), features.seconds, "x")
    return featurized - start, time.perf_counter() - featurized


VARIANTS: dict[str, Callable[[str], tuple[float, float]]] = {
    "reference": run_reference,
    "ours": run_ours,
    "untagged": lambda path: _worker_job(path, tagged=False),
    "tagged": lambda path: _worker_job(path, tagged=True),
}


def child(variant: str, path: str, warmup: str, repeats: int) -> None:
    """Time one variant in this process and print JSON: best decode/features seconds, peak RSS.

    The worker variants are warmed as a pool worker is (bot.worker.init_worker, then warm).
    """
    run = VARIANTS[variant]
    if variant in ("untagged", "tagged"):
        from bot import worker

        worker.init_worker()
        worker.warm()
    run(warmup)
    timings = [run(path) for _ in range(repeats)]
    peak_mb = peak_rss_mb()
    decode_s = min(t[0] for t in timings)
    features_s = min(t[1] for t in timings)
    print(json.dumps({"decode": decode_s, "features": features_s, "rss_mb": peak_mb}))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB.

    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a child would report the
    parent's peak (here the parent synthesized the song).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark needs Linux)")


def make_inputs(directory: Path) -> tuple[Path, dict[int, Path]]:
    """A 5 s warm-up clip, and a 3-minute synthesized song as mp3 repeated by stream copy to 60 minutes."""
    from model.features import ffmpeg_executable
    from tests.support.audio import synth_song, write_audio

    warmup = write_audio(directory / "warmup.mp3", synth_song(5.0, seed=1), 44100, "mp3")
    three = write_audio(directory / "song3.mp3", synth_song(180.0, seed=2), 44100, "mp3")
    sixty = directory / "song60.mp3"
    cmd = [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-stream_loop", "19", "-i", str(three)]
    subprocess.run([*cmd, "-c", "copy", str(sixty)], check=True)
    return warmup, {3: three, 60: sixty}


def measure(variant: str, path: Path, warmup: Path, repeats: int) -> dict[str, float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.features", "--child", variant, str(path), str(warmup)]
    cmd.append(str(repeats))
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def worker_table(rounds: int) -> None:
    """Print the worker-job table: per round, untagged and tagged in fresh children, best of 3 each."""
    with tempfile.TemporaryDirectory(prefix="needlebot-bench-") as tmp:
        warmup, inputs = make_inputs(Path(tmp))
        results = []
        for i in range(rounds):
            order = ("untagged", "tagged") if i % 2 == 0 else ("tagged", "untagged")
            load = os.getloadavg()[0]
            got = {variant: measure(variant, inputs[3], warmup, 3) for variant in order}
            results.append((load, got))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {machine}, OPENBLAS_NUM_THREADS=1, best of 3 per child")
    print()
    print("| round | load avg (1 min) | featurize untagged / tagged (s) | score+picture (s) "
          "| job untagged / tagged (s) | tags cost (s) | peak RSS untagged / tagged (MB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for i, (load, got) in enumerate(results, 1):
        # a worker child's "decode" is its featurize step, "features" its score + picture (_worker_job)
        before, after = got["untagged"], got["tagged"]
        job_before = before["decode"] + before["features"]
        job_after = after["decode"] + after["features"]
        print(f"| {i} | {load:.2f} | {before['decode']:.2f} / {after['decode']:.2f} "
              f"| {before['features']:.2f} / {after['features']:.2f} | {job_before:.2f} / {job_after:.2f} "
              f"| {after['decode'] - before['decode']:.2f} "
              f"| {before['rss_mb']:.0f} / {after['rss_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    child_args = ("VARIANT", "PATH", "WARMUP", "REPEATS")
    parser.add_argument("--child", nargs=4, metavar=child_args, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help="the worker job, with and without tags")
    parser.add_argument("--rounds", type=int, default=3, help="--worker rounds")
    args = parser.parse_args()
    if args.child:
        variant, path, warmup, repeats = args.child
        child(variant, path, warmup, int(repeats))
        return
    if args.worker:
        worker_table(args.rounds)
        return
    with tempfile.TemporaryDirectory(prefix="needlebot-bench-") as tmp:
        warmup, inputs = make_inputs(Path(tmp))
        rows = []
        for minutes, repeats in CASES:
            ref = measure("reference", inputs[minutes], warmup, repeats)
            ours = measure("ours", inputs[minutes], warmup, repeats)
            rows.append((minutes, repeats, ref, ours))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"{time.strftime('%Y-%m-%d')}, {machine}, OPENBLAS_NUM_THREADS=1, best of the repeats")
    print()
    print("| input (mp3) | repeats | decode ref / ours (s) | features ref / ours (s) | total ref / ours (s) "
          "| features speed-up | total speed-up | peak RSS ref / ours (MB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for minutes, repeats, ref, ours in rows:
        ref_total = ref["decode"] + ref["features"]
        ours_total = ours["decode"] + ours["features"]
        print(
            f"| {minutes} min | {repeats} | {ref['decode']:.2f} / {ours['decode']:.2f} "
            f"| {ref['features']:.2f} / {ours['features']:.2f} | {ref_total:.2f} / {ours_total:.2f} "
            f"| {ref['features'] / ours['features']:.1f}x | {ref_total / ours_total:.1f}x "
            f"| {ref['rss_mb']:.0f} / {ours['rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
