"""`python -m training {bridge,collect,ears,fit,reviews,stability,taste}`: build models and tables offline.

bridge   the bundled model from the GTZAN feature table and Fantano's review tables
ears     the bundled taggers, ported from the musicnn wheel's TF1 checkpoints to LiteRT
collect  audio features of reviewed albums' tracks into a tracks table (needs the network)
fit      the direct model from a collected tracks table, with a grouped, baseline-checked evaluation
taste    the taste model (P(score) from artist, genre, heard-tag and sound evidence) and its honest test
reviews  the bundled table of Fantano's scores and track picks that the bot shows beside its own
stability  how often re-encoding a recording (mp3, opus, aac) changes its score
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from model import MODEL_DIR
from sources.fantano import BUNDLED
from training.reviews import KAGGLE, TND, DataError

log = logging.getLogger("training")
REPORTS = Path(__file__).resolve().parent / "reports"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    bridge = sub.add_parser("bridge", help="build the bundled model from the shared data tables")
    bridge.add_argument("--data", type=Path, required=True, help="the shared data directory")
    bridge.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory (default: model/)")
    bridge.add_argument("--seed", type=int, default=0)
    bridge.add_argument("--report", type=Path, default=REPORTS / "bridge.md", help="markdown report path")
    bridge.add_argument("--no-report", action="store_true", help="skip the report and its plots")
    bridge.add_argument("--cv-folds", type=int, default=10, help="genre cross-validation folds (>= 2)")
    bridge.add_argument("--steps", type=int, default=None, help="training minibatches (default 1500)")

    taste = sub.add_parser("taste", help="build the taste model and test it on his later reviews")
    taste.add_argument("--data", type=Path, required=True, help="the shared data directory")
    taste.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory (default: model/)")
    taste.add_argument("--seed", type=int, default=0)
    taste.add_argument("--report", type=Path, default=REPORTS / "taste.md", help="markdown report path")

    collect = sub.add_parser("collect", help="download and featurize tracks of reviewed albums")
    collect.add_argument("reviews_csv", type=Path, metavar="REVIEWS_CSV")
    collect.add_argument("--out", type=Path, required=True, help="output directory for tracks.csv")
    collect.add_argument("--genius-token", default=None, help="Genius API token, optional (prefer --env)")
    collect.add_argument("--env", default="GENIUS_ACCESS_TOKEN", help="environment variable with the token")
    collect.add_argument("--workers", type=int, default=2)
    collect.add_argument("--limit", type=int, default=None, help="only the first N albums")
    collect.add_argument("--retry-failures", action="store_true", help="retry what failures.csv lists")

    ears = sub.add_parser("ears", help="port musicnn's taggers from its wheel to LiteRT")
    ears.add_argument("--wheel", type=Path, required=True,
                      help="musicnn-0.1.0-py3-none-any.whl, or a directory holding it (a pip download "
                           "or cache directory): `pip download --no-deps musicnn==0.1.0 -d DIR`")
    ears.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory (default: model/)")

    fit = sub.add_parser("fit", help="train and evaluate the direct model on a collected tracks table")
    fit.add_argument("tracks_csv", type=Path, metavar="TRACKS_CSV")
    fit.add_argument("--out", type=Path, required=True, help="output directory (model + card + report)")
    fit.add_argument("--favourite-bonus", type=float, default=0.5, help="added to favourite tracks' labels")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--folds", type=int, default=5, help="artist-grouped cross-validation folds (>= 2)")
    fit.add_argument("--steps", type=int, default=None, help="training minibatches (default 1000)")
    fit.add_argument("--permutations", type=int, default=None,
                     help="album-score shuffles for the p-value, each refitting every fold (default 30)")

    reviews = sub.add_parser("reviews", help="build the table of Fantano's scores the bot bundles")
    source = reviews.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help=f"the shared data directory ({TND} and {KAGGLE})")
    source.add_argument(
        "--from-fetcher", type=Path, metavar="CSV",
        help="build from fantano_fetcher_reviews.csv instead (newer); its licence is unclear, so the "
             "result is for the [sources] fantano_scores setting only and must NOT be bundled: needs --out",
    )
    reviews.add_argument("--out", type=Path, help=f"output CSV (default: the bundled {BUNDLED.name})")

    stability = sub.add_parser("stability", help="re-encode the shared recordings and compare their scores")
    stability.add_argument("--data", type=Path, required=True, help="the shared data directory (its audio/)")
    stability.add_argument("--model", type=Path, default=MODEL_DIR, help="model directory (default: model/)")
    stability.add_argument("--report", type=Path, default=REPORTS / "stability.md", help="markdown report")
    return parser


def _bridge(args: argparse.Namespace) -> int:
    from training.bridge import DEFAULT_STEPS, run_bridge

    card = run_bridge(
        args.data, args.out, None if args.no_report else args.report,
        seed=args.seed, cv_folds=args.cv_folds, steps=args.steps or DEFAULT_STEPS,
    )
    accuracy = card["metrics"]["genre_cv_accuracy"]
    histogram = [round(x, 3) for x in card["calibration"]["output_histogram_1_to_10"]]
    print(f"wrote {args.out}: genre CV accuracy {accuracy:.3f}, calibrated histogram 1..10 {histogram}")
    return 0


def _taste(args: argparse.Namespace) -> int:
    from training.taste import run_taste

    card = run_taste(args.data, args.out, args.report, seed=args.seed)
    both = card["metrics"]["metrics"]["taste: artist + genre"]
    print(f"wrote {args.out}: artist + genre on later reviews: Spearman {both['spearman']:.3f}, "
          f"MAE {both['mae']:.2f}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from training.collect import run_collect

    token = args.genius_token or os.environ.get(args.env, "")  # optional: Genius is the second provider
    path = run_collect(
        args.reviews_csv,
        args.out,
        genius_token=token,
        workers=args.workers,
        limit=args.limit,
        retry_failures=args.retry_failures,
    )
    print(f"wrote {path}")
    return 0


def _ears(args: argparse.Namespace) -> int:
    from training.ears import WheelError, run_ears

    try:
        card = run_ears(args.wheel, args.out)
    except WheelError as e:
        raise DataError(str(e)) from e
    for network, entry in card["networks"].items():
        print(f"wrote {args.out / entry['file']}: {network}, {len(entry['tags'])} tags, "
              f"max |LiteRT - TF1 graph| {entry['max_abs_diff_vs_tf1_graph']['tflite']:.2g}, "
              f"sha256 {entry['sha256'][:16]}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from training.fit import DEFAULT_PERMUTATIONS, DEFAULT_STEPS, run_fit

    card = run_fit(
        args.tracks_csv, args.out, favourite_bonus=args.favourite_bonus, seed=args.seed, folds=args.folds,
        steps=args.steps or DEFAULT_STEPS, permutations=args.permutations or DEFAULT_PERMUTATIONS,
    )
    album = card["metrics"]["album"]
    print(f"wrote {args.out}: album MAE {album['mae']:.2f}, Spearman {album['spearman']:.3f} "
          f"(p = {card['metrics']['spearman_p_value']:.3g})")
    return 0


def _reviews(args: argparse.Namespace) -> int:
    from sources.fantano import ScoresError, dump
    from training.reviews import fantano_scores, fetcher_scores

    out = args.out or BUNDLED
    if args.from_fetcher is not None:
        if args.out is None or out.resolve() == BUNDLED:
            raise DataError("--from-fetcher needs --out outside the package: that table must not be bundled")
        rows = fetcher_scores(args.from_fetcher)
    else:
        rows = fantano_scores(args.data / TND, args.data / KAGGLE)
    try:
        count = dump(rows, out)
    except ScoresError as e:
        raise DataError(str(e)) from e
    print(f"wrote {out}: {count} albums, {sum(bool(r.favourites) for r in rows)} with favourite tracks")
    return 0


def _stability(args: argparse.Namespace) -> int:
    from model.taste import load_taste
    from training.stability import measure, recordings_in, write_report

    audio = args.data / "audio"
    if not audio.is_dir() or not (recordings := recordings_in(audio)):
        raise DataError(f"{audio} holds no recordings")
    taste = load_taste(args.model)
    results = measure(recordings, taste)
    write_report(args.report, results, taste)
    changed = sum(1 for r in results for change in r.changes().values() if change)
    print(f"wrote {args.report}: {changed} of {len(results) * len(results[0].encoded)} re-encodings "
          "changed the score")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one training command; return the exit status (2 with one line on stderr for bad input).

    Parameters
    ----------
    argv : the arguments after ``python -m training``; None for sys.argv.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "cv_folds", 2) < 2 or getattr(args, "folds", 2) < 2:
        print("error: cross-validation needs at least 2 folds", file=sys.stderr)
        return 2
    try:
        commands = {"bridge": _bridge, "collect": _collect, "ears": _ears, "fit": _fit, "reviews": _reviews,
                    "taste": _taste, "stability": _stability}
        return commands[args.command](args)
    except DataError as e:  # bad input is the user's to fix: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
