import numpy as np
import pytest
import torch

from tinyhil.ml.model import build_torch
from tinyhil.spec.space import ArchSpec

SPECS = [
    {"resolution": 32, "stem_channels": 16, "stem_kernel": 5, "stem_stride": 2, "head_channels": 128,
     "stages": [{"block": "ir", "depth": 2, "out_channels": 16, "stride": 1, "kernel": 7, "expand": 4},
                {"block": "dws", "depth": 1, "out_channels": 24, "stride": 2, "kernel": 5, "expand": 1},
                {"block": "ir", "depth": 1, "out_channels": 32, "stride": 2, "kernel": 3, "expand": 1}]},
    {"resolution": 48, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 1, "head_channels": 0,
     "stages": [{"block": "ir", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 6}]},
]
# the paper's choices: no stem, squeeze-excitation, LeakyReLU, hard-swish, projection shortcuts, expand 2, dws + SE
NEW_SPECS = [
    {"resolution": 32, "stem_channels": 0, "stem_kernel": 3, "stem_stride": 1, "head_channels": 0,
     "stages": [{"block": "ir", "depth": 2, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 2,
                 "se_ratio": 0.25, "skip": "residual", "activation": "leakyrelu"},
                {"block": "ir", "depth": 1, "out_channels": 24, "stride": 1, "kernel": 5, "expand": 1,
                 "se_ratio": 0.5, "skip": "residual", "activation": "hswish"},
                {"block": "dws", "depth": 2, "out_channels": 24, "stride": 1, "kernel": 3, "se_ratio": 0.5,
                 "skip": "identity", "activation": "hswish"}]},
    {"resolution": 48, "stem_channels": 8, "stem_kernel": 3, "stem_stride": 2, "head_channels": 128,
     "stages": [{"block": "ir", "depth": 1, "out_channels": 16, "stride": 1, "kernel": 7, "expand": 6,
                 "skip": "residual", "activation": "relu6"},
                {"block": "dws", "depth": 2, "out_channels": 32, "stride": 2, "kernel": 5, "skip": "none",
                 "activation": "leakyrelu"}]},
]


def _randomise_batchnorm(model, generator):
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None:  # squeeze-excitation convs
            m.bias.data.uniform_(-0.5, 0.5, generator=generator)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5, generator=generator)
            m.running_var.uniform_(0.5, 2.0, generator=generator)
            m.weight.data.uniform_(0.5, 1.5, generator=generator)
            m.bias.data.uniform_(-0.2, 0.2, generator=generator)


@pytest.mark.parametrize("spec_dict", SPECS + NEW_SPECS,
                         ids=["ir-dws-head", "expand6-stride1-stem", "se-leaky-hswish-projection", "stem-projection-dws-leaky"])
def test_keras_twin_matches_torch_within_1e_4(spec_dict):
    from tinyhil.ml.keras_model import build_keras

    torch.manual_seed(0)
    spec = ArchSpec.from_dict(spec_dict)
    model = build_torch(spec, 3, 10)
    _randomise_batchnorm(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn(3, 3, spec.resolution, spec.resolution)
    keras_model = build_keras(model, 3)
    with torch.no_grad():
        expected = model(x).numpy()
    got = np.concatenate([keras_model(x[i:i + 1].permute(0, 2, 3, 1).numpy()).numpy() for i in range(3)])
    assert np.abs(expected - got).max() < 1e-4
