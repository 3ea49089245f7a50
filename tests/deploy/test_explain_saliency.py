"""Saliency on a synthetic task whose only evidence sits in a known square must concentrate there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tinyhil.explain.saliency import Int8Model, attribute, deletion_insertion_auc, explain, map_correlation

SIDE, REGION = 16, (slice(2, 7), slice(9, 14))  # rows 2..6, cols 9..13: 25 of 256 pixels


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 has a bright square in REGION, class 0 a dark one; everything else is the same noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, 1, SIDE, SIDE)).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    x[:, 0, REGION[0], REGION[1]] = np.where(y[:, None, None] == 1, 0.95, 0.05)
    return torch.from_numpy(x), torch.from_numpy(y).long()


def tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))


def fit_tiny_cnn(x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int = 64) -> nn.Module:
    """A seeded tiny_cnn trained with Adam on (x, y), in eval mode."""
    torch.manual_seed(0)
    model = tiny_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            loss = F.cross_entropy(model(x[start:start + batch]), y[start:start + batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    x, y = synthetic(1024, seed=0)
    model = fit_tiny_cnn(x, y, epochs=6)
    x_test, y_test = synthetic(64, seed=1)
    accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    assert accuracy > 0.95, f"the synthetic task should be learnt, test accuracy {accuracy:.3f}"
    return model, x_test, y_test


class QuantisedTorchRunner:
    """Test double for the int8 reference interpreter: quantised input in, int8 logits out, via the float net."""

    def __init__(self, model: nn.Module, in_scale: float, out_scale: float):
        self.model, self.in_scale, self.out_scale = model, in_scale, out_scale

    def invoke(self, x: np.ndarray) -> np.ndarray:
        real = torch.from_numpy((x.astype(np.float32) + 128) * self.in_scale).permute(0, 3, 1, 2)
        with torch.no_grad():
            logits = self.model(real).numpy()
        return np.clip(np.round(logits / self.out_scale), -128, 127).astype(np.int8)


def region_share(maps: torch.Tensor) -> float:
    inside = maps[:, REGION[0], REGION[1]].sum()
    return float(inside / maps.sum().clamp(min=1e-12))


def pointing_hits(maps: torch.Tensor) -> float:
    """Share of maps whose maximum lies in the square grown by one pixel (Grad-CAM's grid is 2x coarser)."""
    rows, cols = np.unravel_index(maps.reshape(maps.shape[0], -1).argmax(1).numpy(), maps.shape[1:])
    inside = (rows >= REGION[0].start - 1) & (rows < REGION[0].stop + 1) & (cols >= REGION[1].start - 1) & (cols < REGION[1].stop + 1)
    return float(inside.mean())


@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients", "occlusion"])
def test_saliency_concentrates_on_the_discriminative_square(trained, method):
    model, x, y = trained
    maps = attribute(model, x, y, method, background=0.5)
    share, hits = region_share(maps), pointing_hits(maps)
    uniform = 25 / 256
    print(f"{method}: {share:.1%} of the saliency inside the square (uniform would be {uniform:.1%}); "
          f"maximum on the square in {hits:.0%} of {len(maps)} images")
    assert share > 2.5 * uniform
    if method == "gradcam":  # coarse but well placed: its peak must sit on the square
        assert hits >= 0.9


def test_int8_occlusion_agrees_with_float_and_faithfulness_ranks_salient_pixels_first(trained, tmp_path):
    model, x, y = trained
    int8 = Int8Model(QuantisedTorchRunner(model, 1 / 255, 0.1), 1 / 255, -128, 0.1, 0)
    float_maps = attribute(model, x[:16], y[:16], "occlusion", background=0.5)
    int8_maps = attribute(int8.forward, x[:16], y[:16], "occlusion_int8", background=0.5)
    assert region_share(int8_maps) > 4 * 25 / 256
    assert map_correlation(float_maps, int8_maps) > 0.9
    deletion, insertion = deletion_insertion_auc(model, x[:16], float_maps, y[:16], background=0.5)
    random_maps = torch.rand_like(float_maps, generator=torch.Generator().manual_seed(0))
    deletion_random, insertion_random = deletion_insertion_auc(model, x[:16], random_maps, y[:16], background=0.5)
    print(f"deletion AUC {deletion:.3f} (random order {deletion_random:.3f}), "
          f"insertion AUC {insertion:.3f} (random order {insertion_random:.3f})")
    assert deletion < deletion_random and insertion > insertion_random


def test_explain_writes_per_class_grids_and_scores(trained, tmp_path):
    model, x, y = trained
    int8 = Int8Model(QuantisedTorchRunner(model, 1 / 255, 0.1), 1 / 255, -128, 0.1, 0)
    result = explain(model, x, y, ["dark square", "bright square"], tmp_path, int8=int8, background=0.5, per_class=2)
    assert set(result.grids) == {"dark square", "bright square"}
    for png in [*result.grids.values(), result.overview]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.faithfulness) == {"gradcam", "integrated_gradients", "occlusion", "occlusion_int8"}
    assert result.float_int8_occlusion_correlation is not None and result.float_int8_occlusion_correlation > 0.8
