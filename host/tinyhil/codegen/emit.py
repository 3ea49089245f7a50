"""Generate model.c / model.h / CMakeLists.txt for one int8 .tflite: read -> lower -> plan -> render.
Python computes every integer into a typed context; the jinja2 templates only substitute and loop."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ..errors import ModelError
from ..paths import SOURCE_ROOT, TEMPLATE_DIR
from .fuse import CHAIN_ROLES
from .ir import Graph
from .lower import Layer, lower
from .planner import MemoryPlan, plan_memory
from .reader import _load_bytes, read_tflite

log = logging.getLogger(__name__)

GENERATOR_VERSION = "tinyhil-codegen 0.1"
KERNELS_DIR = SOURCE_ROOT / "firmware" / "kernels"
_TEMPLATES = TEMPLATE_DIR / "c"


@dataclass
class LayerSummary:
    index: int
    opcode: str
    kernel: str
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    macs: int
    input_offsets: list[int]  # arena offsets; -1 for a constant operand read from flash
    output_offset: int
    mode: str = "plain"  # planner.EXECUTION_MODES: plain / fused band[, in place] / in place / alias
    live_bytes: int = 0  # arena bytes alive while it runs (activations + its scratch), from the plan
    runs: tuple[str, ...] = ()  # a fused block: the operators it runs, in order


@dataclass
class GeneratedModel:
    out_dir: Path
    c_sources: list[Path]
    header: Path
    arena_bytes: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_bytes: int
    output_bytes: int
    input_quant: tuple[float, int]
    output_quant: tuple[float, int]
    model_hash: str
    plan: MemoryPlan
    layers: list[LayerSummary] = field(default_factory=list)
    runtime: str = "native"
    golden_test: Path | None = None
    weight_bytes: int = 0  # const arrays (weights, biases, multipliers) the generated C puts in flash
    fusion: str = "auto"  # the planner's fusion mode (planner.FUSION_MODES)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


_CTYPE_BYTES = {"int8_t": 1, "int16_t": 2, "int32_t": 4}


def _rows(values: np.ndarray, per_row: int = 16) -> list[str]:
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    return [", ".join(flat[i:i + per_row]) + "," for i in range(0, len(flat), per_row)]


_OCTAL = [f"\\{b:03o}" for b in range(256)]


def _byte_rows(values: np.ndarray, per_row: int = 32) -> list[str]:
    """int8 data as string-literal rows of octal escapes (the rows concatenate into one literal of exactly the array's
    length, so no terminating NUL is stored; C allows it for a character array): gcc reads a string several times
    faster than a list of numbers, which was most of a large model's build (host and firmware); the bytes are the same."""
    flat = np.asarray(values).astype(np.int8).ravel().view(np.uint8)
    return ['"' + "".join(_OCTAL[b] for b in flat[i:i + per_row]) + '"' for i in range(0, len(flat), per_row)]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _field_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(str(int(v)) for v in value) + "}"
    return str(value)


def in_place_kernel(function: str) -> str:
    """The in-place twin of a depthwise kernel (planner._can_run_depthwise_in_place): th_X_s8 -> th_X_inplace_s8."""
    return function.removesuffix("_s8") + "_inplace_s8"


def _arena(offset: int) -> str:
    return f"tinyhil_arena + {offset}"


def _layer_context(graph: Graph, layer: Layer, plan: MemoryPlan) -> dict[str, Any]:
    in_offsets = [plan.offsets[t] for t in layer.inputs if t not in layer.const_inputs]
    out_offset = plan.offsets[layer.output]
    out_t = graph.tensor(layer.output)
    def place(t: int) -> str:
        if t in layer.const_inputs:
            return f"flash {layer.const_inputs[t]}"
        return f"arena[{plan.offsets[t]}..{plan.offsets[t] + graph.tensor(t).nbytes})"

    comment = [f"in  {graph.tensor(t).shape} @ {place(t)}" for t in layer.inputs]
    comment.append(f"out {out_t.shape} @ arena[{out_offset}..{out_offset + out_t.nbytes})")
    in_place = layer.index in plan.in_place_ops
    kernel = in_place_kernel(layer.function) if in_place else layer.function
    comment.append(f"kernel {kernel}, {layer.macs} MACs; {plan.modes.get(layer.index, 'plain')}")
    args_name = f"layer{layer.index}_args"
    if layer.args_type is None:
        call = f"{layer.function}({out_t.nbytes}, {_arena(in_offsets[0])}, {_arena(out_offset)})"
        if layer.alias_of_input and in_offsets[0] == out_offset:
            comment.append("output aliases the input: the copy is a no-op")
    elif in_place:
        scratch = plan.scratch_offsets[layer.index]
        call = f"{kernel}(&{args_name}, {_arena(out_offset)}, {_arena(scratch)})"
        comment.append(f"in place over its input; row scratch @ arena[{scratch}..{scratch + plan.scratch_sizes[layer.index]})")
    else:
        inputs = [layer.const_inputs.get(t) or _arena(plan.offsets[t]) for t in layer.inputs]
        if layer.inputs_as_array:  # a C99 compound literal: the kernel takes `const int8_t *const *inputs`
            inputs = ["(const int8_t *const[]){" + ", ".join(inputs) + "}"]
        arguments = [f"&{args_name}", *inputs, _arena(out_offset)]
        if layer.function == "th_mbconv_fused_s8" and len(in_offsets) == 1:
            arguments.insert(2, "NULL")  # no residual operand
        if layer.takes_scratch:
            scratch = plan.scratch_offsets[layer.index]
            arguments.append(_arena(scratch))
            comment.append(f"scratch @ arena[{scratch}..{scratch + plan.scratch_sizes[layer.index]})")
        call = f"{layer.function}({', '.join(arguments)})"
    return {"index": layer.index, "opcode": layer.opcode, "comment": comment, "args_type": layer.args_type,
            "args_name": args_name, "fields": [(k, _field_value(v)) for k, v in layer.fields.items()],
            "structs": [{"ctype": s.ctype, "name": s.name, "fields": [(k, _field_value(v)) for k, v in s.fields.items()]}
                        for s in layer.structs],
            "arrays": [{"ctype": a.ctype, "name": a.name, "length": int(np.asarray(a.values).size),
                        "rows": _byte_rows(a.values) if a.ctype == "int8_t" else _rows(a.values)}
                       for a in layer.arrays],
            "call": call}


