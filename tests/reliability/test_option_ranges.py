"""Options out of range are refused where they are declared (tinyhil.options), before anything runs or is
written: one usage error naming the option, its range and what it counts; exit status 2. Values that reach
the library another way (a stored run config, Python) meet the same ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.errors import ConfigError
from tinyhil.search.loop import SearchSettings
from tinyhil.search.session import SearchConfig
from tinyhil.ml.train import TrainConfig

from .cli_run import tinyhil

SPEC = Path(__file__).with_name("tiny_spec.json")


def usage_error(ran) -> str:  # type: ignore[no-untyped-def]
    assert ran.status == 2, ran.err
    assert "Traceback" not in ran.err
    lines = [line for line in ran.err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, ran.err
    return lines[0]


@pytest.mark.parametrize("option, value, words", [
    ("--batch-size", "0", "between 1 and 1024 (candidates in flight at once)"),
    ("--batch-size", "-3", "between 1 and 1024"),
    ("--iterations", "0", "between 1 and 100000 (candidates to evaluate"),
    ("--iterations", "-1", "between 1 and 100000"),
    ("--measure-inputs", "0", "between 1 and 10000 (inputs each candidate runs on the board"),
    ("--proxy-epochs", "0", "between 1 and 1000 (epochs of proxy training"),
    ("--train-subset", "0", "at least 1 (training images"),
    ("--budget-macs", "0", "a MAC budget must be positive"),
    ("--budget-sram", "0KiB", "a byte budget must be positive"),
    ("--iterations", "many", "not a whole number"),
])
def test_search_refuses_an_out_of_range_option_before_creating_a_run(option: str, value: str, words: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ran = tinyhil(["search", "--no-live", option, value, "--runs-dir", str(tmp_path / "runs")], capsys)
    line = usage_error(ran)
    assert option in line and words in line
    assert not (tmp_path / "runs").exists()  # nothing created


@pytest.mark.parametrize("option, value, words", [
    ("--epochs", "0", "between 1 and 10000 (training epochs)"),
    ("--epochs", "-1", "between 1 and 10000"),
    ("--subset", "0", "at least 1 (training images)"),
    ("--subset", "-5", "at least 1 (training images)"),
    ("--batch-size", "0", "between 1 and 65536 (images per training step)"),
    ("--device", "tpu", "'tpu' is not one of 'auto', 'cpu', 'cuda'"),
    ("--memory-limit", "0", "a byte budget must be positive"),
])
def test_train_refuses_an_out_of_range_option_before_writing_a_checkpoint(option: str, value: str, words: str,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ran = tinyhil(["train", str(SPEC), "--dataset", "digits", option, value, "--out", str(tmp_path / "out")], capsys)
    line = usage_error(ran)
    assert option in line and words in line
    assert not (tmp_path / "out").exists()


def test_bench_refuses_a_negative_input_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0" * 64)
    ran = tinyhil(["bench", str(model), "--inputs", "-1", "--workdir", str(tmp_path / "w")], capsys)
    line = usage_error(ran)
    assert "--inputs" in line and "between 1 and 100000 (random int8 inputs" in line
    assert not (tmp_path / "w").exists()


@pytest.mark.timeout(20)
def test_a_batch_of_zero_from_python_is_an_error_not_a_search_that_never_ends() -> None:
    with pytest.raises(ConfigError, match=r"search settings: --batch-size 0: must be between 1 and 1024"):
        SearchSettings(iterations=3, batch_size=0)
    with pytest.raises(ConfigError, match=r"--iterations -1: must be between 1"):
        SearchSettings(iterations=-1)


def test_a_stored_run_config_meets_the_same_ranges_as_the_options() -> None:
    with pytest.raises(ConfigError, match=r"search configuration: --measure-inputs 0: must be between 1 and 10000"):
        SearchConfig(measure_inputs=0).validate()
    with pytest.raises(ConfigError, match=r"search configuration: --measure-with 'pixels': must be one of seeded, images"):
        SearchConfig(measure_with="pixels").validate()
    with pytest.raises(ConfigError, match=r"--proxy-epochs 0"):
        SearchConfig(train_overrides={"epochs": 0}).validate()
    with pytest.raises(ConfigError, match=r"training configuration: --epochs 0: must be between 1 and 10000"):
        TrainConfig(epochs=0).check()
    with pytest.raises(ConfigError, match=r"--subset -5"):
        TrainConfig(train_subset=-5).check()


@pytest.mark.parametrize("args, option, words", [
    (["deploy", "{run}", "--candidate", "1", "--epochs", "0"], "--epochs", "between 1 and 10000 (training epochs)"),
    (["deploy", "{run}", "--candidate", "1", "--train-subset", "-5"], "--train-subset", "at least 1"),
    (["deploy", "{run}", "--candidate", "1", "--temperature", "0"], "--temperature", "0.0 is not in the range x>0"),
    (["deploy", "{run}", "--candidate", "1", "--alpha", "1.5"], "--alpha", "1.5 is not in the range 0<=x<=1"),
    (["export", "{ckpt}", "--test-count", "0"], "--test-count", "at least 1 (test images for the accuracy check)"),
    (["explain", "{run}", "--candidate", "1", "--per-class", "0"], "--per-class", "between 1 and 1000"),
    (["teacher", "finetune", "--epochs", "0"], "--epochs", "between 1 and 10000"),
    (["teacher", "finetune", "--batch-size", "0"], "--batch-size", "between 1 and 65536"),
    (["teacher", "finetune", "--lr", "-1"], "--lr", "-1.0 is not in the range x>0"),
])
def test_the_other_commands_refuse_out_of_range_options(args: list[str], option: str, words: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "c.pt").write_bytes(b"")
    ran = tinyhil([a.format(run=tmp_path / "run", ckpt=tmp_path / "c.pt") for a in args], capsys)
    line = usage_error(ran)
    assert option in line and words in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "run"]  # nothing written
    assert not any((tmp_path / "run").iterdir())


def test_a_stored_batch_of_zero_is_refused_on_resume_and_the_option_overrides_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import sqlite3

    from tinyhil.search.loop import EVALUATED
    from tinyhil.search.store import RunStore

    from ..search import contract_doubles
    from .cli_run import one_error_line

    contract_doubles.install(monkeypatch)
    base = ["search", "--no-live", "--dataset", "digits", "--proxy-epochs", "1"]
    assert tinyhil([*base, "--iterations", "1", "--runs-dir", str(tmp_path), "--run-id", "r"], capsys).status == 0
    db = sqlite3.connect(tmp_path / "r" / "store.sqlite")
    config = json.loads(db.execute("SELECT config FROM run").fetchone()[0])
    db.execute("UPDATE run SET config = ?", (json.dumps({**config, "batch_size": 0}),))  # as an old tinyhil stored it
    db.commit()
    db.close()
    ran = tinyhil([*base, "--resume", str(tmp_path / "r"), "--iterations", "2"], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and "search configuration: --batch-size 0: must be between 1 and 1024" in line
    assert "on --resume it replaces the stored one" in line
    with RunStore.open(tmp_path / "r") as store:
        assert len(store.candidates(EVALUATED)) == 1  # nothing lost, nothing added
    ran = tinyhil([*base, "--resume", str(tmp_path / "r"), "--iterations", "2", "--batch-size", "1"], capsys)
    assert ran.status == 0, ran.err
    with RunStore.open(tmp_path / "r") as store:
        assert len(store.candidates(EVALUATED)) == 2
