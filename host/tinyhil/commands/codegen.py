"""`tinyhil codegen MODEL.tflite -o DIR`: generate the C runtime for an int8 model and print its plan."""

from __future__ import annotations

from pathlib import Path

import click

from ..codegen.planner import FUSION_MODES


@click.command("codegen")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for model.c, model.h and CMakeLists.txt (target tinyhil_model).")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native", show_default=True,
              help="native: generated C kernels; tflm: TFLM interpreter glue (needs TFLM sources to build).")
@click.option("--golden/--no-golden", default=False, show_default=True,
              help="Also write golden_test.c: one random input and the TFLM reference's output for it.")
@click.option("--fusion", type=click.Choice(FUSION_MODES), default="auto", show_default=True,
              help="auto: run inverted-residual blocks fused (a band of rows at a time) where that lowers the peak "
                   "SRAM; off: every block plain; all: every fusable block fused; fit: the fastest plan whose arena "
                   "is at most --arena-limit.")
@click.option("--arena-limit", help="With --fusion fit: the arena the plan may use, e.g. 300KiB (the board's SRAM "
                                    "budget less its other RAM; `tinyhil bench --fusion fit` measures that itself).")
@click.option("--check-host/--no-check-host", default=False, show_default=True,
              help="Build the generated C with the host gcc and compare it with the TFLM reference on 10 inputs.")
def command(model: Path, out_dir: Path, runtime: str, golden: bool, fusion: str, arena_limit: str | None,
            check_host: bool) -> None:
    """Generate C for MODEL.tflite and print the static memory plan."""
    import numpy as np

    from ..codegen import generate
    from ..errors import ConfigError
    from ..units import format_bytes, format_count, parse_bytes

    if (fusion == "fit") != (arena_limit is not None):
        raise ConfigError("--fusion fit needs --arena-limit (e.g. 300KiB), and --arena-limit needs --fusion fit")
    limit = parse_bytes(arena_limit, "--arena-limit") if arena_limit is not None else None
    if limit is not None and limit <= 0:
        raise ConfigError(f"--arena-limit {arena_limit}: must be a positive size, e.g. 300KiB")

    golden_input = None
    if golden:
        from ..codegen.reader import read_tflite

        graph = read_tflite(model)
        shape = graph.tensor(graph.inputs[0]).shape
        golden_input = np.random.default_rng(0).integers(-128, 128, size=shape, dtype=np.int8)
    generated = generate(model, out_dir, runtime=runtime, golden_input=golden_input, fusion=fusion,
                         arena_limit_bytes=limit)
    click.echo(f"model {model} (sha256 {generated.model_hash[:16]}...), runtime {generated.runtime}")
    click.echo(f"wrote {', '.join(p.name for p in generated.c_sources)}, {generated.header.name}, CMakeLists.txt "
               f"to {generated.out_dir}")
    if generated.runtime != "native":
        return
    from ..codegen.plan_report import execution_rows, plan_summary, runs_text

    click.echo(f"{'#':>3} {'op':<18} {'kernel':<30} {'mode':<20} {'output shape':<18} {'MACs':>9} {'out @ arena':>11} "
               f"{'live':>10}")
    for layer, row in zip(generated.layers, execution_rows(generated.layers, generated.plan)):
        click.echo(f"{layer.index:>3} {layer.opcode:<18} {layer.kernel:<30} {row['mode']:<20} "
                   f"{str(layer.output_shape):<18} {format_count(layer.macs):>9} {layer.output_offset:>11} "
                   f"{format_bytes(row['live_bytes']):>10}{'  <- peak' if row['peak'] else ''}")
        if layer.runs:
            click.echo(f"{'':>3}   runs {runs_text(layer.runs)} a band of rows at a time")
    click.echo(plan_summary(generated.plan, fusion))
    click.echo(f"arena: {generated.arena_bytes} bytes ({format_bytes(generated.arena_bytes)}; analytic, from the "
               f"static plan; peak live {generated.plan.peak_live_bytes} bytes, scratch {generated.plan.scratch_bytes} "
               "bytes)")
    click.echo(f"weights + requantisation constants: {generated.weight_bytes} bytes of flash (analytic, const arrays)")
    click.echo(f"MACs per inference: {generated.total_macs} (analytic)")
    if generated.golden_test is not None:
        click.echo(f"golden-vector test: {generated.golden_test}")
    if check_host:
        _check_on_host(model, generated)


def _check_on_host(model: Path, generated) -> None:  # noqa: ANN001 - GeneratedModel, imported lazily
    import numpy as np

    from ..codegen.host import build_host_model
    from ..codegen.reference import ReferenceInterpreter

    host = build_host_model(generated, generated.out_dir / "host_build")
    reference = ReferenceInterpreter(model)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, size=generated.input_shape, dtype=np.int8) for _ in range(10)]
    same = sum(np.array_equal(host.invoke(x), reference.invoke(x)) for x in inputs)
    click.echo(f"host check: {same}/{len(inputs)} outputs bit-exact with the TFLM reference interpreter "
               "(host gcc build of the portable kernels)")
    if same != len(inputs):
        raise click.ClickException("the generated C differs from the reference interpreter")