def generate(src: bytes | Path, out_dir: Path, runtime: str = "native",
             golden_input: np.ndarray | None = None, fusion: str = "auto",
             arena_limit_bytes: int | None = None) -> GeneratedModel:
    """Write model.c, model.h and CMakeLists.txt (target `tinyhil_model`) for an int8 .tflite.

    golden_input: optional int8 input; then golden_test.c checks the output the TFLM reference gives.
    fusion: planner.FUSION_MODES; "auto" runs inverted-residual blocks fused where that lowers the peak; "fit" the
    fastest plan whose arena is at most arena_limit_bytes."""
    if runtime == "tflm":
        if fusion == "fit":
            raise ModelError("--fusion fit plans tinyhil's own arena: it needs --runtime native")
        from .tflm_backend import generate_tflm  # the optional interpreter backend
        return generate_tflm(src, out_dir)
    if runtime != "native":
        raise ModelError(f"unknown runtime '{runtime}': use 'native' (generated C) or 'tflm'")
    blob = _load_bytes(src)
    plan = plan_memory(read_tflite(blob), fusion=fusion, arena_limit_bytes=arena_limit_bytes)
    graph = plan.graph  # the schedule the plan is for: PADs folded, the chosen blocks fused
    assert graph is not None
    layers = lower(graph)
    model_hash = hashlib.sha256(blob).hexdigest()
    x, y = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    context = {
        "generator_version": GENERATOR_VERSION, "model_hash": model_hash, "runtime": "native",
        "input_bytes": x.nbytes, "output_bytes": y.nbytes, "arena_bytes": plan.arena_bytes,
        "input_shape": x.shape, "output_shape": y.shape,
        "input_scale": x.quant.scale[0], "input_zero_point": x.quant.zero_point[0],
        "output_scale": y.quant.scale[0], "output_zero_point": y.quant.zero_point[0],
        "input_offset": plan.offsets[graph.inputs[0]], "output_offset": plan.offsets[graph.outputs[0]],
        "layers": [_layer_context(graph, layer, plan) for layer in layers],
        "total_macs": sum(layer.macs for layer in layers), "kernels_dir": KERNELS_DIR.as_posix(),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    for name in ("model.c", "model.h", "CMakeLists.txt"):
        (out_dir / name).write_text(env.get_template(f"{name}.j2").render(**context))
    golden_path = None
    if golden_input is not None:
        golden_path = _write_golden(env, context, blob, golden_input, out_dir)
    summaries = [LayerSummary(layer.index, layer.opcode,
                              in_place_kernel(layer.function) if layer.index in plan.in_place_ops else layer.function,
                              [graph.tensor(t).shape for t in layer.inputs], graph.tensor(layer.output).shape,
                              layer.macs, [plan.offsets.get(t, -1) for t in layer.inputs], plan.offsets[layer.output],
                              plan.modes.get(layer.index, "plain"), plan.live_bytes_per_op[layer.index],
                              _runs(graph.operators[layer.index]))
                 for layer in layers]
    generated = GeneratedModel(out_dir=out_dir, c_sources=[out_dir / "model.c"], header=out_dir / "model.h",
                               arena_bytes=plan.arena_bytes, input_shape=x.shape, output_shape=y.shape,
                               input_bytes=x.nbytes, output_bytes=y.nbytes,
                               input_quant=(x.quant.scale[0], x.quant.zero_point[0]),
                               output_quant=(y.quant.scale[0], y.quant.zero_point[0]),
                               model_hash=model_hash, plan=plan, layers=summaries, golden_test=golden_path, fusion=fusion,
                               weight_bytes=sum(int(np.asarray(a.values).size) * _CTYPE_BYTES[a.ctype]
                                                for layer in layers for a in layer.arrays))
    log.info("generated %s: %d layers, arena %d bytes (%d with every block plain)", out_dir, len(layers),
             plan.arena_bytes, plan.unfused_arena_bytes)
    return generated


def _runs(op: Any) -> tuple[str, ...]:
    """A fused block (or cascade of them): the operators it runs, in order; () for any other op."""
    if op.opcode != "FUSED_MBCONV":
        return ()
    upstream = op.options.get("upstream")
    own = tuple(op.options[role].opcode for role in CHAIN_ROLES if op.options[role] is not None)
    return (*(_runs(upstream) + ("|",) if upstream is not None else ()), *own)


def _write_golden(env: jinja2.Environment, context: dict[str, Any], blob: bytes, golden_input: np.ndarray,
                  out_dir: Path) -> Path:
    from .reference import ReferenceInterpreter

    reference = ReferenceInterpreter(blob)
    x = np.asarray(golden_input, dtype=np.int8).reshape(reference.input_shape)
    expected = reference.invoke(x)
    path = out_dir / "golden_test.c"
    path.write_text(env.get_template("golden_test.c.j2").render(
        **context, input_rows=_rows(x), output_rows=_rows(expected)))
    return path
