"""Occlusion through the real int8 reference interpreter (tinyhil.codegen.reference: tflite-micro, host build) on a real
int8 .tflite: the int8 model's saliency sits on the discriminative square too."""

from __future__ import annotations

import pytest

from tinyhil.explain.saliency import Int8Model, attribute, deletion_insertion_auc

from .test_explain_saliency import pointing_hits, region_share, synthetic


@pytest.fixture(scope="module")
def int8_model(square_tflite) -> Int8Model:
    from tinyhil.codegen.reference import ReferenceInterpreter

    reference = ReferenceInterpreter(square_tflite)
    (in_scale, in_zero), (out_scale, out_zero) = reference.input_quant, reference.output_quant
    return Int8Model(reference, in_scale, in_zero, out_scale, out_zero)


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
