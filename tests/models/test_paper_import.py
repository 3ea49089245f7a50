"""The paper's published models (LMaNet-Core, QwNet-Core, LMaNet-Elite) imported from their candidate_config JSON:
MACs and params equal to a torch reference net written here from the paper's description of its model, and the
paper's state_dict layout loaded into tinyhil's TinyNet with equal outputs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tinyhil.spec.cost import estimate
from tinyhil.ml.model import build_torch
from tinyhil.spec.paper_config import PaperImportError, read_spec_file, spec_from_paper, state_dict_from_paper
from tinyhil.spec.space import ArchSpec


def _block(out, layers, kernel, stride, expand, use_se, ratio, conv, skip, act):
    return {"output_channels": out, "num_layers": layers, "kernel_size": kernel, "stride": stride,
            "expansion_factor": expand, "use_se": use_se, "se_ratio": ratio, "conv_type": conv, "skip_op": skip,
            "activation": act}


# models/*/*.json of github christophezei/llm-nas-kd-explainability, block by block
PAPER_CONFIGS = {
    "LMaNet-Core": [_block(16, 1, 3, 2, 2, False, 0, "mbconv", "residual", "relu6"),
                    _block(32, 1, 5, 2, 2, False, 0, "mbconv", "residual", "relu6"),
                    _block(64, 2, 5, 2, 4, False, 0, "mbconv", "residual", "leakyrelu"),
                    _block(64, 2, 7, 2, 4, False, 0, "mbconv", "residual", "relu6"),
                    _block(160, 2, 3, 1, 4, False, 0.25, "mbconv", "residual", "relu6")],
    "QwNet-Core": [_block(16, 1, 3, 2, 3, False, 0.5, "depthwise", "residual", "relu6"),
                   _block(24, 2, 5, 2, 2, True, 0.5, "mbconv", "identity", "leakyrelu"),
                   _block(32, 2, 5, 1, 4, False, 0.25, "mbconv", "identity", "relu6"),
                   _block(64, 2, 5, 2, 2, True, 0.5, "mbconv", "residual", "relu6"),
                   _block(128, 1, 7, 2, 4, False, 0.25, "mbconv", "identity", "leakyrelu")],
    "LMaNet-Elite": [_block(16, 2, 3, 2, 3, False, 0, "depthwise", "identity", "relu6"),
                     _block(32, 2, 5, 2, 3, False, 0.25, "depthwise", "residual", "relu6"),
                     _block(48, 2, 5, 2, 3, False, 0, "mbconv", "identity", "leakyrelu"),
                     _block(64, 3, 3, 1, 3, True, 0.5, "mbconv", "identity", "relu6"),
                     _block(128, 3, 7, 2, 3, False, 0, "mbconv", "identity", "relu6")],
}


def _config(name: str) -> dict:
    return json.loads(json.dumps({"candidate_config": {"input_channels": 3, "blocks": PAPER_CONFIGS[name]}}))


# ---- the reference: the paper's network as its text and Table I describe it (module names as in its state_dict)
def _activation(name: str) -> nn.Module:
    return {"relu6": nn.ReLU6, "leakyrelu": lambda: nn.LeakyReLU(0.01), "swish": nn.SiLU}[name]()


class RefSE(nn.Module):
    def __init__(self, channels: int, ratio: float):
        super().__init__()
        squeezed = max(1, int(channels * ratio))
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1), nn.ReLU(),
                                nn.Conv2d(squeezed, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.se(x)


class RefBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cfg: dict, stride: int):
        super().__init__()
        k, act = cfg["kernel_size"], cfg["activation"]
        if cfg["conv_type"] == "mbconv":  # 1x1 expand, BN, act, kxk depthwise, BN, act
            hidden = cin * cfg["expansion_factor"]
            layers = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _activation(act),
                      nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                      _activation(act)]
        else:  # depthwise: kxk depthwise, BN, act
            hidden = cin
            layers = [nn.Conv2d(cin, cin, k, stride, k // 2, groups=cin, bias=False), nn.BatchNorm2d(cin),
                      _activation(act)]
        if cfg["use_se"] and cfg["se_ratio"] > 0:
            layers.append(RefSE(hidden, cfg["se_ratio"]))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear projection
        self.conv = nn.Sequential(*layers)
        self.shortcut = cfg["skip_op"] == "residual" and stride == 1
        self.res_proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
                         if self.shortcut and cin != cout else None)

    def forward(self, x):
        y = self.conv(x)
        if self.shortcut:
            y = y + (self.res_proj(x) if self.res_proj is not None else x)
        return y


class RefStage(nn.Module):
    def __init__(self, cin: int, cfg: dict):
        super().__init__()
        self.layers = nn.ModuleList(RefBlock(cin if i == 0 else cfg["output_channels"], cfg["output_channels"], cfg,
                                             cfg["stride"] if i == 0 else 1) for i in range(cfg["num_layers"]))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class RefNet(nn.Module):
    """No stem, the stages, global average pool, one linear classifier."""

    def __init__(self, blocks: list[dict], num_classes: int = 100):
        super().__init__()
        stages, c = [], 3
        for cfg in blocks:
            stages.append(RefStage(c, cfg))
            c = cfg["output_channels"]
        self.layers = nn.ModuleList(stages)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        for stage in self.layers:
            x = stage(x)
        return self.classifier(x.mean(dim=(2, 3)))


def _macs(model: nn.Module, resolution: int) -> int:
    total = 0

    def conv_hook(module, inputs, output):
        nonlocal total
        total += output.numel() // output.shape[0] * module.weight[0].numel()

    def linear_hook(module, inputs, output):
        nonlocal total
        total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, resolution, resolution))
    for hook in hooks:
        hook.remove()
    return total


@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_imported_paper_model_has_the_reference_macs_and_params(name: str):
    spec = ArchSpec.from_dict(spec_from_paper(_config(name)))
    assert spec.resolution == 160 and not spec.has_stem and len(spec.stages) == 5
    reference = RefNet(PAPER_CONFIGS[name])
    cost = estimate(spec, (160, 160, 3), 100)
    assert cost.macs == _macs(reference, 160)
    ref_params = sum(p.numel() for p in reference.parameters())
    assert cost.params == ref_params == sum(p.numel() for p in build_torch(spec, 3, 100).parameters())
    assert 60e6 < cost.macs < 100e6  # the paper's Table II: 71-86 M MACs


def test_the_import_maps_the_papers_fields_onto_tinyhils():
    spec = ArchSpec.from_dict(spec_from_paper(_config("QwNet-Core")))
    first, second = spec.stages[0], spec.stages[1]
    assert (first.block, first.expand, first.se_ratio, first.skip) == ("ir", 1, 0.0, "residual")  # depthwise; use_se off
    assert (second.expand, second.se_ratio, second.skip, second.activation) == (2, 0.5, "none", "leakyrelu")
    swish = _config("LMaNet-Core")
    swish["candidate_config"]["blocks"][0]["activation"] = "swish"
    assert spec_from_paper(swish)["stages"][0]["activation"] == "hswish"


def test_bad_paper_configs_name_the_block_and_field(tmp_path):
    bad = _config("LMaNet-Core")
    bad["candidate_config"]["blocks"][1]["conv_type"] = "fused"
    bad["candidate_config"]["blocks"][2]["activation"] = "gelu"
    with pytest.raises(PaperImportError) as info:
        spec_from_paper(bad, source="x.json")
    assert "x.json: block 2: conv_type 'fused'" in str(info.value) and "block 3: activation 'gelu'" in str(info.value)
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(PaperImportError, match="broken.json: not readable as JSON"):
        read_spec_file(path)


def test_spec_files_may_hold_either_format_or_a_list(tmp_path):
    tinyhil_spec = spec_from_paper(_config("LMaNet-Elite"))
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps([_config("QwNet-Core"), tinyhil_spec]))
    specs = read_spec_file(path)
    assert specs[0] == spec_from_paper(_config("QwNet-Core")) and specs[1] == tinyhil_spec


def _randomise(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3, generator=generator)
            m.running_var.uniform_(0.5, 1.5, generator=generator)
            m.weight.data.uniform_(0.5, 1.5, generator=generator)
            m.bias.data.uniform_(-0.2, 0.2, generator=generator)


@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_the_papers_state_dict_loads_into_tinynet_with_equal_outputs(name: str):
    torch.manual_seed(0)
    reference = RefNet(PAPER_CONFIGS[name])
    _randomise(reference)
    reference.eval()
    spec = ArchSpec.from_dict(spec_from_paper(_config(name), resolution=32))
    model = build_torch(spec, 3, 100).eval()
    model.load_state_dict(state_dict_from_paper(reference.state_dict(), spec), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5, rtol=0)


def test_a_state_dict_of_another_architecture_is_refused():
    spec = ArchSpec.from_dict(spec_from_paper(_config("LMaNet-Core"), resolution=32))
    other = RefNet(PAPER_CONFIGS["QwNet-Core"]).state_dict()
    with pytest.raises(PaperImportError, match="another architecture"):
        state_dict_from_paper(other, spec)
