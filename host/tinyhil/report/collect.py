"""Fill a ReportData from a run folder: candidates from the run store, deployed winners from
deploy/<candidate>/metrics.json (written by tinyhil deploy)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..deploy.pipeline import DeployRecord
from ..units import format_bytes, format_count
from .page import CandidateRow, LayerRow, ReportData, Winner

log = logging.getLogger(__name__)


def winner_from_record(record: DeployRecord) -> Winner:
    stages = record.stages
    measured = stages.get("measure", {}).get("measurement", {})
    export = stages.get("export", {})
    train, baseline = stages.get("train", {}), stages.get("train_baseline", {})
    metrics: dict[str, Any] = {k: v for k, v in measured.items() if k not in ("provenance", "outputs")}
    metrics["int8_accuracy"] = export.get("int8_accuracy")
    metrics["int8_test_images"] = export.get("test_images")
    metrics["float_accuracy"] = train.get("float_accuracy", export.get("float_accuracy"))
    codegen = stages.get("codegen", {})
    live = codegen.get("live_bytes_per_op", [])
    latency = {int(row["index"]): int(row["latency"]) for row in measured.get("layer_latency", []) or []}
    peak = max(range(len(live)), key=lambda i: live[i]) if live else None
    layers = [LayerRow(index=i, opcode=_layer_op(layer), output_shape=_shape_text(layer),
                       macs=int(layer.get("macs", 0) or 0), arena_offset=layer.get("output_offset"),
                       live_bytes=live[i] if i < len(live) else None, latency=latency.get(i),
                       mode=str(layer.get("mode", "")), peak=i == peak)
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
    if layers:
        metrics["macs"] = sum(layer.macs for layer in layers)
    return Winner(record.candidate_id, metrics, provenance, layers, codegen.get("arena_bytes"), saliency,
                  explain.get("faithfulness", {}), explain.get("float_int8_occlusion_correlation"), kd, record.out_dir,
                  architecture_text(record.spec), _training_text(record, stages), stages.get("design", {}),
                  deployed=record.measured, stopped="" if record.measured else _stopped_text(record),
                  finish_command=record.command or f"tinyhil deploy {record.run_dir} --candidate {record.candidate_id}")


def _stopped_text(record: DeployRecord) -> str:
    if record.failed_stage:
        return f"stopped at stage '{record.failed_stage}': {record.error}"
    finished = [name for name in record.stages if name != "load"]
    after = f"after stage '{finished[-1]}'" if finished else "before training finished"
    return f"stopped {after} (interrupted: no error was recorded)"


def architecture_text(spec: dict[str, Any]) -> str:
    """'32 px · stem 8 ch k5 s2 · 3x ir(40 ch, k3, e3, s2, SE 0.25, hswish) · ... · head 512 ch', from a spec dict;
    hswish is marked as the deployed form of swish."""
    if not spec:
        return ""
    parts = [f"{spec.get('resolution', '?')} px",
             f"stem {spec.get('stem_channels', '?')} ch k{spec.get('stem_kernel', '?')} s{spec.get('stem_stride', '?')}"
             if spec.get("stem_channels", 1) else "no stem"]
    for stage in spec.get("stages", []):
        extra = f", e{stage.get('expand', 1)}" if stage.get("block") == "ir" else ""
        extra += f", SE {stage['se_ratio']:g}" if stage.get("se_ratio") else ""
        extra += f", skip {stage['skip']}" if stage.get("skip") else ""
        activation = stage.get("activation", "relu6")
        extra += ", hswish (swish deployed as hard-swish)" if activation == "hswish" else f", {activation}"
        parts.append(f"{stage.get('depth', '?')}x {stage.get('block', '?')}({stage.get('out_channels', '?')} ch, "
                     f"k{stage.get('kernel', '?')}{extra}, s{stage.get('stride', '?')})")
    if spec.get("head_channels"):
        parts.append(f"head {spec['head_channels']} ch")
    return " · ".join(parts)


def _training_text(record: DeployRecord, stages: dict[str, Any]) -> str:
    train, teacher = stages.get("train", {}), stages.get("teacher_logits", {})
    text = f"{train.get('epochs', '?')} epochs on {stages.get('load', {}).get('train_samples', '?')} training images"
    if train.get("distilled") and teacher:
        accuracy = teacher.get("teacher_test_accuracy")
        text += (f", distilled from {teacher.get('teacher', '?')}"
                 + (f" ({100 * accuracy:.2f} % float test accuracy)" if accuracy is not None else "")
                 + f", T = {teacher.get('temperature', '?')}, alpha = {teacher.get('alpha', '?')}")
    else:
        text += ", no teacher"
    return text


def _layer_op(layer: dict[str, Any]) -> str:
    """The op, or for a fused block the ops it runs (emit.LayerSummary.runs, '|' between cascaded blocks)."""
    from ..codegen.plan_report import runs_text

    runs = layer.get("runs") or []
    return runs_text([str(r) for r in runs]) if runs else str(layer.get("opcode", "?"))


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
    split = candidate.accuracy_split or ""
    if split == "test":  # a store from before the validation split: its accuracies are test-split ones
        kind += ", TEST split (selected on it: the run predates the validation split)"
    return CandidateRow(str(candidate.id), candidate.status, accuracy, kind, m.get("macs"), m.get("peak_sram_bytes"),
                        m.get("flash_bytes"), m.get("latency"), m.get("latency_unit", ""),
                        _provenance_text(candidate.provenance), candidate.reason, on_front, split)


def _hypervolume_curve(candidates: list[Any], bounds: dict[str, Any]) -> tuple[list[tuple[int, float]], str]:
    """The search's own hypervolume history (same reference, same order), so the report and the search agree."""
    from ..search.loop import hypervolume_history
    from ..search.pareto import Constraints, reference_from_constraints

    constraints = Constraints(bounds)
    reference = reference_from_constraints(constraints)
    curve = hypervolume_history(candidates, reference, constraints)
    note = (reference.describe() + ". Each point: the hypervolume of the feasible candidates measured after that many "
            "evaluations (failed evaluations count; candidates rejected before training do not).")
    return curve, note


