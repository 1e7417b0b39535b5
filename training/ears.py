"""The pretrained ears: musicnn's taggers (Pons & Serra, ISC) ported from their TF1 checkpoints to LiteRT.

The ``musicnn`` 0.1.0 wheel on PyPI carries TF1 checkpoints of its networks; its code pins numpy<1.17 and
builds TF1 graphs, so it is read as a zip and never imported. Each network is rebuilt as a Keras 3
functional model from built-in layers, its variables are read by name from the checkpoint, and it is
exported to a float32 flatbuffer in ``model/`` with a card (``model/musicnn.json``) and the wheel's ISC
notice (``model/musicnn-LICENSE.md``), which must travel with the weights.

The network (``musicnn.models.build_musicnn``), for a (187, 96) log-mel patch:

- front end: batch norm, then five convolutions over the whole patch, each ReLU, batch norm and a max
  over frequency: two timbral ones (7 x 38 and 7 x 67, 204 filters, time padded by 3 each side) and
  three temporal ones (128 x 1, 64 x 1, 32 x 1, 51 filters, "same" padding); concatenated to (187, 561).
- mid end: three Conv1D (7 taps, 64 filters, time padded by 3, ReLU, batch norm), the second and third
  with residual connections; the front end and the three outputs concatenated to (187, 753).
- back end: max and mean over time, interleaved ([max0, mean0, max1, ...]: the TF1 code concatenated
  (753, 1) tensors on their last axis before flattening), batch norm, a 200-unit ReLU layer, batch norm,
  and 50 sigmoid tags.

TF1's batch norm used epsilon 1e-3 (Keras' default too); the mid-end kernels (7, W, 1, 64) are Conv2D
kernels spanning the whole width W, i.e. Conv1D kernels (7, W, 64).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from model import MODEL_DIR
from model.scorer import sha256_file
from model.tagger import (
    CARD_NAME,
    FRONT_END,
    LICENSE_NAME,
    N_FRAMES,
    N_MELS,
    tflite_name,
)

log = logging.getLogger(__name__)

WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_VERSION = "0.1.0"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # PyPI's, 29 MB
# name in the wheel -> (label list in musicnn/configuration.py, what the card says it was trained on)
NETWORKS = {
    "MSD_musicnn": ("MSD_LABELS", "Million Song Dataset, last.fm top-50 tags"),
    "MTT_musicnn": ("MTT_LABELS", "MagnaTagATune, top-50 tags"),
}
_WHEEL_LICENSE = "musicnn-0.1.0.dist-info/LICENSE.md"
_BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default


class WheelError(Exception):
    """The musicnn wheel is missing or is not the one this port reads; the message says how to get it."""


def find_wheel(source: Path) -> Path:
    """The musicnn 0.1.0 wheel: ``source`` itself, or found under it (a download or pip cache directory).

    Parameters
    ----------
    source : Path
        The wheel file, or a directory searched recursively for it (pip's cache keeps wheels under
        ``wheels/``; ``pip download --no-deps musicnn==0.1.0 -d DIR`` puts it in DIR).

    Returns
    -------
    Path

    Raises
    ------
    WheelError
        When no such wheel is there, or its sha256 is not PyPI's.
    """
    found = [source] if source.is_file() else sorted(source.rglob(WHEEL_NAME)) if source.is_dir() else []
    if not found:
        raise WheelError(f"no {WHEEL_NAME} in {source}: get it with "
                         f"`pip download --no-deps musicnn=={WHEEL_VERSION} -d {source}`")
    if (digest := sha256_file(found[0])) != WHEEL_SHA256:
        raise WheelError(f"{found[0]} is not PyPI's musicnn {WHEEL_VERSION} wheel (sha256 {digest[:16]}...)")
    return found[0]


def labels(wheel: Path, network: str) -> list[str]:
    """The network's tag names, read from the wheel's ``musicnn/configuration.py`` without importing it.

    Parameters
    ----------
    wheel : Path
        The musicnn wheel.
    network : str
        A key of NETWORKS.

    Returns
    -------
    list[str]
        50 tag names in output order.
    """
    with zipfile.ZipFile(wheel) as z:
        tree = ast.parse(z.read("musicnn/configuration.py"))
    wanted = NETWORKS[network][0]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == wanted for t in node.targets):
            return [str(tag) for tag in ast.literal_eval(node.value)]
    raise WheelError(f"{wheel} has no {wanted} in musicnn/configuration.py")


def extract_checkpoint(wheel: Path, network: str, into: Path) -> Path:
    """Unpack one network's checkpoint files from the wheel.

    Returns
    -------
    Path
        The checkpoint prefix, ``into/musicnn/<network>/`` with its trailing slash: the files are named
        ``.index``, ``.data-00000-of-00001`` and ``.meta``, and the ``checkpoint`` file holds its author's
        absolute path, so readers get the prefix, never the directory.
    """
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.namelist() if m.startswith(f"musicnn/{network}/")]
        if not members:
            raise WheelError(f"{wheel} holds no {network} checkpoint")
        z.extractall(into, members)
    return Path(f"{into / 'musicnn' / network}{os.sep}")


def read_variables(prefix: Path) -> dict[str, np.ndarray]:
    """Every trained variable of a checkpoint (the Adam slots left out), by name, as float32 arrays."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(prefix) + os.sep)
    return {name: reader.get_tensor(name).astype(np.float32)
            for name in reader.get_variable_to_shape_map()
            if "Adam" not in name and not name.endswith("_power")}  # fmt: skip


