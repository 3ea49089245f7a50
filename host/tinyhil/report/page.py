"""One self-contained HTML page for a run: Pareto front, hypervolume versus evaluations, each winner's
measured metrics with provenance and units, its per-layer memory plan, saliency grids and the
distillation gain. Plots are inline SVG, images base64 PNG: the file needs nothing else to open.

`ReportData` is what the page shows; `collect_run` (report_collect.py) fills it from a run folder;
`render_report` only draws and substitutes.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..paths import TEMPLATE_DIR
from ..units import format_bytes, format_count

log = logging.getLogger(__name__)

REPORT_TEMPLATE_DIR = TEMPLATE_DIR / "report"


@dataclass
class CandidateRow:
    candidate_id: str
    status: str  # measured | failed | infeasible | ...
    accuracy: float | None = None  # int8 test accuracy when known, else float
    accuracy_kind: str = ""  # "int8 (reference interpreter)" / "float"
    macs: int | None = None
    peak_sram_bytes: int | None = None
    flash_bytes: int | None = None
    latency: int | None = None
    latency_unit: str = ""  # cycles | instructions
    provenance: str = ""  # "board nucleo-h743zi" / "emulator qemu-m7" / "analytic"
    reason: str = ""  # why it failed or was rejected
    on_front: bool = False
    accuracy_split: str = ""  # validation (what the search selects on) | test (runs made before the validation split)


@dataclass
class LayerRow:
    index: int
    opcode: str
    output_shape: str
    macs: int
    arena_offset: int | None
    live_bytes: int | None
    latency: int | None = None  # measured on the device (median over runs), in the winner's latency_unit
    mode: str = ""  # execution mode from the memory plan: plain / fused band[, in place / cascade] / in place / alias
    peak: bool = False  # the planned op with the most bytes alive


@dataclass
class Winner:
    candidate_id: str
    metrics: dict[str, Any]  # Measurement.to_dict() plus accuracies
    provenance: dict[str, Any]
    layers: list[LayerRow] = field(default_factory=list)
    arena_bytes: int | None = None
    saliency_pngs: list[tuple[str, Path]] = field(default_factory=list)  # (caption, file)
    faithfulness: dict[str, dict[str, float]] = field(default_factory=dict)
    float_int8_correlation: float | None = None
    kd: dict[str, Any] = field(default_factory=dict)  # with_teacher, without_teacher, teacher, temperature, alpha
    deploy_dir: str = ""
    architecture: str = ""  # compact text of the deployed spec
    training: str = ""  # how it was trained: epochs, images, teacher
    design: dict[str, Any] = field(default_factory=dict)  # the LLM's design explanation (or why there is none)
    deployed: bool = True  # measured on the board; False: the deploy stopped before (see stopped, finish_command)
    stopped: str = ""  # where and why an unfinished deploy stopped
    finish_command: str = ""  # what to run to finish it (finished stages are reused)


@dataclass
class ReportData:
    run_id: str
    dataset_provenance: str
    board: str
    candidates: list[CandidateRow]
    hypervolume: list[tuple[int, float]] = field(default_factory=list)  # (evaluations, hypervolume)
    hypervolume_note: str = ""  # objectives, normalisation, reference point
    winners: list[Winner] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budgets: dict[str, int] = field(default_factory=dict)  # hard constraints of the run: macs, peak_sram_bytes, ...
    generated_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG wants the element only


def _figure(width: float = 6.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # keep text as text: smaller and selectable
    return plt.subplots(figsize=(width, height))


# how each plotted resource is scaled and named on an axis
_AXES = {"macs": (1e6, "M MACs"), "peak_sram_bytes": (1024.0, "KiB"), "flash_bytes": (1024.0, "KiB")}


def _trade_off(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points not beaten in this 2-D view (less x and more accuracy), by x: the staircase a reader can follow.
    The front itself has more objectives, so some of its members sit below this line."""
    best, out = -1.0, []
    for x, y, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            out.append((x, y, name))
            best = y
    return out