def _budget_text(name: str, value: int) -> str:
    labels = {"peak_sram_bytes": "peak SRAM", "flash_bytes": "flash"}
    if name.endswith("_bytes"):
        return f"{labels.get(name, name.removesuffix('_bytes').replace('_', ' '))} ≤ {format_bytes(value)}"
    if name == "macs":
        return f"MACs ≤ {format_count(value)} per inference (analytic)"
    return f"{name} ≤ {value:,}"


def collect_run(run_dir: Path) -> ReportData:
    from ..search.pareto import Constraints, pareto_front
    from ..search.store import RunStore

    run_dir = Path(run_dir)
    with RunStore.open(run_dir) as store:
        run_id, config, info, candidates = store.run_id(), store.config(), store.info(), store.candidates()
        on_test = store.selected_on_test_split()
    bounds = {k: v for k, v in (info.get("budgets") or config.get("budgets") or {}).items() if v}
    measured = [c for c in candidates if c.status == "measured" and Constraints(bounds).feasible(c.metrics)]
    front_ids = {measured[i].id for i in pareto_front([c.metrics for c in measured])}
    curve, note = _hypervolume_curve(candidates, bounds)
    winners = collect_winners(run_dir)
    dataset = (info.get("dataset_provenance") or next(iter(_deploy_datasets(run_dir)), "")
               or str(config.get("dataset", "unknown dataset")))
    board = info.get("board") or config.get("board", "")
    if isinstance(board, dict):
        board = f"{board.get('name', '?')} ({board.get('kind', '?')}, {board.get('cpu', '?')}, latency in {board.get('latency_unit', '?')})"
    data = ReportData(run_id, dataset, str(board), [_row(c, c.id in front_ids) for c in candidates], curve, note, winners)
    if bounds:
        data.budgets = dict(bounds)
        data.notes.append("Budgets: " + ", ".join(_budget_text(k, v) for k, v in bounds.items()) +
                          ". Candidates over a budget are kept in the table and left off the front.")
    if on_test:
        data.notes.append("This run was made before the search had a validation split: its candidates were ranked and "
                          "selected on TEST-split accuracy, so their accuracies (and the front) are optimistic.")
    else:
        data.notes.append("Candidate accuracies are on the validation part held out of the training split (what the "
                          "search selected on); test-split accuracy is measured only for deployed models.")
    if not any(w.deployed for w in winners):
        data.notes.append(f"No candidate deployed yet: `tinyhil deploy {run_dir} --candidate ID` adds its "
                          "measured metrics, memory plan, saliency and distillation gain here.")
    return data


def _deploy_datasets(run_dir: Path) -> list[str]:
    return [DeployRecord.load(p).dataset_provenance for p in sorted(Path(run_dir).glob("deploy/*/metrics.json"))]
