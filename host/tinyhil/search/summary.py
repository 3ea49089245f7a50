"""Tables and files at the end of a search: every candidate, the front (JSON and CSV), hypervolume versus
evaluations (CSV). Every number carries its unit and where it came from."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from rich.table import Table

from ..units import format_bytes, format_count
from .pareto import Constraints, reference_from_constraints
from .store import Candidate

UNITS = {
    "accuracy": "fraction correct on the split named in accuracy_split: validation = images held out of the training "
                "split (what the search selects on); test only in runs made before the validation split",
    "rung": "multi-fidelity rung whose accuracy this is (0 = 1/eta^(rungs-1) of the proxy budget, the last = all of it); "
            "always 0 in single-fidelity runs (one rung: the whole budget)",
    "proxy_budget_fraction": "part of the proxy training budget the accuracy was measured after",
    "macs": "multiply-accumulates per inference (analytic)",
    "params": "parameters (analytic)",
    "peak_sram_bytes": "bytes, measured: static RAM (.data+.bss, arena included) + stack high-water",
    "flash_bytes": "bytes, measured: .text+.rodata+.data of the firmware ELF",
    "latency": "median per inference, unit in latency_unit (cycles on a board, instructions on QEMU)",
}
FRONT_COLUMNS = ("candidate_id", "accuracy", "accuracy_split", "accuracy_kind", "rung", "proxy_budget_fraction", "macs", "peak_sram_bytes", "flash_bytes", "latency",
                 "latency_unit", "source", "board", "firmware_sha256")


def source_of(candidate: Candidate) -> str:
    """'emulator qemu-m7' / 'board nucleo-h743zi' for measured numbers; 'analytic' otherwise."""
    provenance = candidate.provenance
    if provenance.get("kind"):
        return f"{provenance['kind']} {provenance.get('board', '?')}"
    return "analytic"


def front_rows(front: Sequence[Candidate]) -> list[dict[str, Any]]:
    rows = []
    for c in front:
        m = c.metrics
        rows.append({"candidate_id": c.id, "accuracy": m.get("accuracy"), "accuracy_split": c.accuracy_split,
                     "accuracy_kind": m.get("accuracy_kind"), "rung": m.get("rung"),
                     "proxy_budget_fraction": m.get("proxy_budget_fraction"),
                     "macs": m.get("macs"), "peak_sram_bytes": m.get("peak_sram_bytes"),
                     "flash_bytes": m.get("flash_bytes"), "latency": m.get("latency"),
                     "latency_unit": m.get("latency_unit"), "source": source_of(c),
                     "board": c.provenance.get("board"), "firmware_sha256": c.provenance.get("firmware_sha256")})
    return rows


def write_front(run_dir: Path, front: Sequence[Candidate], hypervolume: list[tuple[int, float]],
                hypervolume_note: str) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"json": run_dir / "front.json", "csv": run_dir / "front.csv", "hypervolume": run_dir / "hypervolume.csv"}
    payload = {"units": UNITS, "hypervolume_note": hypervolume_note,
               "front": [{**row, "spec": c.spec, "metrics": c.metrics, "provenance": c.provenance}
                         for row, c in zip(front_rows(front), front)]}
    paths["json"].write_text(json.dumps(payload, indent=2, default=str))
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FRONT_COLUMNS)
        writer.writeheader()
        writer.writerows(front_rows(front))
    with paths["hypervolume"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["evaluations", "hypervolume"])
        writer.writerows(hypervolume)
    return paths


def _cell(value: Any, formatter: Any = str) -> str:
    return "-" if value is None else formatter(value)


def rung_text(candidate: Candidate) -> str:
    """'1/2 ↑' (completed rung 1 of 0..2, training on), '0/2' (stopped at rung 0), '-' (single fidelity)."""
    m = candidate.metrics
    if m.get("rung") is None or m.get("rungs", 1) <= 1:
        return "-"
    return f"{m['rung']}/{m['rungs'] - 1}" + (" ↑" if m.get("rung_pending") is not None else "")


def accuracy_caption(candidates: Sequence[Candidate]) -> str:
    """What the accuracy column holds: which split, said once for the table."""
    splits = sorted({c.accuracy_split for c in candidates if c.accuracy_split})
    if splits == ["test"]:
        where = "TEST split (this run predates the validation split: it was selected on test accuracy)"
    elif "test" in splits:
        where = "validation or TEST split (see each candidate's accuracy_split)"
    else:
        where = "validation split (held out of training; the test split is for deployed models)"
    text = f"accuracy: int8 top-1 from the reference interpreter (float if no int8 export), {where}"
    if any(c.metrics.get("rungs", 1) > 1 for c in candidates):
        text += ("; rung: the last multi-fidelity rung completed / the last rung (↑ training on); accuracy is "
                 "after that rung's share of the proxy budget")
    return text


def candidates_table(candidates: Sequence[Candidate], front_ids: set[int], title: str) -> Table:
    table = Table(title=title, title_justify="left", caption_justify="left",
                  caption=accuracy_caption(candidates) + "; peak SRAM = static RAM + stack high-water (measured); "
                          "flash = .text+.rodata+.data of the ELF (measured)")
    for name, justify in (("id", "right"), ("status", "left"), ("rung", "left"), ("accuracy", "right"), ("MACs (analytic)", "right"),
                          ("peak SRAM", "right"), ("flash", "right"), ("latency", "right"), ("source", "left"),
                          ("stage / reason", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in candidates:
        m = c.metrics
        latency = None if m.get("latency") is None else f"{format_count(m['latency'])} {m.get('latency_unit', '?')}"
        status = c.status + (" *front*" if c.id in front_ids else "")
        reason = f"{c.stage}: {c.reason}" if c.reason else ""
        table.add_row(str(c.id), status, rung_text(c), _cell(m.get("accuracy"), lambda v: f"{v:.4f}"), _cell(m.get("macs"), format_count),
                      _cell(m.get("peak_sram_bytes"), format_bytes), _cell(m.get("flash_bytes"), format_bytes),
                      latency or "-", source_of(c) if m.get("peak_sram_bytes") is not None else "analytic",
                      reason if len(reason) <= 200 else reason[:199] + "…")
    return table


def hypervolume_note(constraints: Constraints) -> str:
    return reference_from_constraints(constraints).describe()
