"""The distillation loss is the formula, and the on-disk teacher-logits cache is never reused when stale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from tinyhil.errors import TinyhilError
from tinyhil.ml.kd import CacheKey, Distiller, TeacherLogitsCache, kd_loss

STUDENT = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
TEACHER = torch.tensor([[3.0, 1.0, -2.0], [-1.0, 0.0, 2.0]])
LABELS = torch.tensor([0, 2])


def by_hand(temperature: float, alpha: float) -> float:
    """alpha * T^2 * KL(p_t || p_s) + (1 - alpha) * CE, written out with plain floats."""
    def softmax(row, t):
        exps = [math.exp(v / t) for v in row]
        return [e / sum(exps) for e in exps]
    kl, ce = 0.0, 0.0
    for s_row, t_row, label in zip(STUDENT.tolist(), TEACHER.tolist(), LABELS.tolist()):
        p_s, p_t = softmax(s_row, temperature), softmax(t_row, temperature)
        kl += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
        ce += -math.log(softmax(s_row, 1.0)[label])
    n = len(LABELS)
    return alpha * temperature**2 * kl / n + (1 - alpha) * ce / n


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (3.0, 1.0)])
def test_kd_loss_equals_the_formula_on_fixed_tensors(temperature, alpha):
    assert float(kd_loss(STUDENT, TEACHER, LABELS, temperature, alpha)) == pytest.approx(by_hand(temperature, alpha), rel=1e-6)


class FixedTeacher(nn.Module):
    """Logits = first pixels of the image: easy to predict, so cache contents can be checked."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3] * 10


def test_distiller_looks_up_cached_logits_by_sample_index(tmp_path):
    inputs = torch.rand(10, 1, 4, 4)
    key = CacheKey("fixed:1", "toy", "train", 10, "identity")
    cache = TeacherLogitsCache.build(tmp_path, key, FixedTeacher(), inputs, batch_size=3)
    indices = torch.tensor([7, 2])
    expected_teacher = FixedTeacher()(inputs[indices])
    assert torch.allclose(cache.lookup(indices), expected_teacher)
    distiller = Distiller(cache, temperature=2.0, alpha=0.7)
    student = torch.randn(2, 3)
    labels = torch.tensor([1, 0])
    assert float(distiller.loss(student, labels, indices)) == pytest.approx(
        float(kd_loss(student, expected_teacher, labels, 2.0, 0.7)), rel=1e-6)


def test_cache_is_reused_only_for_the_same_teacher_dataset_and_transform(tmp_path):
    inputs = torch.rand(6, 1, 4, 4)
    key = CacheKey("fixed:1", "toy", "train", 6, "identity")
    TeacherLogitsCache.build(tmp_path, key, FixedTeacher(), inputs)
    assert TeacherLogitsCache.open(tmp_path, key) is not None
    for stale in (CacheKey("fixed:2", "toy", "train", 6, "identity"), CacheKey("fixed:1", "toy", "train", 6, "resize 64"),
                  CacheKey("fixed:1", "other", "train", 6, "identity"), CacheKey("fixed:1", "toy", "train", 5, "identity")):
        assert TeacherLogitsCache.open(tmp_path, stale) is None
    assert np.load(tmp_path / "logits.npy").shape == (6, 3)


def test_out_of_range_index_and_class_mismatch_are_clear_errors(tmp_path):
    cache = TeacherLogitsCache.build(tmp_path, CacheKey("t", "d", "train", 4, "x"), FixedTeacher(), torch.rand(4, 1, 4, 4))
    with pytest.raises(TinyhilError, match="holds 4 samples"):
        cache.lookup(torch.tensor([4]))
    with pytest.raises(TinyhilError, match="fine-tune the teacher"):
        Distiller(cache).loss(torch.randn(1, 10), torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(TinyhilError, match="temperature"):
        Distiller(cache, temperature=0)
