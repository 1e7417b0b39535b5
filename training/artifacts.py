"""Writing a model directory: needlebot.keras, needlebot.tflite and card.json, all or nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from model.calibration import calibrate, fit_thresholds, target_histogram
from model.features import FEATURE_NAMES
from model.scorer import CARD_NAME, KERAS_NAME, N_SCORES, TFLITE_NAME, sha256_file

PACKAGES = ("numpy", "keras", "tensorflow-cpu", "ai-edge-litert", "scikit-learn", "librosa")


def versions() -> dict[str, str]:
    """Python and the training packages' versions.

    Returns
    -------
    dict[str, str]
        Name -> version; "absent" for a package not installed.
    """
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def base_card(kind: str, seed: int, inputs: list[Path]) -> dict:
    """The card fields every model has.

    Parameters
    ----------
    kind : str
        "bridge" or "direct".
    seed : int
        The build's seed.
    inputs : list[Path]
        The tables it read.

    Returns
    -------
    dict
        kind, creation time (UTC), seed, feature names, classes 0..10, sha256 of each input keyed by
        file name, and package versions.
    """
    return {
        "kind": kind,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "feature_names": list(FEATURE_NAMES),
        "classes": list(range(N_SCORES)),
        "data_sha256": {p.name: sha256_file(p) for p in inputs},
        "versions": versions(),
    }


def calibration_block(expected: np.ndarray, truth: np.ndarray, reference: str) -> dict:
    """The card's calibration: quantile thresholds mapping expected scores to Fantano's histogram.

    Parameters
    ----------
    expected : np.ndarray
        (n,) expected scores 0..10 of the reference songs or albums through the model.
    truth : np.ndarray
        (m,) Fantano's integer scores 0..10 whose histogram the calibrated scores should follow.
    reference : str
        What ``expected`` was computed on, for the card's reader.

    Returns
    -------
    dict
        ``method``, ``reference``, ``thresholds`` (9), ``target_histogram_1_to_10`` (10) and
        ``output_histogram_1_to_10`` (10, the calibrated scores of ``expected``).
    """
    target = target_histogram(truth)
    thresholds = fit_thresholds(expected, target)
    output = np.bincount(calibrate(expected, thresholds) - 1, minlength=10) / len(expected)
    return {
        "method": "quantile: score = 1 + #{k: expected >= thresholds[k]}",
        "reference": reference,
        "thresholds": thresholds.tolist(),
        "target_histogram_1_to_10": target.tolist(),
        "output_histogram_1_to_10": output.tolist(),
    }


def training_block(steps: int) -> dict:
    """The card's record of the network's hyperparameters (training.network) and the minibatches run.

    Parameters
    ----------
    steps : int
        Minibatches the network was trained for.

    Returns
    -------
    dict
        Keys ``hidden``, ``dropout``, ``l2``, ``batch_size`` and ``steps``.
    """
    from training import network

    return {"hidden": list(network.HIDDEN), "dropout": network.DROPOUT, "l2": network.L2,
            "batch_size": network.BATCH_SIZE, "steps": steps}


def tflite_outputs(path: Path, features: np.ndarray) -> list[np.ndarray]:
    """Run a flatbuffer row by row over features (n, 26); one (n, width) array per output, by tensor order.

    Parameters
    ----------
    path : Path
        The .tflite file.
    features : np.ndarray
        Model inputs, shape (n, k) with k the model's input width; cast to float32.

    Returns
    -------
    list[np.ndarray]
        One array of shape (n, width) per output tensor.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    outputs = interpreter.get_output_details()
    rows: list[list[np.ndarray]] = [[] for _ in outputs]
    for row in np.asarray(features, np.float32):
        interpreter.set_tensor(source, row[np.newaxis, :])
        interpreter.invoke()
        for i, detail in enumerate(outputs):
            rows[i].append(interpreter.get_tensor(detail["index"])[0].copy())
    return [np.stack(r) for r in rows]


def write_model(model: object, card: dict, out_dir: Path, check_features: np.ndarray) -> dict:
    """Save model + card into out_dir; return the card with hashes and the keras-vs-tflite difference.

    Everything is built in a temporary directory inside out_dir and moved into place only when the
    flatbuffer reproduces the Keras outputs on check_features, so a failed run leaves the old model
    untouched.

    Parameters
    ----------
    model : keras.Model
        The trained model.
    card : dict
        Its card so far.
    out_dir : Path
        The model directory; created if missing.
    check_features : np.ndarray
        Inputs, shape (n, k), on which both files must agree to 1e-4.

    Returns
    -------
    dict
        The card as written, with the files' sha256 and the largest keras-vs-tflite difference.

    Raises
    ------
    RuntimeError
        When the LiteRT export differs from the Keras model by more than 1e-4.
    """
    from training import network

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
        staging = Path(tmp)
        network.export(model, staging / KERAS_NAME, staging / TFLITE_NAME)
        expected = network.predict(model, check_features)
        expected = expected if isinstance(expected, list) else [expected]
        by_width = {int(a.shape[-1]): a for a in expected}
        got = {int(a.shape[-1]): a for a in tflite_outputs(staging / TFLITE_NAME, check_features)}
        diff = max(float(np.max(np.abs(by_width[w] - got[w]))) for w in by_width)
        if diff > 1e-4:
            raise RuntimeError(f"the LiteRT export differs from the Keras model by {diff:.2g}")
        card = {
            **card,
            "tflite_max_abs_diff": diff,
            "sha256": {name: sha256_file(staging / name) for name in (KERAS_NAME, TFLITE_NAME)},
        }
        (staging / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        for name in (KERAS_NAME, TFLITE_NAME, CARD_NAME):  # card last: it vouches for the other two
            os.replace(staging / name, out_dir / name)
    return card
