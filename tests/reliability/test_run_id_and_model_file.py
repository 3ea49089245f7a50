"""A --run-id that would put the run outside --runs-dir (or nest it), a --model that is not a GGUF file and a zero
byte budget for bench are refused with one line before anything is made: no folder, no server install, nothing
recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_run import one_error_line, tinyhil


@pytest.mark.parametrize("run_id", ["../../escaped", "a/b", "..", ".hidden", "c\\d"])
def test_search_refuses_a_run_id_that_is_not_one_folder_name(run_id: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "deep" / "runs"
    ran = tinyhil(["search", "--board", "qemu-m7", "--dataset", "digits", "--proposer", "random", "--iterations", "1",
                   "--runs-dir", str(runs), "--run-id", run_id], capsys)
    line = one_error_line(ran)
    assert ran.status != 0
    assert f"--run-id {run_id!r}: a run id is one folder name under --runs-dir" in line
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
    assert not runs.exists() or not any(runs.iterdir())


def test_llm_setup_refuses_a_model_that_is_not_gguf_before_installing_anything(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    cache = tmp_path / "cache"
    ran = tinyhil(["llm", "setup", "--cache-dir", str(cache), "--model", str(picture)], capsys)
    line = one_error_line(ran)
    assert ran.status != 0
    assert f"--model {picture} is not a GGUF file" in line and "give a .gguf model" in line
    assert not cache.exists()  # no server venv, no registration


def test_llm_setup_refuses_a_model_path_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = tinyhil(["llm", "setup", "--cache-dir", str(tmp_path / "cache"), "--model", str(tmp_path)], capsys)
    assert ran.status != 0
    assert "is not a file; give a .gguf model file" in one_error_line(ran)


@pytest.mark.parametrize("option", ["--sram-budget", "--flash-budget"])
def test_bench_refuses_a_zero_budget_before_building(option: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from ..codegen.tflite_builder import small_conv_model

    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = tinyhil(["bench", str(model), "--inputs", "1", "--workdir", str(tmp_path / "w"), option, "0"], capsys)
    line = one_error_line(ran)
    assert ran.status != 0 and f"{option} 0: a byte budget must be positive" in line
    assert not (tmp_path / "w").exists()
