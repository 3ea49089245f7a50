"""`tinyhil deploy --kd-preset paper`: the LLM-NAS paper's distillation setting (its kd_phase.py: T = 10, alpha
0.4 -> 0.8 by its recursive update, 50 epochs), its alpha on the cross-entropy term turned into tinyhil's soft
weight, applied epoch by epoch during training."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tinyhil.errors import TinyhilError
from tinyhil.ml.kd import Distiller, paper_alpha_schedule, resolve_kd


def test_the_paper_schedule_is_its_recursive_update_as_soft_weights():
    weights = paper_alpha_schedule(50)
    # theirs, by hand: a0 = 0.4; a1 = 0.4 + 0.4 * 1/50 = 0.408; a2 = 0.408 + 0.392 * 2/50 = 0.42368; ours is 1 - a
    assert weights[:3] == pytest.approx([0.6, 0.592, 0.57632])
    assert len(weights) == 50 and all(a >= b for a, b in zip(weights, weights[1:]))
    assert weights[-1] == pytest.approx(0.2, abs=1e-6)  # their alpha reaches 0.8 at the last epoch
    with pytest.raises(TinyhilError):
        paper_alpha_schedule(0)


def test_presets_resolve_beside_tinyhils_defaults():
    assert resolve_kd("tinyhil", None, None, None) == (4.0, 0.5, None)
    assert resolve_kd("tinyhil", 2.0, 0.7, 3) == (2.0, 0.7, 3)
    assert resolve_kd("paper", None, None, None) == (10.0, pytest.approx(0.6), 50)
    assert resolve_kd("paper", None, None, 5)[2] == 5
    with pytest.raises(TinyhilError, match="sets T = 10"):
        resolve_kd("paper", 4.0, None, None)


class _Cache:
    def __init__(self, logits: torch.Tensor):
        self.logits = logits
        self.key = type("Key", (), {"to_dict": lambda self: {"teacher": "none (test)"}})()

    def lookup(self, indices):
        return self.logits[torch.as_tensor(indices)]


def test_training_takes_each_epochs_weight_from_the_schedule(tmp_path):
    from tinyhil.ml.data import load_digits
    from tinyhil.ml.train import TrainConfig, train

    data = load_digits().subset(train=64, test=32)
    schedule = paper_alpha_schedule(3)
    seen: list[float] = []

    class Spy(Distiller):
        def loss(self, student_logits, labels, indices):
            seen.append(self.alpha)
            return F.cross_entropy(student_logits, labels)

    spy = Spy(_Cache(torch.zeros(64, 10)), temperature=10.0, alpha=0.5, alpha_schedule=schedule)
    spec = {"resolution": 32, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "head_channels": 0,
            "stages": [{"block": "dws", "depth": 1, "out_channels": 8, "stride": 2, "kernel": 3}]}
    config = dataclasses.replace(TrainConfig.proxy(), epochs=3, batch_size=32, device="cpu", progress=False)
    train(spec, data, config, distiller=spy, checkpoint_dir=tmp_path)
    assert sorted(set(seen), reverse=True) == pytest.approx(schedule) and len(seen) == 6
    assert spy.describe()["alpha_schedule"] == pytest.approx(schedule)
