"""Loading a LiteRT flatbuffer: the one place an ``Interpreter`` is built.

LiteRT's C++ runtime writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to file
descriptor 2 when it allocates tensors, past Python's ``sys.stderr`` and every logging setting (no
environment variable silences it). So the allocation runs with descriptor 2 pointed at a temporary file,
and whatever else was written there meanwhile (a warning, another thread's log line) is written back.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RUNTIME_CHATTER = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def load_interpreter(path: Path) -> Any:
    """A LiteRT ``Interpreter`` on ``path`` (one thread), with its tensors allocated.

    Parameters
    ----------
    path : Path
        The ``.tflite`` flatbuffer.

    Returns
    -------
    ai_edge_litert.interpreter.Interpreter

    Raises
    ------
    RuntimeError, ValueError
        LiteRT could not read or allocate the model.
    """
    # Imported here so that importing the model modules (e.g. for Rating) stays cheap.
    from ai_edge_litert.interpreter import Interpreter

    with _without_runtime_chatter():
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    return interpreter


@contextlib.contextmanager
def _without_runtime_chatter() -> Iterator[None]:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().splitlines(keepends=True)
            kept = [line for line in lines if line.rstrip() != RUNTIME_CHATTER]
            if kept:
                os.write(2, b"".join(kept))
