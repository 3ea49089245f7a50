"""An output path that cannot be written is refused before the work that would fill it (a measurement, a training
run), and a file of the wrong kind given as a checkpoint or a paper config is named with what to give instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..codegen.tflite_builder import small_conv_model
from .cli_run import one_error_line, tinyhil

TINY_SPEC = Path(__file__).with_name("tiny_spec.json")


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n")
    return path


def test_bench_refuses_a_json_path_under_a_file_before_building_or_measuring(
        a_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = tinyhil(["bench", str(model), "--inputs", "1", "--workdir", str(tmp_path / "w"),
                   "--json", str(a_file / "m.json")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"cannot write --json {a_file / 'm.json'}: {a_file} is a file, so a file cannot be made under it" in line
    assert not (tmp_path / "w").exists()  # refused before the build (the measurement used to be lost at the end)


def test_train_refuses_an_out_that_is_a_file_before_training(a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = tinyhil(["train", str(TINY_SPEC), "--dataset", "digits", "--subset", "10", "--epochs", "1",
                   "--out", str(a_file)], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and f"cannot write --out {a_file}: it is a file; give a folder path" in line
    assert "epoch" not in ran.out  # nothing trained (it used to crash after the last epoch)


def test_spec_import_writes_into_new_folders_and_refuses_a_path_under_a_file(
        a_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new folder" / "spéc.json"
    ran = tinyhil(["spec", "import", str(TINY_SPEC), "--out", str(out)], capsys)
    assert ran.status == 0, ran.err
    assert json.loads(out.read_text())["stem_channels"] == 8
    ran = tinyhil(["spec", "import", str(TINY_SPEC), "--out", str(a_file / "s.json")], capsys)
    assert ran.status == 2 and f"cannot write --out {a_file / 's.json'}: {a_file} is a file" in one_error_line(ran)


@pytest.mark.parametrize("content, words", [
    (small_conv_model(), "not a torch checkpoint, or a truncated one (UnpicklingError"),
    (b"", "not a torch checkpoint, or a truncated one (EOFError"),
], ids=["a-tflite", "empty"])
def test_export_of_a_file_that_is_not_a_checkpoint_says_which_file_to_give(
        content: bytes, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    ran = tinyhil(["export", str(path), "--out", str(tmp_path / "m.tflite")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and f"{path}: {words}" in line
    assert "give OUT/checkpoints/last.pt from `tinyhil train`" in line


def test_export_of_a_torch_file_without_a_spec_names_the_missing_keys(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    ran = tinyhil(["export", str(path)], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert f"{path}: a torch file but not a tinyhil training checkpoint (no spec, in_channels, num_classes, " \
           "state_dict)" in line


@pytest.mark.parametrize("block, words", [
    (1, "block 1: is 1; each block is an object with output_channels"),
    ({"output_channels": 16, "num_layers": 1, "kernel_size": 3, "stride": 2, "conv_type": "mbconv",
      "expansion_factor": 4, "activation": "relu6", "use_se": True, "se_ratio": "big"},
     "block 1: se_ratio 'big' is not a number"),
], ids=["block-not-an-object", "se-ratio-text"])
def test_a_paper_config_with_a_block_of_the_wrong_type_is_named_by_cost_and_search(
        block: object, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "candidate.json"
    config.write_text(json.dumps({"candidate_config": {"blocks": [block]}}))
    for args in (["spec", "cost", str(config)],
                 ["search", "--no-live", "--seed-specs", str(config), "--runs-dir", str(tmp_path / "runs")]):
        ran = tinyhil(args, capsys)
        assert ran.status == 2 and f"{config}: {words}" in one_error_line(ran)
    assert not (tmp_path / "runs").exists()
