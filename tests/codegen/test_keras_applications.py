"""Public architectures nobody on the project wrote: keras.applications, built with weights=None (nothing to
download) at their smallest input (32 px; MobileNets at their smallest width too), given random BatchNorm
statistics and exported to full int8 (int8 input and output, 8 normal samples as the representative dataset). Each
is bit-exact with the tflite-micro interpreter on the host in both kernel builds, or refused with one line that
names the op and what to do (ConvNeXt: GELU, which tflite-micro has no kernel for either). Two run on QEMU too.

RegNetX002 / RegNetY002 left keras.applications with Keras 3; `regnet` rebuilds them as tf-keras 2.x defined them
(Rescaling, a 32-channel stride-2 stem, four stages of X / Y blocks: 1x1, grouped 3x3 of group width 8, Y's
squeeze-excitation, 1x1, residual; global pool and a softmax Dense)."""

from __future__ import annotations


import numpy as np
import pytest

from .keras_nets import export_model_int8

RESOLUTION = 32  # the smallest input keras.applications takes for every architecture here
_REGNETS = {"X002": ([1, 1, 4, 7], [24, 56, 152, 368]), "Y002": ([1, 1, 4, 7], [24, 56, 152, 368])}


def regnet(variant: str, resolution: int = RESOLUTION, classes: int = 10):
    """keras.applications.RegNetX002 / RegNetY002 of tf-keras 2.x (group width 8), in Keras 3 layers."""
    from tensorflow import keras
    L = keras.layers
    depths, widths = _REGNETS[variant]

    def bn(x):
        return L.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)

    def block(x, filters_in: int, filters_out: int, stride: int):
        skip = bn(L.Conv2D(filters_out, 1, strides=stride, use_bias=False)(x)) if stride != 1 else x
        h = L.ReLU()(bn(L.Conv2D(filters_out, 1, use_bias=False)(x)))
        h = L.ReLU()(bn(L.Conv2D(filters_out, 3, strides=stride, groups=filters_out // 8, padding="same",
                                 use_bias=False)(h)))
        if variant.startswith("Y"):  # squeeze-excitation to a quarter of the block's input channels
            s = L.GlobalAveragePooling2D(keepdims=True)(h)
            s = L.Conv2D(filters_out, 1, activation="sigmoid")(L.Conv2D(int(filters_in * 0.25), 1, activation="relu")(s))
            h = L.Multiply()([s, h])
        return L.ReLU()(L.Add()([bn(L.Conv2D(filters_out, 1, use_bias=False)(h)), skip]))

    inputs = keras.Input((resolution, resolution, 3))
    x = L.Rescaling(1.0 / 255.0)(inputs)
    x = L.ReLU()(bn(L.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(x)))
    filters_in = 32
    for depth, width in zip(depths, widths):
        for b in range(depth):
            x = block(x, filters_in if b == 0 else width, width, 2 if b == 0 else 1)
        filters_in = width
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(L.GlobalAveragePooling2D()(x)))


def _application(name: str, **kwargs):
    def build():
        from tensorflow import keras
        return getattr(keras.applications, name)(input_shape=(RESOLUTION, RESOLUTION, 3), weights=None, classes=10,
                                                 **kwargs)
    return build


