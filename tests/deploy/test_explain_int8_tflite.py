"""Occlusion through the real int8 reference interpreter (tflite-micro, host build) on a real int8 .tflite:
the int8 model's saliency sits on the discriminative square too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyhil.explain import Int8Model, attribute, deletion_insertion_auc

from .test_explain_saliency import REGION, pointing_hits, region_share, synthetic

tf = pytest.importorskip("tensorflow")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")


class TflmRunner:
    """The host tflite-micro interpreter behind the `invoke(int8 NHWC) -> int8` interface explain needs."""

    def __init__(self, blob: bytes):
        self.interpreter = runtime.Interpreter.from_bytes(blob, arena_size=256 * 1024)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(x, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)


@pytest.fixture(scope="module")
def int8_model() -> Int8Model:
    tf.keras.utils.set_random_seed(0)
    x, y = synthetic(1024, seed=0)
    x_nhwc = x.permute(0, 2, 3, 1).numpy()
    model = tf.keras.Sequential([
        tf.keras.Input((16, 16, 1)),
        tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(2)])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_nhwc, y.numpy(), epochs=6, batch_size=64, verbose=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x_nhwc[i:i + 1]] for i in range(100))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    blob = converter.convert()
    details = tf.lite.Interpreter(model_content=blob)
    (in_scale, in_zero), (out_scale, out_zero) = (details.get_input_details()[0]["quantization"],
                                                  details.get_output_details()[0]["quantization"])
    return Int8Model(TflmRunner(blob), in_scale, in_zero, out_scale, out_zero)


def test_int8_occlusion_through_the_reference_interpreter_finds_the_square(int8_model):
    x, y = synthetic(24, seed=1)
    accuracy = float((int8_model.forward(x).argmax(1) == y).float().mean())
    assert accuracy > 0.9, f"int8 model should solve the synthetic task, accuracy {accuracy:.2f}"
    maps = attribute(int8_model.forward, x, y, "occlusion_int8", background=0.5)
    share = region_share(maps)
    deletion, insertion = deletion_insertion_auc(int8_model.forward, x, maps, y, background=0.5, steps=8)
    print(f"int8 occlusion: {share:.1%} inside the square (uniform {25 / 256:.1%}), peak on it in "
          f"{pointing_hits(maps):.0%}; deletion AUC {deletion:.3f}, insertion AUC {insertion:.3f}")
    assert share > 2.5 * 25 / 256
    assert insertion > deletion
