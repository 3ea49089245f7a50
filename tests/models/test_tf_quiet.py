"""TensorFlow's console noise stays off the user's terminal; a converter failure keeps what it printed.

Run in a fresh interpreter: the banners only appear on the first TensorFlow import of a process, and the
terminal (file descriptors 1 and 2) is what the user sees, so that is what is checked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

NOISE = ("oneDNN", "absl::InitializeLog", "fully_quantize", "Saved artifact", "TensorSpec", "Statistics for quantized")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_import_and_int8_conversion_print_nothing_but_our_own_output():
    done = _run("""
        import numpy as np
        from tinyhil.ml import tf_quiet
        from tinyhil.ml.export import keras_to_int8_tflite
        tf = tf_quiet.tensorflow()
        inputs = tf.keras.Input((8, 8, 1), batch_size=1)
        outputs = tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(tf.keras.layers.Conv2D(4, 3)(inputs)))
        blob = keras_to_int8_tflite(tf.keras.Model(inputs, outputs),
                                    [np.random.default_rng(i).random((1, 8, 8, 1), dtype=np.float32) for i in range(8)])
        print("converted", len(blob))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("converted ") and done.stdout.count("\\n") <= 1, done.stdout
    leaked = [word for word in NOISE if word in done.stdout + done.stderr]
    assert not leaked, f"TensorFlow noise reached the terminal: {leaked}\n{done.stderr[-2000:]}"


def test_native_stderr_is_captured_and_returned():
    done = _run("""
        import os
        from tinyhil.ml.tf_quiet import captured_native_stderr
        with captured_native_stderr() as native:
            os.write(2, b"written by C code\\n")
        print("captured:", native.tail())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "captured: written by C code"
    assert "written by C code" not in done.stderr


def test_a_converter_failure_carries_its_native_output():
    done = _run("""
        import os
        import numpy as np
        from tinyhil.ml import tf_quiet
        from tinyhil.ml.export import keras_to_int8_tflite

        class FailingConverter:
            target_spec = type("TargetSpec", (), {})()

            def convert(self):
                os.write(2, b"error: 'tfl.custom_op' op is neither a custom op nor a flex op\\n")
                raise RuntimeError("ConverterError")

        tf = tf_quiet.tensorflow()
        from tinyhil.ml import export
        export._frozen_graph_converter = lambda tf, model, sample_shape: FailingConverter()  # the default path
        try:
            keras_to_int8_tflite(object(), [np.ones((1, 4, 4, 1), np.float32)])
        except RuntimeError as exc:
            print("raised", exc, "|", " ".join(getattr(exc, "__notes__", [])))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("raised ConverterError |"), done.stdout
    assert "neither a custom op nor a flex op" in done.stdout  # kept for the error message...
    assert "neither a custom op" not in done.stderr  # ...and not dumped on the terminal


def test_conversion_is_quiet_when_tensorflow_was_imported_first_by_someone_else():
    done = _run("""
        import numpy as np
        import tensorflow as tf  # a user's script or a test helper got there first
        print("---")
        from tinyhil.ml.export import keras_to_int8_tflite
        inputs = tf.keras.Input((4, 4, 1), batch_size=1)
        model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(tf.keras.layers.Flatten()(inputs)))
        keras_to_int8_tflite(model, [np.ones((1, 4, 4, 1), np.float32)])
        print("converted")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("---", 1)[1].strip() == "converted", done.stdout[-2000:]
    assert "fully_quantize" not in done.stderr
