"""Distillation from the fine-tuned EfficientNet-Lite0 teacher beats the same student trained without a teacher,
on real Fashion-MNIST images, same epochs, same seed. Both accuracies are printed (run with -s to see them)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tinyhil.ml.kd import CacheKey, Distiller, TeacherLogitsCache
from tinyhil.ml.teacher import describe_transform, finetune, load_teacher

FASHION = Path("/usr/share/datasets/fashion-mnist")
TEACHER_IMAGES, STUDENT_IMAGES, TEST_IMAGES = 4000, 500, 2000
STUDENT_EPOCHS, SEED = 20, 0

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                                 reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")]


def read_idx(path: Path) -> np.ndarray:
    """The idx format of the MNIST family: magic (2 zero bytes, dtype, ndim), big-endian dims, data."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="module")
def fashion() -> dict[str, torch.Tensor]:
    images = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:TEACHER_IMAGES]
    labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:TEACHER_IMAGES]
    test_images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")[:TEST_IMAGES]
    test_labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")[:TEST_IMAGES]
    as_x = lambda a: torch.from_numpy(a[:, None].astype(np.float32) / 255.0)  # noqa: E731
    as_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return {"x": as_x(images), "y": as_y(labels), "test_x": as_x(test_images), "test_y": as_y(test_labels)}


@pytest.fixture(scope="module")
def teacher_checkpoint(fashion, tmp_path_factory) -> Path:
    torch.manual_seed(SEED)
    result = finetune("efficientnet-lite0", fashion["x"], fashion["y"], fashion["test_x"], fashion["test_y"], 10,
                      tmp_path_factory.mktemp("teacher") / "teacher.pt", image_size=48, epochs=3, freeze_blocks=8,
                      seed=SEED, dataset="Fashion-MNIST (real images), first 4000 training images")
    print(f"\nteacher: EfficientNet-Lite0 (ImageNet) fine-tuned on {result.train_samples} images at {result.image_size}px "
          f"in {result.seconds:.0f} s: test accuracy {100 * result.test_accuracy:.2f} % on {TEST_IMAGES} test images")
    assert result.test_accuracy > 0.8
    return result.checkpoint


def student() -> nn.Module:
    def conv(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU6()]
    return nn.Sequential(*conv(1, 16), *conv(16, 32), *conv(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def train_student(x: torch.Tensor, y: torch.Tensor, distiller: Distiller | None) -> nn.Module:
    torch.manual_seed(SEED)
    model = student()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(STUDENT_EPOCHS):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, order.numel(), 32):
            batch = order[start:start + 32]
            logits = model(x[batch])
            loss = distiller.loss(logits, y[batch], batch) if distiller else F.cross_entropy(logits, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_distillation_from_the_finetuned_teacher_beats_no_teacher(fashion, teacher_checkpoint, tmp_path):
    x, y = fashion["x"][:STUDENT_IMAGES], fashion["y"][:STUDENT_IMAGES]
    teacher = load_teacher(teacher_checkpoint)
    key = CacheKey(teacher.teacher_id, "fashion-mnist", "train", STUDENT_IMAGES, describe_transform(teacher.model))
    cache = TeacherLogitsCache.build(tmp_path / "logits", key, teacher.model, x)
    without = accuracy(train_student(x, y, None), fashion["test_x"], fashion["test_y"])
    with_teacher = accuracy(train_student(x, y, Distiller(cache, temperature=4.0, alpha=0.5)), fashion["test_x"],
                            fashion["test_y"])
    print(f"student on {STUDENT_IMAGES} Fashion-MNIST images, {STUDENT_EPOCHS} epochs, seed {SEED}: "
          f"without teacher {100 * without:.2f} %, with teacher {100 * with_teacher:.2f} % "
          f"(gain {100 * (with_teacher - without):+.2f} points, {TEST_IMAGES} test images)")
    assert with_teacher > without
