"""How many patches the tagger needs: sampled top-5 tags against those of every patch.

Run from the repository root: ``python -m benchmarks.tags [--data ../shared/data]``. For each recording
(the shared recordings in DATA/audio, and synthesized 3-minute songs from tests.support.audio, each
decoded as the worker does: 22,050 Hz from 1.0 s on) it tags every consecutive patch once, then for each
sample size K averages the K patches model.tagger.patch_starts picks (the middles of K equal stretches;
and, for comparison, K evenly spaced from the first patch to the last), and compares with the average
over all patches: is the top-5 the same set, the same order, and how far the probabilities move.
Prints one markdown table; the per-patch time (LiteRT, one thread) is a side note.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES = (2, 4, 6, 8, 10, 12, 16)
SYNTH_SEEDS = tuple(range(10, 20))
SYNTH_SECONDS = 180.0
AUDIO_SUFFIXES = {".ogg", ".mp3", ".wav", ".flac", ".m4a", ".webm"}


def all_patches(tagger: object, y16: np.ndarray) -> np.ndarray:
    """Probabilities of every consecutive patch of a 16 kHz song: (patches, tags)."""
    from model.tagger import N_FRAMES, log_mel

    rows = log_mel(y16)
    starts = range(0, max(1, len(rows) // N_FRAMES) * N_FRAMES, N_FRAMES)
    return tagger.probabilities(np.stack([rows[s : s + N_FRAMES] for s in starts]))


def decoded_16k(path: Path) -> np.ndarray:
    """The file as the worker hears it (model.decode at 22,050 Hz), resampled to 16 kHz."""
    import soxr

    from model import DEFAULT_MAX_SECONDS
    from model.decode import SAMPLE_RATE, decode

    blocks: list[np.ndarray] = []
    decode(path, blocks.append, max_seconds=DEFAULT_MAX_SECONDS)
    return soxr.resample(np.concatenate(blocks), SAMPLE_RATE, 16_000, quality="HQ")


def placements(n: int, k: int) -> dict[str, list[int]]:
    """Patch indices of two placements of k patches among n: the centres of k equal stretches (what
    model.tagger.patch_starts serves), and evenly spaced from the first patch to the last."""
    from model.tagger import N_FRAMES, patch_starts

    centres = [s // N_FRAMES for s in patch_starts(n * N_FRAMES, k)]
    ends = centres if k >= n else sorted({round(i) for i in np.linspace(0, n - 1, k)})
    return {"centres": centres, "ends": ends}


def compare(per_patch: np.ndarray) -> dict[tuple[str, int], tuple[bool, bool, bool, float]]:
    """(placement, K) -> (same top-5 set, same top-5 order, same top-3 set, max |sampled - all|)."""
    every = per_patch.mean(axis=0)
    top = np.argsort(-every, kind="stable")[:5]
    out = {}
    for k in SAMPLES:
        for placement, chosen in placements(len(per_patch), k).items():
            sampled = per_patch[chosen].mean(axis=0)
            top_k = np.argsort(-sampled, kind="stable")[:5]
            out[placement, k] = (set(top_k) == set(top), bool(np.all(top_k == top)),
                                 set(top_k[:3]) == set(top[:3]), float(np.max(np.abs(sampled - every))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data directory")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from model.tagger import Tagger
    from tests.support.audio import synth_song, write_audio

    tagger = Tagger.load()
    groups: dict[str, list[tuple[str, np.ndarray]]] = {"shared recordings": [], "synthesized 3 min": []}
    audio = args.data / "audio"
    for path in sorted(audio.iterdir()) if audio.is_dir() else []:
        if path.suffix in AUDIO_SUFFIXES:
            groups["shared recordings"].append((path.name, decoded_16k(path)))
    with tempfile.TemporaryDirectory(prefix="needlebot-bench-") as tmp:
        for seed in SYNTH_SEEDS:
            path = write_audio(Path(tmp) / f"s{seed}.mp3", synth_song(SYNTH_SECONDS, seed=seed), 44100, "mp3")
            groups["synthesized 3 min"].append((path.name, decoded_16k(path)))
    patches = 0
    started = time.perf_counter()
    results = {}
    for group, songs in groups.items():
        per_song = []
        for _, y16 in songs:
            per_patch = all_patches(tagger, y16)
            patches += len(per_patch)
            per_song.append((len(per_patch), compare(per_patch)))
        results[group] = per_song
    per_patch_ms = 1000 * (time.perf_counter() - started) / patches
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f}, "
          f"{per_patch_ms:.0f} ms per patch (front end + LiteRT, one thread)\n")
    print("| recordings | n | patches per song | placement | K | top-5 set equal | top-5 order equal "
          "| top-3 set equal | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group, per_song in results.items():
        if not per_song:
            continue
        sizes = [n for n, _ in per_song]
        for placement in ("centres", "ends"):
            for k in SAMPLES:
                counts = [sum(r[placement, k][i] for _, r in per_song) for i in range(3)]
                diff = max(r[placement, k][3] for _, r in per_song)
                print(f"| {group} | {len(per_song)} | {min(sizes)}-{max(sizes)} | {placement} | {k} | "
                      + " | ".join(f"{c}/{len(per_song)}" for c in counts) + f" | {diff:.3f} |")


if __name__ == "__main__":
    main()
