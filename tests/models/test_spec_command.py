"""`tinyhil spec schema | import | cost` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.spec.paper_config import spec_from_paper
from tinyhil.spec.space import PRESETS, ArchSpec

from .test_paper_import import PAPER_CONFIGS, RefNet, _config, _randomise


def _run(*args: str):
    return CliRunner().invoke(cli, ["spec", *args])


def test_schema_prints_each_presets_json_schema():
    for name in PRESETS:
        result = _run("schema", "--space", name)
        assert result.exit_code == 0, result.output
        schema = json.loads(result.stdout)
        assert schema["properties"]["stages"]["items"]["properties"]["activation"]["enum"]
    assert json.loads(_run("schema", "--space", "paper").stdout)["properties"]["resolution"]["enum"] == [160]


def test_import_writes_the_equivalent_spec_and_the_weights_as_a_checkpoint_export_takes(tmp_path: Path):
    from tinyhil.ml.train import load_checkpoint

    config = tmp_path / "QwNet-Core.json"
    config.write_text(json.dumps(_config("QwNet-Core")))
    torch.manual_seed(0)
    reference = RefNet(PAPER_CONFIGS["QwNet-Core"])
    _randomise(reference)
    weights = tmp_path / "QwNet-Core.pth"
    torch.save(reference.state_dict(), weights)
    result = _run("import", str(config), "--resolution", "32", "--weights", str(weights))
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "QwNet-Core.spec.json").read_text())
    assert ArchSpec.from_dict(written) == ArchSpec.from_dict(spec_from_paper(_config("QwNet-Core"), resolution=32))
    assert "stage 2: ir e2 k5 x2 -> 24 ch s2, SE 0.5, skip none, leakyrelu" in result.output
    model, payload = load_checkpoint(tmp_path / "QwNet-Core.spec.pt")
    assert payload["num_classes"] == 100 and payload["in_channels"] == 3 and "paper weights" in payload["source"]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), reference.eval()(x), atol=1e-5, rtol=0)


def test_cost_prints_every_figure_labelled_analytic(tmp_path: Path):
    path = tmp_path / "lmanet.json"
    path.write_text(json.dumps(_config("LMaNet-Core")))
    result = _run("cost", str(path), "--classes", "100")
    assert result.exit_code == 0, result.output
    for row in ("MACs", "params", "planned arena", "peak SRAM estimate", "flash estimate", "paper-style SRAM"):
        line = next(line for line in result.output.splitlines() if line.strip().startswith(row))
        assert "analytic" in line, line
    assert "76.43 M" in result.output  # LMaNet-Core at 160 px (the reference-net MACs of test_paper_import)


def test_a_bad_spec_names_the_field_and_the_schema_command(tmp_path: Path):
    path = tmp_path / "bad.json"
    spec = spec_from_paper(_config("LMaNet-Core"))
    spec["stages"][0]["activation"] = "gelu"
    path.write_text(json.dumps(spec))
    result = _run("cost", str(path))
    assert result.exit_code != 0
    message = str(result.exception)
    assert "stage 1: activation 'gelu' not in" in message and "`tinyhil spec schema`" in message
    assert "\n" not in message


def test_the_command_line_space_choices_are_the_presets():
    from tinyhil.commands import search, spec

    search_choices = next(p for p in search.command.params if p.name == "space_name").type.choices
    spec_choices = next(p for p in spec.schema.params if p.name == "space_name").type.choices
    assert set(search_choices) == set(spec_choices) == set(PRESETS)


def test_tinyhil_export_takes_the_imported_checkpoint(tmp_path: Path):
    """The paper's net with (here: test-built) weights, imported, then converted to int8 by `tinyhil export`."""
    import matplotlib.image as mpimg
    import numpy as np

    from tinyhil.codegen.reference import ReferenceInterpreter

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "images" / cls).mkdir(parents=True)
        for i in range(5):
            mpimg.imsave(tmp_path / "images" / cls / f"{i}.png", rng.random((32, 32, 3)))
    config = tmp_path / "elite.json"
    config.write_text(json.dumps(_config("LMaNet-Elite")))
    reference = RefNet(PAPER_CONFIGS["LMaNet-Elite"], num_classes=2)
    torch.save(reference.state_dict(), tmp_path / "elite.pth")
    result = _run("import", str(config), "--resolution", "32", "--weights", str(tmp_path / "elite.pth"),
                  "--classes", "2", "--checkpoint", str(tmp_path / "elite.pt"))
    assert result.exit_code == 0, result.output
    exported = CliRunner().invoke(cli, ["export", str(tmp_path / "elite.pt"), "--dataset", f"folder:{tmp_path / 'images'}",
                                        "--test-count", "2", "--qat-threshold", "off", "--out", str(tmp_path / "elite.tflite")])
    assert exported.exit_code == 0, exported.output
    assert "int8 file written by: tinyhil's int8 writer" in exported.output
    interpreter = ReferenceInterpreter((tmp_path / "elite.tflite").read_bytes())
    assert interpreter.invoke(np.zeros((1, 32, 32, 3), np.int8)).shape[-1] == 2
    export = ["export", str(tmp_path / "elite.pt"), "--dataset", f"folder:{tmp_path / 'images'}", "--test-count", "2",
              "--qat-threshold", "off", "--out", str(tmp_path / "elite_tf.tflite")]
    by_tensorflow = CliRunner().invoke(cli, [*export, "--int8-writer", "tensorflow"])
    assert by_tensorflow.exit_code == 0, by_tensorflow.output
    assert "int8 file written by: TensorFlow's TFLiteConverter" in by_tensorflow.output
    assert json.loads((tmp_path / "elite_tf.json").read_text())["writer"] == "tensorflow"
    unknown = CliRunner().invoke(cli, [*export, "--int8-writer", "tflm"])
    assert unknown.exit_code == 2 and "'tflm' is not one of 'tinyhil', 'tensorflow'" in unknown.output


def test_train_reads_the_papers_json_as_its_equivalent_spec(tmp_path: Path):
    from tinyhil.spec.specfile import read_spec

    path = tmp_path / "qwnet.json"
    path.write_text(json.dumps(_config("QwNet-Core")))
    assert read_spec(path) == ArchSpec.from_dict(spec_from_paper(_config("QwNet-Core")))
