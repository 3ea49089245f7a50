"""`tinyhil spec schema | import | cost`: the architecture spec format, the paper's models in it, and what a
spec costs before any training (analytic)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..units import format_bytes, format_count


def _space_option(function):
    return click.option("--space", "space_name", default="tinyhil", show_default=True,
                        type=click.Choice(["tinyhil", "paper"]), help="Search space preset to validate against.")(function)


@click.group("spec")
def command() -> None:
    """Architecture specs: print the schema, import the paper's models, estimate a spec's cost."""


@command.command("schema")
@_space_option
def schema(space_name: str) -> None:
    """Print the JSON schema of a spec (every field and its allowed values)."""
    from ..spec.space import ACTIVATIONS, space_preset

    space = space_preset(space_name)
    click.echo(json.dumps(space.json_schema(), indent=2))
    click.echo(f"# space '{space.name}'; activations: " + "; ".join(f"{k}: {v}" for k, v in ACTIVATIONS.items()
                                                                    if k in space.activations), err=True)


@command.command("import")
@click.argument("config_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Spec JSON to write [default: CONFIG.spec.json beside the input].")
@click.option("--resolution", type=int, default=None,
              help="Input side in pixels of a paper candidate_config [default: the paper's 160].")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The paper's trained .pth (state_dict of its LLMGenModel): also write a tinyhil checkpoint.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint to write with --weights [default: beside --out, .pt].")
@click.option("--classes", type=click.IntRange(min=1), default=100, show_default=True,
              help="Classes of the classifier (the paper: CIFAR-100).")
def import_(config_json: Path, out: Path | None, resolution: int | None, weights: Path | None, checkpoint: Path | None,
            classes: int) -> None:
    """Turn the paper's candidate_config JSON into the equivalent tinyhil spec (and its weights into a checkpoint
    that `tinyhil export` takes)."""
    from .. import options
    from ..errors import ConfigError
    from ..spec.paper_config import PAPER_RESOLUTION, is_paper_config, read_spec_file
    from ..spec.space import ArchSpec
    from ..spec.specfile import read_spec_dict

    if checkpoint is not None and weights is None:
        raise ConfigError("--checkpoint needs --weights FILE.pth (the weights to write into it)")
    if resolution is not None and not is_paper_config(read_spec_dict(config_json)):
        raise ConfigError(f"--resolution {resolution}: {config_json} is a tinyhil spec, which carries its own "
                          "'resolution' field; edit that field, or leave --resolution out")
    specs = read_spec_file(config_json, PAPER_RESOLUTION if resolution is None else resolution)
    if len(specs) != 1:
        raise ConfigError(f"{config_json}: holds {len(specs)} specs; import takes a file with one")
    spec = ArchSpec.from_dict(specs[0])
    out = options.output_path(out or config_json.with_suffix(".spec.json"), "--out")
    if weights is not None:
        options.output_path(checkpoint or out.with_suffix(".pt"), "--checkpoint")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    for line in spec.describe():
        click.echo(line)
    click.echo(f"wrote {out}")
    if weights is not None:
        checkpoint = checkpoint or out.with_suffix(".pt")
        _write_checkpoint(spec, weights, checkpoint, classes)
        click.echo(f"wrote {checkpoint} (weights from {weights}; `tinyhil export {checkpoint} --dataset ...` "
                   "calibrates and converts it to int8)")


def _write_checkpoint(spec, weights: Path, checkpoint: Path, classes: int) -> None:
    from ..ml.model import build_torch
    from ..spec.paper_config import PAPER_RESOLUTION, load_paper_weights
    from ..ml.train import DatasetInfo, save_checkpoint

    model = build_torch(spec, 3, classes)
    load_paper_weights(model, weights)
    info = DatasetInfo("cifar100", f"CIFAR-100 resized to {PAPER_RESOLUTION} px (the paper's training; not run here)",
                       (spec.resolution, spec.resolution, 3), classes)
    save_checkpoint(checkpoint, model, spec, info, {"source": f"paper weights {weights}"})


@command.command("cost")
@click.argument("spec_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", default=None, help="Take input channels and classes from this dataset (loads it).")
@click.option("--input-shape", default=None, metavar="HxWxC",
              help="Input shape, e.g. 160x160x3 [default: the spec's resolution, 3 channels]; only C matters, "
                   "images are resized to the spec's resolution.")
@click.option("--classes", type=click.IntRange(min=1), default=None, help="Classes [default 10, or the dataset's].")
@click.option("--board", default="qemu-m7", show_default=True, help="Board profile whose stack reservation is added.")
def cost(spec_json: Path, dataset: str | None, input_shape: str | None, classes: int | None, board: str) -> None:
    """MACs, params, planned arena, peak SRAM and flash of SPEC_JSON (tinyhil spec or the paper's JSON), analytic."""
    from ..hil.boards import load_profile
    from ..spec.cost import estimate, paper_sram_bytes
    from ..errors import ConfigError
    from ..spec.paper_config import read_spec_file
    from ..spec.space import ArchSpec

    specs = read_spec_file(spec_json)
    if not specs:
        raise ConfigError(f"{spec_json}: holds no spec")
    shape, num_classes = None, classes
    if dataset is not None:
        from ..ml.data import load_dataset

        data = load_dataset(dataset)
        shape, num_classes = tuple(int(d) for d in data.input_shape), classes or int(data.num_classes)
    if input_shape is not None:
        shape = _parse_shape(input_shape)
    profile = load_profile(board)
    for index, spec_dict in enumerate(specs):
        spec = ArchSpec.from_dict(spec_dict)
        in_shape = shape or (spec.resolution, spec.resolution, 3)
        n = num_classes or 10
        c = estimate(spec, in_shape, n)
        if len(specs) > 1:
            click.echo(f"spec {index + 1} of {len(specs)}:")
        for line in spec.describe():
            click.echo(f"  {line}")
        click.echo(f"  input {spec.resolution}x{spec.resolution}x{in_shape[-1]}, {n} classes")
        rows = [("MACs", f"{format_count(c.macs)} ({c.macs:,})", "analytic (cost model)"),
                ("params", f"{c.params:,}", "analytic (torch parameters incl. BatchNorm)"),
                ("planned arena", f"{format_bytes(c.peak_activation_bytes)} ({c.peak_activation_bytes:,} B)",
                 "analytic (the runtime's memory planner)"),
                ("peak SRAM estimate", _bytes(c.peak_activation_bytes + profile.stack_bytes),
                 f"analytic upper bound (planned arena + {profile.name}'s {format_bytes(profile.stack_bytes)} stack "
                 "reservation; the harness's few static bytes not counted; `tinyhil bench` measures it)"),
                ("flash estimate", _bytes(c.flash_bytes),
                 "analytic (model constants: int8 weights, int32 biases, requantisation; code not counted)"),
                ("paper-style SRAM", _bytes(paper_sram_bytes(spec, in_shape, n)),
                 "analytic (the paper's formula: int8 input + largest layer output)")]
        width = max(len(r[0]) for r in rows)
        for name, value, where in rows:
            click.echo(f"  {name:<{width}}  {value:<24} {where}")


def _bytes(n: int) -> str:
    return f"{format_bytes(n)} ({n:,} B)"


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(f"{text!r}: give HxWxC with positive integers, e.g. 160x160x3",
                                 param_hint="--input-shape")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]