def pareto_plot(candidates: list[CandidateRow], x_field: str, x_label: str, budget: float | None = None,
                deployed: set[str] | frozenset[str] = frozenset()) -> str:
    fig, ax = _figure()
    scale, unit = _AXES.get(x_field, (1.0, ""))
    measured = [c for c in candidates if c.accuracy is not None and getattr(c, x_field) is not None]
    xy = {c.candidate_id: (getattr(c, x_field) / scale, 100 * c.accuracy) for c in measured}
    others = [c.candidate_id for c in measured if not c.on_front]
    front = [c.candidate_id for c in measured if c.on_front]
    ax.scatter([xy[i][0] for i in others], [xy[i][1] for i in others], s=22, c="#9aa5b1", label="evaluated")
    if front:
        stairs = _trade_off([(*xy[i], i) for i in front])
        ax.step([p[0] for p in stairs], [p[1] for p in stairs], where="post", c="#d9480f", lw=1, alpha=0.6,
                label="best accuracy for its cost, this view")
        ax.scatter([xy[i][0] for i in front], [xy[i][1] for i in front], s=36, c="#d9480f", zorder=3,
                   label="Pareto front (all objectives)")
        for i in front:
            ax.annotate(i, xy[i], textcoords="offset points", xytext=(4, 4), fontsize=7)
    chosen = [i for i in deployed if i in xy]
    if chosen:
        ax.scatter([xy[i][0] for i in chosen], [xy[i][1] for i in chosen], s=160, marker="*", c="#7048e8",
                   zorder=4, label="deployed")
    if budget:
        ax.axvline(budget / scale, color="#c92a2a", ls="--", lw=1, label=f"budget {budget / scale:g} {unit}")
    ax.set_xlabel(f"{x_label} ({unit})" if unit else x_label)
    splits = sorted({c.accuracy_split or "test" for c in measured})
    ax.set_ylabel(f"{' / '.join(splits)} accuracy (%)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig)


def hypervolume_plot(points: list[tuple[int, float]]) -> str:
    fig, ax = _figure(6.0, 3.0)
    from matplotlib.ticker import MaxNLocator

    ax.plot([p[0] for p in points], [p[1] for p in points], "-o", c="#1c7ed6", ms=4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume")
    ax.grid(alpha=0.3)
    return _svg(fig)


_OP_COLOURS = {"CONV_2D": "#2b8a3e", "DEPTHWISE_CONV_2D": "#1c7ed6", "ADD": "#f08c00", "FULLY_CONNECTED": "#7048e8",
               "fused block": "#d6336c"}


def _colour_key(layer: LayerRow) -> str:
    return "fused block" if layer.mode.startswith("fused") else layer.opcode


def memory_plot(layers: list[LayerRow], arena_bytes: int | None) -> str:
    fig, ax = _figure(6.5, 3.0)
    colours = [_OP_COLOURS.get(_colour_key(layer), "#868e96") for layer in layers]
    ax.bar(range(len(layers)), [(layer.live_bytes or 0) / 1024 for layer in layers], color=colours)
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=op.lower()) for op, colour in _OP_COLOURS.items()
               if any(_colour_key(layer) == op for layer in layers)]
    if any(_colour_key(layer) not in _OP_COLOURS for layer in layers):
        handles.append(Patch(color="#868e96", label="other"))
    if arena_bytes:
        handles.append(ax.axhline(arena_bytes / 1024, color="#c92a2a", ls="--", lw=1,
                                  label=f"arena {format_bytes(arena_bytes)}"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: bars stay visible
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("operator # (the table below names each)")
    ax.set_ylabel("live activations (KiB)")
    ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def kd_plot(kd: dict[str, Any]) -> str:
    fig, ax = _figure(4.0, 2.4)
    labels = ["without teacher", "with teacher"]
    values = [100 * kd["without_teacher"], 100 * kd["with_teacher"]]
    bars = ax.barh(labels, values, color=["#9aa5b1", "#7048e8"])
    for bar, value in zip(bars, values):
        ax.text(value, bar.get_y() + bar.get_height() / 2, f" {value:.1f} %", va="center", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("test accuracy (%)")
    return _svg(fig)


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORT_TEMPLATE_DIR), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["bytes"] = lambda n: "—" if n is None else Markup(f'<span title="{int(n):,} bytes">{format_bytes(n)}</span>')
    env.filters["count"] = lambda n: "—" if n is None else format_count(n)
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.2f} %"
    env.filters["intsep"] = lambda n: "—" if n is None else f"{int(n):,}"
    return env


def render_report(data: ReportData, out_path: Path) -> Path:
    """Write the page; returns its path."""
    plots: dict[str, Any] = {}
    deployed = {w.candidate_id for w in data.winners if w.deployed}
    if any(c.accuracy is not None and c.macs is not None for c in data.candidates):
        plots["front_macs"] = Markup(pareto_plot(data.candidates, "macs", "MACs, analytic", data.budgets.get("macs"),
                                                 deployed))
    if any(c.accuracy is not None and c.peak_sram_bytes is not None for c in data.candidates):
        plots["front_sram"] = Markup(pareto_plot(data.candidates, "peak_sram_bytes", "peak SRAM, measured",
                                                 data.budgets.get("peak_sram_bytes"), deployed))
    if data.hypervolume:
        plots["hypervolume"] = Markup(hypervolume_plot(data.hypervolume))
    winners = []
    for winner in data.winners:
        winners.append({
            "w": winner,
            "memory_svg": Markup(memory_plot(winner.layers, winner.arena_bytes)) if winner.layers else None,
            "kd_svg": Markup(kd_plot(winner.kd)) if {"with_teacher", "without_teacher"} <= set(winner.kd) else None,
            "saliency": [(caption, png_data_uri(path)) for caption, path in winner.saliency_pngs if Path(path).exists()],
        })
    html = _environment().get_template("report.html.j2").render(data=data, plots=plots, winners=winners)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    log.info("report written to %s (%d bytes)", out_path, len(html))
    return out_path
