"""ArchSpec -> torch.nn.Module. Every conv is a ConvBN (conv, BatchNorm eps 1e-5, optional activation) and the
squeeze-excitation is its own module, so the Keras twin (keras_model.py) and the cost model (cost.py) mirror the
network one-to-one, with BatchNorm folded into each conv.

Activations: relu6, leakyrelu (slope 0.01), hswish (hard-swish, the deployable form of swish: int8 TFLite has a
HARD_SWISH op and no SWISH), plus relu (inside squeeze-excitation) and none (linear projections)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec.space import ArchSpec, SearchSpace, StageSpec, shortcut, squeezed_channels

BN_EPS = 1e-5
LEAKY_SLOPE = 0.01

_ACTIVATIONS = {
    "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "relu": F.relu,
    "leakyrelu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "hswish": F.hardswish,
    "none": lambda x: x,
}


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    return _ACTIVATIONS[activation](x)


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, depthwise: bool = False,
                 activation: str = "relu6"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.kernel, self.stride, self.depthwise, self.activation = kernel, stride, depthwise, activation
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activate(self.bn(self.conv(x)), self.activation)


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2), W1/W2 1x1 convs with bias (no BatchNorm)."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        squeezed = squeezed_channels(channels, ratio)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class Block(nn.Module):
    """A sequence of ConvBN / SqueezeExcite layers, plus a shortcut when `residual`: the input itself, or its
    1x1 conv + BatchNorm `projection` where the channels change."""

    def __init__(self, layers: list[nn.Module], residual: bool, projection: ConvBN | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.residual = residual
        self.projection = projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in self.layers:
            y = layer(y)
        if not self.residual:
            return y
        return (self.projection(x) if self.projection is not None else x) + y


def _block(stage: StageSpec, cin: int, stride: int) -> Block:
    act, cout = stage.activation, stage.out_channels
    if stage.block == "dws":
        layers: list[nn.Module] = [ConvBN(cin, cin, stage.kernel, stride, depthwise=True, activation=act)]
        if stage.se_ratio:
            layers.append(SqueezeExcite(cin, stage.se_ratio))
        layers.append(ConvBN(cin, cout, 1, 1, activation=act))
    else:
        hidden = cin * stage.expand
        layers = [ConvBN(cin, hidden, 1, 1, activation=act)] if stage.expand > 1 else []
        layers.append(ConvBN(hidden, hidden, stage.kernel, stride, depthwise=True, activation=act))
        if stage.se_ratio:
            layers.append(SqueezeExcite(hidden, stage.se_ratio))
        layers.append(ConvBN(hidden, cout, 1, 1, activation="none"))
    residual, project = shortcut(stage.skip, stride, cin, cout)
    return Block(layers, residual, ConvBN(cin, cout, 1, 1, activation="none") if project else None)


class TinyNet(nn.Module):
    def __init__(self, spec: ArchSpec, in_channels: int, num_classes: int):
        super().__init__()
        self.spec = spec
        self.in_channels, self.num_classes = in_channels, num_classes
        blocks, c = [], in_channels
        if spec.has_stem:
            blocks.append(Block([ConvBN(in_channels, spec.stem_channels, spec.stem_kernel, spec.stem_stride)], False))
            c = spec.stem_channels
        for stage in spec.stages:
            for i in range(stage.depth):
                blocks.append(_block(stage, c, stage.stride if i == 0 else 1))
                c = stage.out_channels
        if spec.head_channels:
            blocks.append(Block([ConvBN(c, spec.head_channels, 1, 1)], False))
            c = spec.head_channels
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.classifier(x.mean(dim=(2, 3)))


def build_torch(spec: ArchSpec | dict, in_channels: int, num_classes: int) -> TinyNet:
    """The torch network for `spec` (NCHW input of spec.resolution pixels; returns logits)."""
    if not isinstance(spec, ArchSpec):
        spec = SearchSpace().parse(spec)
    return TinyNet(spec, in_channels, num_classes)
