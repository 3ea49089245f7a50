"""TensorFlow without its console noise. Importing TF and running TFLiteConverter print from C++ straight to the
process's stderr (oneDNN and absl banners, the calibrator's "fully_quantize: 0, ..." line) and from Keras to
stdout ("Saved artifact at ..."): none of it is for the user, and it tears through the search's live view.
Native stderr is captured to a temporary file while TF works; if the work fails, what it printed is returned
with the error so nothing needed for a diagnosis is lost."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_TAIL_CHARS = 4000


class NativeOutput:
    """What native code wrote to stderr inside `captured_native_stderr()`; `text` is set when the block ends."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self) -> str:
        return self.text[-_TAIL_CHARS:].strip()


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[NativeOutput]:
    """Redirect file descriptor 2 (C/C++ writers included) to a temporary file for the block. Stdout is left
    alone: the live view draws there, from its own thread."""
    output = NativeOutput()
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # pytest capture or an embedded interpreter: nothing to redirect
        yield output
        return
    sys.stderr.flush()
    saved = os.dup(stderr_fd)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), stderr_fd)
        try:
            yield output
        finally:
            sys.stderr.flush()
            os.dup2(saved, stderr_fd)
            os.close(saved)
            sink.seek(0)
            output.text = sink.read().decode("utf-8", "replace")


@functools.cache
def tensorflow() -> Any:
    """The `tensorflow` module, imported with its banners captured, and Keras's console messages routed to logging
    (off by default), also when something else imported TensorFlow first. Set up once; later calls are a lookup."""
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
    else:
        with captured_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.keras.utils.disable_interactive_logging()  # "Saved artifact at ..." goes to logging, not stdout
    return tf