def build(variables: dict[str, np.ndarray], n_tags: int) -> object:
    """The musicnn network as a Keras functional model holding the checkpoint's weights.

    Parameters
    ----------
    variables : dict[str, np.ndarray]
        The checkpoint's variables by TF1 name (see read_variables).
    n_tags : int
        Outputs (50).

    Returns
    -------
    keras.Model
        Input (batch, 187, 96) log-mel patches, output (batch, n_tags) sigmoid tag probabilities.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    from keras import layers

    weighted: list[tuple[keras.layers.Layer, list[np.ndarray]]] = []

    def norm(name: str) -> keras.layers.Layer:
        layer = layers.BatchNormalization(epsilon=_BN_EPSILON, name=name)
        weighted.append((layer, [variables[f"{name}/{v}"]
                                 for v in ("gamma", "beta", "moving_mean", "moving_variance")]))
        return layer

    def conv(kind: type, name: str, **options: object) -> keras.layers.Layer:
        kernel = variables[f"{name}/kernel"]
        if kind is layers.Conv1D:  # (7, W, 1, 64) spans the whole width: a Conv1D kernel (7, W, 64)
            kernel = kernel[:, :, 0, :]
        layer = kind(kernel.shape[-1], kernel.shape[:-2], activation="relu", name=name, **options)
        weighted.append((layer, [kernel, variables[f"{name}/bias"]]))
        return layer

    patch = keras.Input((N_FRAMES, N_MELS), name="log_mel")
    x = norm("batch_normalization")(layers.Reshape((N_FRAMES, N_MELS, 1))(patch))
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    front = []
    # (checkpoint conv, batch norm, input, padding): f74, f77 (timbral), then the three temporal ones
    blocks = [(0, 1, padded, "valid"), (1, 2, padded, "valid"),
              (2, 3, x, "same"), (3, 4, x, "same"), (4, 5, x, "same")]  # fmt: skip
    for i, (c, b, source, padding) in enumerate(blocks):
        y = conv(layers.Conv2D, _suffixed("conv2d", c), padding=padding)(source)
        y = norm(_suffixed("batch_normalization", b))(y)
        y = layers.MaxPooling2D((1, int(y.shape[2])), name=f"frequency_max_{i}")(y)
        front.append(layers.Reshape((N_FRAMES, int(y.shape[-1])))(y))
    front_end = layers.Concatenate(axis=-1, name="front_end")(front)  # (187, 561)
    mid = [front_end]
    y = front_end
    for i in range(3):
        y_new = conv(layers.Conv1D, f"conv2d_{5 + i}")(layers.ZeroPadding1D(3)(y))
        y_new = norm(f"batch_normalization_{6 + i}")(y_new)
        y = y_new if i == 0 else layers.Add()([y_new, y])
        mid.append(y)
    features = layers.Concatenate(axis=-1, name="mid_end")(mid)  # (187, 753)
    width = int(features.shape[-1])
    pools = [layers.Reshape((width, 1))(pool()(features))
             for pool in (layers.GlobalMaxPooling1D, layers.GlobalAveragePooling1D)]
    pooled = layers.Flatten()(layers.Concatenate(axis=-1)(pools))  # [max0, mean0, max1, mean1, ...]
    pooled = norm("batch_normalization_9")(pooled)
    dense = layers.Dense(variables["dense/bias"].size, activation="relu", name="dense")
    hidden = norm("batch_normalization_10")(dense(pooled))
    out = layers.Dense(n_tags, activation="sigmoid", name="dense_1")
    tags = out(hidden)
    weighted += [(dense, [variables["dense/kernel"], variables["dense/bias"]]),
                 (out, [variables["dense_1/kernel"], variables["dense_1/bias"]])]  # fmt: skip
    model = keras.Model(patch, tags, name="musicnn")
    for layer, weights in weighted:
        layer.set_weights(weights)
    return model


def _suffixed(name: str, i: int) -> str:
    """TF1's layer naming: the first is ``name``, the next ``name_1``, ..."""
    return name if i == 0 else f"{name}_{i}"


