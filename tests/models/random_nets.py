"""Search-space nets with random weights whose BatchNorms are not the identity (so folding them matters): shared by
the int8 writer's tests and benchmarks/int8_writer.py."""

import torch

from tinyhil.ml.model import build_torch
from tinyhil.spec.space import ArchSpec


def perturbed_net(spec: ArchSpec, channels: int = 1, classes: int = 10, seed: int | None = None) -> torch.nn.Module:
    """build_torch(spec) in eval mode, every BatchNorm given random statistics and affine terms (seeded if `seed`)."""
    if seed is not None:
        torch.manual_seed(seed)
    model = build_torch(spec, channels, classes).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model
