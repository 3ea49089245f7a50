"""`tinyhil search` end to end over stand-ins of the other parts: options, printed provenance and units,
front files, resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.hil.bench import SeededInputs
from tinyhil.search.evaluation import SEARCH_EVAL_IMAGES

from . import contract_doubles


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["search", "--no-live", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_measure_with_images_streams_nhwc_int8_validation_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    code, output = run(["--board", "qemu-m7", "--iterations", "2", "--dataset", "digits", "--runs-dir", str(tmp_path),
                        "--budget-macs", "2M", "--proxy-epochs", "1", "--measure-inputs", "3", "--measure-with", "images"])
    assert code == 0, output
    for inputs in contract_doubles.CALLS["measure"]:
        assert inputs.dtype.name == "int8" and inputs.shape == (3, 8, 8, 1)
    code, output = run(["--board", "qemu-m7", "--iterations", "2", "--runs-dir", str(tmp_path), "--measure-with", "pixels"])
    assert code == 2 and "'pixels' is not one of 'seeded', 'images'" in output


def test_search_prints_a_measured_front_with_units_and_writes_json_and_csv(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    code, output = run(["--board", "qemu-m7", "--iterations", "5", "--dataset", "digits", "--runs-dir", str(tmp_path),
                        "--run-id", "r1", "--budget-macs", "2M", "--proxy-epochs", "2", "--measure-inputs", "3"])
    assert code == 0, output
    assert "proposer: evolution" in output  # no endpoint configured: the offline default
    assert "dataset: digits (test double)" in output
    assert "measured Pareto front" in output and "emulator qemu-m7" in output and "instructions" in output
    assert "macs <= 2000000" in output and "peak_sram_bytes <= 120000" in output
    front = json.loads((tmp_path / "r1" / "front.json").read_text())
    assert front["front"] and "bytes, measured" in front["units"]["peak_sram_bytes"]
    assert all(entry["source"] == "emulator qemu-m7" and entry["latency_unit"] == "instructions" for entry in front["front"])
    with (tmp_path / "r1" / "front.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(front["front"])
    assert "reference point" in front["hypervolume_note"]
    # the options reached the stages: epochs override and the seed, NHWC int8 inputs for the board
    assert all(config.epochs == 2 for config in contract_doubles.CALLS["train"])
    assert set(contract_doubles.CALLS["export_qat_threshold"]) == {None}  # proxy exports never pay for QAT
    # every accuracy of the search (each epoch's float one, the int8 one at the end) on the same validation images
    assert {config.test_subset for config in contract_doubles.CALLS["train"]} == {SEARCH_EVAL_IMAGES}
    assert set(contract_doubles.CALLS["export_test_count"]) == {SEARCH_EVAL_IMAGES}
    # multi-fidelity by default: every spec is exported once to be measured (rung 0, no int8 evaluation), and
    # exported and evaluated in int8 again only when it reaches the last rung; every spec is measured once
    assert len(contract_doubles.CALLS["export_for_board"]) == 5 and len(contract_doubles.CALLS["measure"]) == 5
    assert 1 <= len(contract_doubles.CALLS["export_qat_threshold"]) < 5
    # 5 evaluations fill 2 rungs of eta 3 (1/3 and all of the proxy budget), not 3
    assert "multi-fidelity (ASHA, eta 3)" in output and "rung 0/1: " in output
    # by default the firmware generates the inputs (seeded by the candidate's training seed): no image crosses the line
    seeded = contract_doubles.CALLS["measure"]
    assert all(isinstance(inputs, SeededInputs) and inputs.count == 3 for inputs in seeded)
    assert len({inputs.seed for inputs in seeded}) == 5

    code, output = run(["--resume", str(tmp_path / "r1"), "--iterations", "7"])
    assert code == 0, output
    from tinyhil.search.store import RunStore

    with RunStore.open(tmp_path / "r1") as store:
        assert len(store.candidates(("measured", "failed", "infeasible"))) == 7
        # at the last rung, float and int8 accuracy come from the same images (export's), not float from training's
        # subset; a candidate left at the first rung is ranked by its float validation accuracy (no int8 evaluation)
        for candidate in store.candidates(("measured",)):
            metrics = candidate.metrics
            if metrics["rung"] == metrics["rungs"] - 1:
                assert metrics["float_accuracy"] == pytest.approx(metrics["int8_accuracy"] + 0.02)
                assert metrics["accuracy"] == metrics["int8_accuracy"] and metrics["accuracy_kind"].startswith("int8")
            else:
                assert metrics["int8_accuracy"] is None and metrics["accuracy"] == metrics["float_accuracy"]
                assert metrics["accuracy_kind"].startswith("float, validation split")
        assert store.config()["budget_macs"] == 2_000_000
        assert store.config()["finish_front"] is False  # off unless asked for
        measured = store.candidates("measured")
        assert all({"train", "export", "measure", "measure.build"} <= set(c.timings) for c in measured)


def test_without_a_mac_budget_option_the_paper_budget_of_100m_macs_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    code, output = run(["--iterations", "1", "--dataset", "digits", "--runs-dir", str(tmp_path), "--run-id", "r",
                        "--proxy-epochs", "1"])
    assert code == 0, output
    assert "macs <= 100000000" in output  # the paper's < 100 M MACs


def test_a_board_that_cannot_be_reached_stops_the_search_before_any_training(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhil.hil.boards import load_profile
    from tinyhil.hil.runners import pyocd_runner

    nucleo = load_profile("stm32h7")
    contract_doubles.install(monkeypatch)
    monkeypatch.setattr(__import__("sys").modules["tinyhil.hil.boards"], "load_profile", lambda name: nucleo)
    monkeypatch.setattr(pyocd_runner, "connected_probe_ids", lambda: [])  # no probe on the USB bus
    result = CliRunner().invoke(cli, ["search", "--no-live", "--board", "stm32h7", "--iterations", "1",
                                      "--runs-dir", str(tmp_path), "--run-id", "bench"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "nucleo-h743zi cannot be used now: no debug probe attached" in message and "--board qemu-m7" in message
    assert "train" not in contract_doubles.CALLS  # nothing was trained for a board that is not there


def test_llm_proposer_without_an_endpoint_says_how_to_configure_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    monkeypatch.setitem(__import__("sys").modules, "tinyhil.search.llm_local", None)  # not set up / not installed
    result = CliRunner().invoke(cli, ["search", "--no-live", "--proposer", "llm", "--runs-dir", str(tmp_path),
                                      "--iterations", "1"])
    assert result.exit_code != 0
    assert "TINYHIL_LLM_BASE_URL" in str(result.exception)


def test_the_live_view_redraws_progress_and_the_front_on_a_terminal(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from tinyhil.search.live import LiveView
    from tinyhil.search.proposers import EvolutionProposer

    from .search_doubles import build_toy_loop

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    views: list[LiveView] = []
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=3,
                          on_change=lambda store, event: [v.on_change(store, event) for v in views])
    with LiveView(console, 3, loop.constraints) as view:
        views.append(view)
        loop.run()
    text = buffer.getvalue()
    assert "evaluated 3/3" in text and "current Pareto front" in text and "instructions" in text


def test_finish_front_is_stored_in_the_run_config_and_kept_on_resume(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    contract_doubles.install(monkeypatch)
    common = ["--runs-dir", str(tmp_path), "--dataset", "digits", "--budget-macs", "2M", "--proxy-epochs", "1"]
    code, output = run(["--board", "qemu-m7", "--iterations", "2", "--run-id", "f1", "--finish-front",
                        "--time-budget", "600", *common])
    assert code == 0, output
    code, output = run(["--resume", str(tmp_path / "f1"), "--iterations", "3"])
    assert code == 0, output
    from tinyhil.search.store import RunStore

    with RunStore.open(tmp_path / "f1") as store:
        assert store.config()["finish_front"] is True and store.config()["time_budget_s"] == 600
