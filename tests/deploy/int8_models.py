"""A small real int8 .tflite for the deploy tests: a Keras CNN trained on the synthetic square task of
test_explain_saliency, converted with TFLite's int8 post-training quantisation."""

from __future__ import annotations

from tinyhil.ml.export import keras_to_int8_tflite

from .test_explain_saliency import synthetic


def synthetic_square_tflite() -> bytes:
    import tensorflow as tf

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
    return keras_to_int8_tflite(model, [x_nhwc[i:i + 1] for i in range(100)])
