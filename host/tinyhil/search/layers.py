"""Per-layer hardware feedback: the measured latency of each generated layer next to the activation memory the
memory planner keeps alive while it runs, and the compact text the LLM proposer reads.

Latency per layer comes from the device (the firmware stamps the clock after every layer; instructions on QEMU,
cycles on silicon); live bytes come from tinyhil.codegen.planner, the same plan the generated C uses, so the
largest entry is the arena's peak.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..units import format_bytes, format_count


def layer_table(tflite: Path | str, layer_latency: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per generated layer: index, op, output shape (HxWxC), MACs, measured latency and planned live bytes. Empty
    when the firmware reported no per-layer stamps."""
    if not layer_latency:
        return []
    from ..codegen.fuse import fuse_pads
    from ..codegen.planner import plan_memory
    from ..codegen.reader import read_tflite

    graph = fuse_pads(read_tflite(Path(tflite)))
    live = plan_memory(graph).live_bytes_per_op
    table = []
    for row in layer_latency:
        i = int(row["index"])
        op = graph.operators[i] if i < len(graph.operators) else None
        shape = list(graph.tensor(op.outputs[0]).shape[1:]) if op is not None else []
        table.append({"index": i, "op": row.get("op") or (op.opcode if op else "?"), "output_shape": shape,
                      "macs": row.get("macs"), "latency": int(row["latency"]),
                      "live_bytes": int(live[i]) if i < len(live) else None})
    return table


def dominant_layers(layers: Sequence[dict[str, Any]], top: int = 3) -> list[dict[str, Any]]:
    """The `top` layers by measured latency, slowest first."""
    return sorted(layers, key=lambda row: (-int(row["latency"]), int(row["index"])))[:top]


def describe_layers(layers: Sequence[dict[str, Any]], latency_unit: str, top: int = 3) -> str:
    """'slowest layers: #7 CONV_2D 16x16x48 (2.10 M MACs) 38 % of latency, 96.0 KiB live; ...; latency is
    dominated by #7 CONV_2D; peak live memory 120.0 KiB at #3 DEPTHWISE_CONV_2D 32x32x24'."""
    if not layers:
        return ""
    total = sum(int(row["latency"]) for row in layers) or 1

    def name(row: dict[str, Any]) -> str:
        shape = "x".join(str(d) for d in row.get("output_shape") or [])
        return f"#{row['index']} {row['op']}" + (f" {shape}" if shape else "")

    parts = []
    for row in dominant_layers(layers, top):
        text = f"{name(row)}"
        if row.get("macs") is not None:
            text += f" ({format_count(row['macs'])} MACs)"
        text += f" {100 * int(row['latency']) / total:.0f} % of latency ({format_count(row['latency'])} {latency_unit})"
        if row.get("live_bytes") is not None:
            text += f", {format_bytes(row['live_bytes'])} live"
        parts.append(text)
    slowest = dominant_layers(layers, 1)[0]
    summary = (f"slowest layers of {len(layers)}: " + "; ".join(parts) +
               f". Latency is dominated by {name(slowest)}")
    with_memory = [row for row in layers if row.get("live_bytes") is not None]
    if with_memory:
        peak = max(with_memory, key=lambda row: (int(row["live_bytes"]), -int(row["index"])))
        summary += f"; peak live activation memory {format_bytes(peak['live_bytes'])} at {name(peak)}"
    return summary
