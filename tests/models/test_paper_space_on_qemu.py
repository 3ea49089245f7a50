"""A 160x160x3 net of the paper's space (no stem, squeeze-excitation, LeakyReLU, hard-swish, a projection
shortcut), small channels so it is cheap: exported to int8 through tinyhil's exporter and run with
`tinyhil bench --board qemu-m7`, bit-exact with the tflite-micro reference; the firmware's planned arena is
the cost model's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

pytestmark = pytest.mark.qemu

SPEC = {"resolution": 160, "stem_channels": 0, "stem_kernel": 1, "stem_stride": 1, "head_channels": 0, "stages": [
    {"block": "ir", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 1, "se_ratio": 0.25,
     "skip": "residual", "activation": "leakyrelu"},
    {"block": "ir", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand": 2, "se_ratio": 0.0,
     "skip": "residual", "activation": "hswish"},
    {"block": "ir", "depth": 2, "out_channels": 24, "stride": 2, "kernel": 3, "expand": 2, "se_ratio": 0.5,
     "skip": "residual", "activation": "relu6"},
    {"block": "ir", "depth": 1, "out_channels": 32, "stride": 1, "kernel": 5, "expand": 2, "se_ratio": 0.0,
     "skip": "residual", "activation": "leakyrelu"},
    {"block": "ir", "depth": 1, "out_channels": 32, "stride": 2, "kernel": 3, "expand": 1, "se_ratio": 0.25,
     "skip": "none", "activation": "hswish"}]}


def test_a_160px_paper_space_net_runs_bit_exact_through_tinyhil_bench(tmp_path: Path) -> None:
    from tinyhil.cli import cli
    from tinyhil.spec.cost import estimate
    from tinyhil.ml.export import convert_int8
    from tinyhil.ml.model import build_torch
    from tinyhil.spec.space import PAPER_SPACE

    spec = PAPER_SPACE.parse(SPEC)
    torch.manual_seed(0)
    model = build_torch(spec, 3, 10).eval()
    model_path = tmp_path / "paper-space-160.tflite"
    model_path.write_bytes(convert_int8(model, spec, torch.randn(16, 3, 160, 160)))
    result = CliRunner().invoke(cli, ["bench", str(model_path), "--board", "qemu-m7", "--inputs", "2",
                                      "--sram-budget", "1MiB", "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    measured = json.loads((tmp_path / "m.json").read_text())
    assert measured["bit_exact"] is True and measured["latency_unit"] == "instructions"
    assert measured["planned_arena_bytes"] == estimate(spec, (160, 160, 3), 10).peak_activation_bytes
    assert 0 < measured["arena_bytes"] <= measured["planned_arena_bytes"]
