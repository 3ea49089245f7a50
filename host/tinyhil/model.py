"""ArchSpec -> torch.nn.Module. Every layer is a ConvBN (conv, BatchNorm eps 1e-5, optional ReLU6) so the
Keras twin (keras_model.py) can mirror it one-to-one with BatchNorm folded into the conv."""

from __future__ import annotations

import torch
from torch import nn

from .space import ArchSpec, SearchSpace

BN_EPS = 1e-5


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, depthwise: bool = False, relu6: bool = True):
        super().__init__()
        self.kernel, self.stride, self.depthwise, self.relu6 = kernel, stride, depthwise, relu6
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.clamp(x, 0.0, 6.0) if self.relu6 else x


class Block(nn.Module):
    """A sequence of ConvBN layers, with a residual add when shapes allow (stride 1, same channels)."""

    def __init__(self, layers: list[ConvBN], residual: bool):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in self.layers:
            y = layer(y)
        return x + y if self.residual else y


def _block(kind: str, cin: int, cout: int, kernel: int, stride: int, expand: int) -> Block:
    if kind == "dws":
        return Block([ConvBN(cin, cin, kernel, stride, depthwise=True), ConvBN(cin, cout, 1, 1)], residual=False)
    hidden = cin * expand
    layers = [ConvBN(cin, hidden, 1, 1)] if expand > 1 else []
    layers += [ConvBN(hidden, hidden, kernel, stride, depthwise=True), ConvBN(hidden, cout, 1, 1, relu6=False)]
    return Block(layers, residual=stride == 1 and cin == cout)


class TinyNet(nn.Module):
    def __init__(self, spec: ArchSpec, in_channels: int, num_classes: int):
        super().__init__()
        self.spec = spec
        blocks = [Block([ConvBN(in_channels, spec.stem_channels, spec.stem_kernel, spec.stem_stride)], False)]
        c = spec.stem_channels
        for stage in spec.stages:
            for i in range(stage.depth):
                blocks.append(_block(stage.block, c, stage.out_channels, stage.kernel, stage.stride if i == 0 else 1,
                                     stage.expand))
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
