"""The search loop with the real measurement stage: generated C, firmware and QEMU (tinyhil.hil.bench), fed by
small int8 Keras models standing in for proxy training + export (MODELS' part is tested on its own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyhil.ml.export import keras_to_int8_tflite
from tinyhil.search.evaluation import Job, PipelineStages, TrainedModel
from tinyhil.search.proposers import RandomProposer

from .search_doubles import build_toy_loop, toy_accuracy

pytest.importorskip("tinyhil.hil.bench", reason="tinyhil.hil.bench (the HIL part) is not in this tree yet")
pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def int8_tflite(width: int, kernel: int, out_path: Path) -> Path:
    """A conv -> global average -> dense net on 8x8x1 inputs, converted to int8 with a representative set."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(width * 10 + kernel)
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 1)),
                                 tf.keras.layers.Conv2D(width, kernel, padding="same", activation="relu"),
                                 tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    samples = [rng.random((1, 8, 8, 1), dtype=np.float32) for _ in range(16)]
    out_path.write_bytes(keras_to_int8_tflite(model, samples))
    return out_path


class KerasStandIn(PipelineStages):
    """Real `measure` (QEMU); train_export replaced by a converted Keras net shaped by the spec's first stage."""

    def train_export(self, job: Job) -> TrainedModel:
        first = job.spec["stages"][0]
        Path(job.workdir).mkdir(parents=True, exist_ok=True)
        tflite = int8_tflite(first["width"] // 4, first["kernel"], Path(job.workdir) / "model.tflite")
        accuracy = toy_accuracy(job.spec)
        return TrainedModel(str(tflite), str(tflite), accuracy, accuracy, {"train": 0.0, "export": 0.0})


class EightByEight:
    input_shape = (8, 8, 1)
    num_classes = 10
    provenance = "synthetic 8x8 (test double)"
    test_x = np.random.default_rng(1).random((4, 1, 8, 8), dtype=np.float32)  # NCHW, as torch tensors come


def test_candidates_are_measured_on_the_emulator_and_land_on_the_front(tmp_path: Path) -> None:
    stages = KerasStandIn(dataset="synthetic", board="qemu-m7", measure_inputs=2)
    stages._cache["dataset"] = EightByEight()
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=2, seed=2, stages=stages)
    outcome = loop.run()
    candidates = loop.store.candidates(("measured", "failed", "infeasible"))
    assert len(candidates) == 2
    measured = loop.store.candidates("measured")
    assert len(measured) == 2, [f"{c.stage}: {c.reason}" for c in candidates]
    for c in measured:
        m = c.metrics
        assert m["bit_exact"] is True and m["latency_unit"] == "instructions" and m["latency"] > 0
        assert m["peak_sram_bytes"] == m["static_ram_bytes"] + m["stack_high_water_bytes"] > 0
        assert m["flash_bytes"] > 0 and c.provenance["kind"] == "emulator" and c.provenance["board"] == "qemu-m7"
        assert {"measure", "measure.build", "measure.run"} <= set(c.timings)
    assert outcome.front