# architecture -> (builder, the operators the converter writes for it, at least)
ARCHITECTURES = {
    "MobileNet 0.25": (_application("MobileNet", alpha=0.25), {"CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"}),
    "MobileNetV2 0.35": (_application("MobileNetV2", alpha=0.35), {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD",
                                                                   "FULLY_CONNECTED"}),
    "MobileNetV3Small 0.75": (_application("MobileNetV3Small", alpha=0.75), {"HARD_SWISH", "MUL", "MEAN", "ADD"}),
    "MobileNetV3Small 0.75 minimalistic": (_application("MobileNetV3Small", alpha=0.75, minimalistic=True),
                                           {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"}),
    "MobileNetV3Large 0.75": (_application("MobileNetV3Large", alpha=0.75), {"HARD_SWISH", "MUL", "MEAN"}),
    "EfficientNetB0": (_application("EfficientNetB0"), {"LOGISTIC", "MUL", "MEAN", "DEPTHWISE_CONV_2D"}),
    "EfficientNetV2B0": (_application("EfficientNetV2B0"), {"LOGISTIC", "MUL", "SUB", "DEPTHWISE_CONV_2D"}),
    "NASNetMobile": (_application("NASNetMobile"), {"CONCATENATION", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD",
                                                    "STRIDED_SLICE", "RELU"}),
    "DenseNet121": (_application("DenseNet121"), {"CONCATENATION", "AVERAGE_POOL_2D", "MUL", "ADD"}),
    "ResNet50": (_application("ResNet50"), {"CONV_2D", "PAD", "MAX_POOL_2D", "ADD"}),
    "RegNetX002": (lambda: regnet("X002"), {"CONV_2D", "ADD", "MEAN"}),  # grouped CONV_2D: filter depth 8
    "RegNetY002": (lambda: regnet("Y002"), {"CONV_2D", "LOGISTIC", "MUL", "MEAN"}),
}


def _export(name: str) -> bytes:
    import tensorflow as tf

    tf.random.set_seed(0)
    return export_model_int8(ARCHITECTURES[name][0](), seed=0)


def _opcodes(blob: bytes) -> set[str]:
    import tflite

    from tinyhil.codegen.reader import _opcode_name

    model = tflite.Model.GetRootAsModel(blob, 0)
    subgraph = model.Subgraphs(0)
    return {_opcode_name(model, subgraph.Operators(i)) for i in range(subgraph.OperatorsLength())}


# ResNet50 has no width option: at any input its 23.6 M int8 weights are 23.6 MB of flash, which the generated C
# writes as string literals (gcc parsed them as number lists for ~50 s, as literals in ~20 s for the whole test)
@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_keras_application_is_bit_exact_with_tflm_in_both_kernel_builds(check_bit_exact, name: str) -> None:
    blob = _export(name)
    assert ARCHITECTURES[name][1] <= _opcodes(blob)  # the architecture's ops, as the converter wrote them
    assert check_bit_exact(blob, n_random=3, seed=1) == 5


@pytest.mark.slow
def test_convnext_is_refused_with_one_line_naming_gelu_which_tflm_lacks_too(tmp_path) -> None:
    """ConvNeXt's MLP is Dense -> GELU -> Dense; the converter writes one GELU op, which neither tinyhil nor the
    tflite-micro interpreter has an int8 kernel for (its LayerNormalization runs: DEQUANTIZE / NEG / QUANTIZE,
    SQUARED_DIFFERENCE, RSQRT)."""
    import tensorflow as tf
    from tensorflow import keras

    from tinyhil.codegen import generate
    from tinyhil.codegen.reference import ReferenceInterpreter
    from tinyhil.errors import ModelError, UnsupportedOpError

    tf.random.set_seed(0)
    blob = export_model_int8(keras.applications.ConvNeXtTiny(input_shape=(RESOLUTION, RESOLUTION, 3), weights=None,
                                                            classes=10))
    assert {"GELU", "SQUARED_DIFFERENCE", "RSQRT"} <= _opcodes(blob)
    with pytest.raises(UnsupportedOpError) as error:
        generate(blob, tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("operator 29 is GELU, which the tinyhil int8 runtime does not implement (nor does the "
                              "tflite-micro interpreter, so there is no int8 GELU to be bit-exact with: build the model "
                              "with another activation, e.g. Keras 'swish' or 'relu' in place of 'gelu', and "
                              "re-export); supported ops: ")
    with pytest.raises(ModelError, match=r"^the TFLM reference interpreter cannot load the model: .*\(it has no kernel "
                                         r"for GELU: TFLM cannot run this model, so there is nothing to check it "
                                         r"against; build the model without GELU and re-export\)$"):
        ReferenceInterpreter(blob)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("name", ["MobileNetV3Small 0.75 minimalistic", "MobileNetV3Small 0.75"])
def test_keras_application_is_bit_exact_on_the_cortex_m7_emulator(tmp_path, name: str) -> None:
    """On QEMU mps2-an500 (4 MiB of flash: EfficientNetB0's 4.8 MB of int8 weights do not fit)."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    blob = _export(name)
    inputs = np.random.default_rng(7).integers(-128, 128, size=(3, 1, RESOLUTION, RESOLUTION, 3), dtype=np.int8)
    inputs[0] = -128
    measurement = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=tmp_path)
    assert measurement.bit_exact
    assert measurement.latency_unit == "instructions" and measurement.latency_median > 0