def original_tags(prefix: Path, patches: np.ndarray) -> np.ndarray:
    """The original TF1 graph's tag probabilities, for parity checks (needs TensorFlow).

    The ``.meta`` is TF 1.12's training graph: TF 2 rejects its stale ``_output_shapes`` attributes, so
    they are stripped before the import; inference feeds ``model/Placeholder`` the patches and
    ``model/Placeholder_2`` (is_training) False.

    Parameters
    ----------
    prefix : Path
        The checkpoint prefix (see extract_checkpoint).
    patches : np.ndarray
        (n, 187, 96) float32 log-mel patches.

    Returns
    -------
    np.ndarray
        (n, 50) float32 sigmoid outputs.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(Path(f"{prefix}{os.sep}.meta").read_bytes())
    for node in meta.graph_def.node:
        node.attr.pop("_output_shapes", None)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        saver = tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
        saver.restore(session, str(prefix) + os.sep)
        return session.run("model/Sigmoid:0", {"model/Placeholder:0": patches.astype(np.float32),
                                               "model/Placeholder_2:0": False})


def export_tflite(model: object, path: Path) -> None:
    """Export ``model`` to a float32 LiteRT flatbuffer at ``path``."""
    model.export(str(path), format="litert", verbose=False)


def tflite_tags(path: Path, patches: np.ndarray) -> np.ndarray:
    """The flatbuffer's outputs on (n, 187, 96) patches, one patch per invoke: (n, 50) float32."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    out = []
    for patch in np.asarray(patches, np.float32):
        interpreter.set_tensor(source, patch[np.newaxis])
        interpreter.invoke()
        out.append(interpreter.get_tensor(target)[0].copy())
    return np.stack(out)


def run_ears(wheel_source: Path, out_dir: Path = MODEL_DIR, *, check: np.ndarray | None = None) -> dict:
    """Port every network of NETWORKS from the wheel to ``out_dir``: flatbuffers, licence and card.

    The flatbuffers are built in a temporary directory and moved into place only when each reproduces
    the original TF1 graph (and the Keras port) to 1e-4 on ``check``; the card goes last.

    Parameters
    ----------
    wheel_source : Path
        The musicnn 0.1.0 wheel, or a directory holding it (see find_wheel).
    out_dir : Path
        The model directory.
    check : np.ndarray, optional
        (n, 187, 96) log-mel patches the exports are checked on; default: 4 patches of seeded noise
        around the range of real log-mel values (0..4).

    Returns
    -------
    dict
        The card as written.

    Raises
    ------
    WheelError
        When the wheel cannot be found or read.
    RuntimeError
        When an export differs from the original graph by more than 1e-4.
    """
    wheel = find_wheel(wheel_source)
    if check is None:
        check = np.random.default_rng(0).uniform(0.0, 4.0, (4, N_FRAMES, N_MELS)).astype(np.float32)
    card: dict = {
        "source": {"package": f"musicnn=={WHEEL_VERSION}", "wheel": WHEEL_NAME,
                   "wheel_sha256": sha256_file(wheel), "licence": "ISC", "licence_file": LICENSE_NAME,
                   "authors": "Jordi Pons, Xavier Serra (Music Technology Group, Universitat Pompeu Fabra)"},
        "front_end": FRONT_END,
        "networks": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="needlebot-ears-") as scratch, \
            tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as staging:
        names = []
        for network, (_, trained_on) in NETWORKS.items():
            prefix = extract_checkpoint(wheel, network, Path(scratch))
            tags = labels(wheel, network)
            model = build(read_variables(prefix), len(tags))
            name = tflite_name(network)
            export_tflite(model, Path(staging) / name)
            original = original_tags(prefix, check)
            ported = np.asarray(model(check, training=False))
            served = tflite_tags(Path(staging) / name, check)
            keras_diff = float(np.max(np.abs(ported - original)))
            tflite_diff = float(np.max(np.abs(served - original)))
            log.info("%s: keras vs TF1 graph %.2g, LiteRT vs TF1 graph %.2g", network, keras_diff,
                     tflite_diff)
            if tflite_diff > 1e-4 or keras_diff > 1e-4:
                raise RuntimeError(f"the {network} port differs from its TF1 graph by "
                                   f"{max(keras_diff, tflite_diff):.2g}")
            card["networks"][network] = {
                "file": name, "trained_on": trained_on, "tags": tags,
                "parameters": int(model.count_params()),
                "max_abs_diff_vs_tf1_graph": {"keras": keras_diff, "tflite": tflite_diff,
                                              "checked_on": f"{len(check)} seeded noise patches"},
                "sha256": sha256_file(Path(staging) / name),
            }
            names.append(name)
        with zipfile.ZipFile(wheel) as z:
            (Path(staging) / LICENSE_NAME).write_bytes(z.read(_WHEEL_LICENSE))
        card_text = json.dumps(card, indent=2) + "\n"
        (Path(staging) / CARD_NAME).write_text(card_text, encoding="utf-8")
        for name in [*names, LICENSE_NAME, CARD_NAME]:  # card last: it vouches for the others
            os.replace(Path(staging) / name, out_dir / name)
    return card
