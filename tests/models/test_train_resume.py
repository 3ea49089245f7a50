"""Training interrupted after an epoch continues from that epoch's checkpoint and ends with the weights an
uninterrupted run ends with; a checkpoint written for other inputs is never continued."""

from __future__ import annotations

import pytest
import torch

from tinyhil.ml import train as train_module
from tinyhil.ml.data import load_dataset
from tinyhil.spec.space import ArchSpec
from tinyhil.ml.train import TrainConfig, resumable_epoch, train

SPEC = {"resolution": 32, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "head_channels": 0,
        "stages": [{"block": "dws", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 1}]}
CONFIG = TrainConfig(epochs=3, batch_size=64, train_subset=256, test_subset=64, seed=3)


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)  # the same kernels in both runs, so equal means equal
    return load_dataset("digits")


def _interrupt_after_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    real = train_module.save_checkpoint

    def save_then_stop(path, model, spec, dataset, extra):
        real(path, model, spec, dataset, extra)
        if extra["epoch"] == epoch:
            raise Interrupted(f"stopped after epoch {epoch}")

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_stop)


def test_training_resumed_after_an_interruption_ends_with_the_uninterrupted_weights(digits, tmp_path, monkeypatch):
    spec = ArchSpec.from_dict(SPEC)
    whole = train(spec, digits, CONFIG, checkpoint_dir=tmp_path / "whole", resume_key="k")

    _interrupt_after_epoch(monkeypatch, 1)
    with pytest.raises(Interrupted):
        train(spec, digits, CONFIG, checkpoint_dir=tmp_path / "cut", resume_key="k")
    monkeypatch.undo()
    assert resumable_epoch(tmp_path / "cut", "k") == 1
    resumed = train(spec, digits, CONFIG, checkpoint_dir=tmp_path / "cut", resume_key="k")

    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history == whole.history
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_a_checkpoint_of_other_inputs_is_not_continued(digits, tmp_path, monkeypatch, caplog):
    spec = ArchSpec.from_dict(SPEC)
    _interrupt_after_epoch(monkeypatch, 1)
    with pytest.raises(Interrupted):
        train(spec, digits, CONFIG, checkpoint_dir=tmp_path, resume_key="old inputs")
    monkeypatch.undo()
    assert resumable_epoch(tmp_path, "new inputs") is None
    with caplog.at_level("INFO", logger="tinyhil.ml.train"):
        again = train(spec, digits, CONFIG, checkpoint_dir=tmp_path, resume_key="new inputs")
    assert "resuming" not in caplog.text and caplog.text.count("epoch ") == 3  # from the start, three epochs here
    assert [h["epoch"] for h in again.history] == [1, 2, 3]
    assert resumable_epoch(tmp_path, "new inputs") == 3
    assert resumable_epoch(tmp_path / "nowhere", "new inputs") is None
