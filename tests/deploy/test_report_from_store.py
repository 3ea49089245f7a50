"""`tinyhil report RUN` reads the run store and the deploy folders and writes the page."""

from __future__ import annotations

from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.deploy.pipeline import DeployRecord
from tinyhil.search.loop import hypervolume_history
from tinyhil.search.pareto import Constraints, reference_from_constraints
from tinyhil.report.collect import collect_run
from tinyhil.search.store import RunStore


def make_run(run_dir, layer_latency=None):
    store = RunStore.create(run_dir, "run-7", {"board": "qemu-m7", "dataset": "fashion-mnist"})
    store.update_info(dataset_provenance="Fashion-MNIST (real images, Debian dataset-fashion-mnist)",
                      board={"name": "qemu-m7", "kind": "emulator", "cpu": "cortex-m7", "latency_unit": "instructions"},
                      budgets={"peak_sram_bytes": 327680, "macs": 100_000_000, "flash_bytes": None})
    rows = [(0.71, 2_000_000, 60_000, 90_000, 900_000), (0.78, 6_000_000, 120_000, 140_000, 2_500_000),
            (0.74, 9_000_000, 150_000, 200_000, 4_000_000), (0.80, 20_000_000, 400_000, 300_000, 9_000_000)]
    for step, (accuracy, macs, sram, flash, latency) in enumerate(rows):
        cid = store.add_candidate(step, "evolution", {"stages": step}, f"hash{step}")
        store.update_candidate(cid, status="measured" if sram <= 327680 else "infeasible",
                               metrics={"accuracy": accuracy, "macs": macs, "peak_sram_bytes": sram, "flash_bytes": flash,
                                        "latency": latency, "latency_unit": "instructions"},
                               provenance={"kind": "emulator", "board": "qemu-m7"})
    store.add_candidate(4, "llm", None, None, status="rejected", reason="stage 2: kernel 9 not in {3,5,7}")
    store.close()
    out = run_dir / "deploy" / "2"
    out.mkdir(parents=True)
    DeployRecord(str(run_dir), "2", str(out), {"temperature": 4.0, "alpha": 0.5},
                 dataset_provenance="Fashion-MNIST (real images, Debian dataset-fashion-mnist)",
                 stages={"teacher_logits": {"teacher": "efficientnet-lite0"},
                         "train": {"distilled": True, "float_accuracy": 0.80},
                         "train_baseline": {"distilled": False, "float_accuracy": 0.78},
                         "export": {"int8_accuracy": 0.795},
                         "codegen": {"arena_bytes": 30_000, "live_bytes_per_op": [20_000, 30_000, 12_000],
                                     "layers": [{"opcode": "CONV_2D", "output_shape": [1, 14, 14, 16], "macs": 10, "output_offset": 0},
                                                {"opcode": "DEPTHWISE_CONV_2D", "output_shape": [1, 7, 7, 16], "macs": 5},
                                                {"opcode": "FULLY_CONNECTED", "output_shape": [1, 10], "macs": 1}]},
                         "measure": {"measurement": {"latency_median": 2_500_000, "latency_unit": "instructions",
                                                     "peak_sram_bytes": 120_000, "flash_bytes": 140_000,
                                                     "bit_exact": True, "layer_latency": layer_latency or [],
                                                     "provenance": {"kind": "emulator", "board": "qemu-m7"}}}}).save()


def test_collect_run_marks_the_front_and_reads_the_deployed_winner(tmp_path):
    make_run(tmp_path)
    data = collect_run(tmp_path)
    assert data.run_id == "run-7" and data.dataset_provenance.startswith("Fashion-MNIST (real images")
    front = {row.candidate_id for row in data.candidates if row.on_front}
    assert front == {"1", "2"}  # 3 dominated by 2; 4 breaks the SRAM budget and is not on the front
    assert "emulator" in data.board and "instructions" in data.board
    assert [row.status for row in data.candidates].count("rejected") == 1
    # one hypervolume for a run: the report draws the search's own history (4 evaluations; the rejected spec
    # was never trained, the over-budget one counts as an evaluation that adds no volume)
    assert len(data.hypervolume) == 4 and data.hypervolume[-1][1] >= data.hypervolume[0][1] > 0
    assert data.hypervolume[-1][1] == data.hypervolume[-2][1]
    with RunStore.open(tmp_path) as store:
        constraints = Constraints(data.budgets)
        assert data.hypervolume == hypervolume_history(store.candidates(), reference_from_constraints(constraints),
                                                       constraints)
    assert "latency not in it" in data.hypervolume_note  # no latency budget: said, not silently dropped
    winner = data.winners[0]
    assert winner.kd["with_teacher"] - winner.kd["without_teacher"] == 0.80 - 0.78
    assert [layer.live_bytes for layer in winner.layers] == [20_000, 30_000, 12_000]


def test_report_command_writes_the_page(tmp_path):
    make_run(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text()
    assert "run-7" in html and "kernel 9 not in {3,5,7}" in html and "+2.00 points" in html


def test_the_report_shows_measured_per_layer_latency_beside_the_memory_plan(tmp_path):
    make_run(tmp_path, layer_latency=[{"index": 0, "op": "CONV_2D", "macs": 10, "latency": 1_500_000},
                                      {"index": 1, "op": "DEPTHWISE_CONV_2D", "macs": 5, "latency": 900_000},
                                      {"index": 2, "op": "FULLY_CONNECTED", "macs": 1, "latency": 99_960}])
    assert [layer.latency for layer in collect_run(tmp_path).winners[0].layers] == [1_500_000, 900_000, 99_960]
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text()
    assert "latency (instructions)" in html and "1,500,000" in html and "150000.00" in html and "60.0%" in html
    assert "Per-layer latency measured on emulator qemu-m7" in html and "2,499,960 of the 2,500,000 total" in html
    assert "not instrumented" not in html


def test_without_per_layer_latency_the_report_says_why(tmp_path):
    make_run(tmp_path)
    assert CliRunner().invoke(cli, ["report", str(tmp_path)]).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    assert "No per-layer latency was measured" in html and "latency (instructions)" not in html
