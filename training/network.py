"""The Keras architectures (training only: importing this module imports Keras and its backend).

bridge: features -> Normalization -> MLP -> 10-way genre softmax ("genre")
        -> fixed Dense(11, no bias) holding P(score | genre) ("score"): a distribution over scores 0..10.
direct: features -> Normalization -> MLP -> 11-way score softmax ("score").

The Normalization layer is adapted on the training features, so the saved model takes raw features.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# Fixed before Keras loads: training runs in its own process, and serving never imports training.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from model.scorer import N_SCORES

HIDDEN = (128, 64)
DROPOUT = 0.3
L2 = 1e-3
BATCH_SIZE = 64
# Keras' per-step Python overhead dominates such a small network: running 100 steps per call and
# streaming one repeated dataset (instead of epochs) made a GTZAN fold 5x faster with the same accuracy.
STEPS_PER_EXECUTION = 100


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the backend, and make TensorFlow ops deterministic.

    Parameters
    ----------
    seed : int
        The seed for every random generator.
    """
    keras.utils.set_random_seed(seed)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def _trunk(features: np.ndarray) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    # The input width is the table's: the bridge takes 52 (means and variances), the direct model 26.
    inputs = keras.Input(shape=(np.shape(features)[1],), name="features")
    norm = keras.layers.Normalization(name="normalize")
    norm.adapt(np.asarray(features, dtype=np.float32))
    x = norm(inputs)
    for i, units in enumerate(HIDDEN):
        x = keras.layers.Dense(
            units, activation="relu", kernel_regularizer=keras.regularizers.l2(L2), name=f"hidden{i}"
        )(x)
        x = keras.layers.Dropout(DROPOUT, name=f"dropout{i}")(x)
    return inputs, x


def genre_classifier(features: np.ndarray, n_genres: int) -> keras.Model:
    """A compiled genre classifier: raw features -> Normalization -> MLP -> genre softmax.

    Parameters
    ----------
    features : np.ndarray
        Training features, shape (n, k); the Normalization layer adapts to them.
    n_genres : int
        Width of the softmax.

    Returns
    -------
    keras.Model
        One output, shape (n, n_genres): genre probabilities; trained on genre indices (n,).
    """
    inputs, x = _trunk(features)
    genre = keras.layers.Dense(n_genres, activation="softmax", name="genre")(x)
    model = keras.Model(inputs, genre, name="genre_classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def bridge_model(classifier: keras.Model, score_given_genre: np.ndarray) -> keras.Model:
    """Append the fixed P(score | genre) layer to a trained genre classifier.

    Because the genre output is a distribution and each row of ``score_given_genre`` sums to 1, the
    product is a distribution over scores.

    Parameters
    ----------
    classifier : keras.Model
        A trained genre classifier of this module, with a softmax genre output (n, n_genres).
    score_given_genre : np.ndarray
        Shape (n_genres, 11), each row a distribution over scores 0..10.

    Returns
    -------
    keras.Model
        Outputs [genres (n, n_genres), scores (n, 11)]; the score layer is not trainable.
    """
    table = np.asarray(score_given_genre, dtype=np.float32)
    score = keras.layers.Dense(N_SCORES, use_bias=False, trainable=False, name="score")
    score_out = score(classifier.output)
    score.set_weights([table])
    return keras.Model(classifier.input, [classifier.output, score_out], name="needlebot_bridge")


def direct_model(features: np.ndarray) -> keras.Model:
    """A compiled direct model: raw features -> Normalization -> MLP -> softmax over scores 0..10.

    Trained with soft labels (n, 11) and categorical cross-entropy, so a fractional label such as 7.5
    is half class 7, half class 8.

    Parameters
    ----------
    features : np.ndarray
        Training features, shape (n, k); the Normalization layer adapts to them.

    Returns
    -------
    keras.Model
        One output, shape (n, 11): probabilities of scores 0..10.
    """
    inputs, x = _trunk(features)
    score = keras.layers.Dense(N_SCORES, activation="softmax", name="score")(x)
    model = keras.Model(inputs, score, name="needlebot_direct")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="categorical_crossentropy",
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def train(model: keras.Model, features: np.ndarray, labels: np.ndarray, *, steps: int, seed: int) -> None:
    """Fit for ``steps`` reshuffled minibatches of BATCH_SIZE rows.

    Parameters
    ----------
    model : keras.Model
        A compiled model of this module.
    features : np.ndarray
        Shape (n, k).
    labels : np.ndarray
        Shape (n,) class indices or (n, c) soft targets, as the model's loss expects.
    steps : int
        Minibatches, rounded down to a multiple of STEPS_PER_EXECUTION (at least one multiple).
    seed : int
        The shuffling order.
    """
    import tensorflow as tf

    data = (
        tf.data.Dataset.from_tensor_slices((np.asarray(features, np.float32), np.asarray(labels)))
        .shuffle(len(features), seed=seed)
        .repeat()
        .batch(BATCH_SIZE)
    )
    steps = max(STEPS_PER_EXECUTION, steps - steps % STEPS_PER_EXECUTION)
    model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)


def restorer(model: keras.Model) -> Callable[[], None]:
    """A function that puts a compiled, untrained model back as it is now, to be trained again.

    Weights, the Normalization statistics, the dropout layers' seed states and the optimizer's slots all
    go back, so training it again gives what a model built afresh with the same seed would, to the bit;
    but Keras does not trace its training step again, which cost about 0.4 s per model against about
    0.2 s for 100 steps of training (the permutation refits of ``training fit``).

    Parameters
    ----------
    model : keras.Model
        A compiled model of this module, not trained yet.

    Returns
    -------
    Callable[[], None]
        Restores the model's and its optimizer's variables to their values at this call.
    """
    model.optimizer.build(model.trainable_variables)  # its slots exist from now on, so they are kept too
    variables = [*model.variables, *model.optimizer.variables]
    values = [v.numpy() for v in variables]

    def restore() -> None:
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)

    return restore


def predict(model: keras.Model, features: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """The model's outputs for features (n, k): one (n, width) array, or a list for two outputs.

    Parameters
    ----------
    model : keras.Model
        A model of this module.
    features : np.ndarray
        Shape (n, k), cast to float32.

    Returns
    -------
    np.ndarray or list[np.ndarray]
        Probabilities, shape (n, width) per output.
    """
    return model.predict(np.asarray(features, np.float32), batch_size=4096, verbose=0)


def export(model: keras.Model, keras_path: str | os.PathLike, tflite_path: str | os.PathLike) -> None:
    """Save the .keras source of truth and the LiteRT flatbuffer exported from it.

    Parameters
    ----------
    model : keras.Model
        The trained model.
    keras_path : str or os.PathLike
        Where the .keras file goes.
    tflite_path : str or os.PathLike
        Where the .tflite flatbuffer goes.
    """
    model.save(keras_path)
    model.export(str(tflite_path), format="litert", verbose=False)
