"""Fill a ReportData from a run folder: candidates from the run store, deployed winners from
deploy/<candidate>/metrics.json (written by tinyhil deploy)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .deploy import DeployRecord
from .report import CandidateRow, LayerRow, ReportData, Winner

log = logging.getLogger(__name__)


def winner_from_record(record: DeployRecord) -> Winner:
    stages = record.stages
    measured = stages.get("measure", {}).get("measurement", {})
    export = stages.get("export", {})
    train, baseline = stages.get("train", {}), stages.get("train_baseline", {})
    metrics: dict[str, Any] = {k: v for k, v in measured.items() if k not in ("provenance", "outputs")}
    metrics["int8_accuracy"] = export.get("int8_accuracy")
    metrics["float_accuracy"] = train.get("float_accuracy", export.get("float_accuracy"))
    codegen = stages.get("codegen", {})
    live = codegen.get("live_bytes_per_op", [])
    latency = {int(row["index"]): int(row["latency"]) for row in measured.get("layer_latency", []) or []}
    layers = [LayerRow(index=i, opcode=str(layer.get("opcode", "?")), output_shape=_shape_text(layer),
                       macs=int(layer.get("macs", 0) or 0), arena_offset=layer.get("output_offset"),
                       live_bytes=live[i] if i < len(live) else None, latency=latency.get(i))
              for i, layer in enumerate(codegen.get("layers", []))]
    kd: dict[str, Any] = {}
    if train.get("distilled") and baseline:
        teacher = stages.get("teacher_logits", {})
        kd = {"with_teacher": train["float_accuracy"], "without_teacher": baseline["float_accuracy"],
              "teacher": teacher.get("teacher", "?"), "temperature": record.config.get("temperature"),
              "alpha": record.config.get("alpha"), "accuracy_kind": "float test accuracy, PyTorch"}
    explain = stages.get("explain", {})
    saliency = []
    if explain.get("overview"):
        saliency.append(("one test image per class: input, float attributions, int8 occlusion", Path(explain["overview"])))
    saliency += [(f"class {name}", Path(path)) for name, path in explain.get("grids", {}).items()]
    provenance = dict(measured.get("provenance", {}))
    if record.failed_stage:
        provenance["deploy"] = f"stopped at stage {record.failed_stage}: {record.error}"
    return Winner(record.candidate_id, metrics, provenance, layers, codegen.get("arena_bytes"), saliency,
                  explain.get("faithfulness", {}), explain.get("float_int8_occlusion_correlation"), kd, record.out_dir)


def _shape_text(layer: dict[str, Any]) -> str:
    shape = layer.get("output_shape")
    return "x".join(str(d) for d in shape) if isinstance(shape, (list, tuple)) else str(shape or "")


def collect_winners(run_dir: Path) -> list[Winner]:
    winners = []
    for metrics in sorted(Path(run_dir).glob("deploy/*/metrics.json")):
        try:
            winners.append(winner_from_record(DeployRecord.load(metrics)))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("skipping %s: not a deploy record (%s)", metrics, exc)
    return winners


def _provenance_text(provenance: dict[str, Any]) -> str:
    if not provenance:
        return ""
    kind, board = provenance.get("kind", ""), provenance.get("board", "")
    return f"{kind} {board}".strip() or ", ".join(f"{k}={v}" for k, v in provenance.items())


def _row(candidate: Any, on_front: bool) -> CandidateRow:
    m = candidate.metrics
    accuracy = m.get("accuracy")
    kind = m.get("accuracy_kind") or ("float" if accuracy is not None else "")
    return CandidateRow(str(candidate.id), candidate.status, accuracy, kind, m.get("macs"), m.get("peak_sram_bytes"),
                        m.get("flash_bytes"), m.get("latency"), m.get("latency_unit", ""),
                        _provenance_text(candidate.provenance), candidate.reason, on_front)


def _hypervolume_curve(measured: list[Any], bounds: dict[str, Any]) -> tuple[list[tuple[int, float]], str]:
    from .search.pareto import Constraints, reference_from_constraints

    observed = {name: max((c.metrics.get(name) or 0) for c in measured) for name in
                ("macs", "peak_sram_bytes", "flash_bytes", "latency")} if measured else {}
    # an objective without a budget is normalised by the worst value seen, so that it still counts
    scales = {name: bounds.get(name) or (1.05 * value if value else None) for name, value in observed.items()}
    reference = reference_from_constraints(Constraints(scales))
    curve = [(i + 1, reference.hypervolume([c.metrics for c in measured[: i + 1]])) for i in range(len(measured))]
    note = (reference.describe() + ". Budgets from the run where set; otherwise 1.05 x the worst measured value."
            " Each point: the hypervolume of the feasible candidates measured so far.")
    return curve, note


def collect_run(run_dir: Path) -> ReportData:
    from .search.pareto import Constraints, pareto_front
    from .search.store import RunStore

    run_dir = Path(run_dir)
    with RunStore.open(run_dir) as store:
        run_id, config, info, candidates = store.run_id(), store.config(), store.info(), store.candidates()
    bounds = {k: v for k, v in (info.get("budgets") or config.get("budgets") or {}).items() if v}
    measured = [c for c in candidates if c.status == "measured" and Constraints(bounds).feasible(c.metrics)]
    front_ids = {measured[i].id for i in pareto_front([c.metrics for c in measured])}
    curve, note = _hypervolume_curve(measured, bounds)
    winners = collect_winners(run_dir)
    dataset = (info.get("dataset_provenance") or next(iter(_deploy_datasets(run_dir)), "")
               or str(config.get("dataset", "unknown dataset")))
    board = info.get("board") or config.get("board", "")
    if isinstance(board, dict):
        board = f"{board.get('name', '?')} ({board.get('kind', '?')}, {board.get('cpu', '?')}, latency in {board.get('latency_unit', '?')})"
    data = ReportData(run_id, dataset, str(board), [_row(c, c.id in front_ids) for c in candidates], curve, note, winners)
    if bounds:
        data.notes.append("Budgets: " + ", ".join(f"{k} <= {v:,}" for k, v in bounds.items()) +
                          ". Candidates over a budget are kept in the table and left off the front.")
    if not winners:
        data.notes.append(f"No candidate deployed yet: `tinyhil deploy {run_dir} --candidate ID` adds its "
                          "measured metrics, memory plan, saliency and distillation gain here.")
    return data


def _deploy_datasets(run_dir: Path) -> list[str]:
    return [DeployRecord.load(p).dataset_provenance for p in sorted(Path(run_dir).glob("deploy/*/metrics.json"))]
