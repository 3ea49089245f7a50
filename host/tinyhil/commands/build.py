"""`tinyhil build MODEL.tflite --board stm32h7 -o DIR`: the firmware files for flashing without tinyhil
(STM32CubeProgrammer, the ST-LINK drive), with the memory use per region of the board."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("build")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--board", default="stm32h7", show_default=True, help="Board profile: name, alias or .toml path.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for firmware.elf/.bin/.hex/.map, memory.txt/.json and the generated C (model/).")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native", show_default=True,
              help="native: generated C kernels; tflm: the TFLM interpreter (needs TFLM sources to build).")
@click.option("--fusion", type=click.Choice(["auto", "fit", "off"]), default="auto", show_default=True,
              help="native runtime: auto fuses inverted-residual blocks where that lowers the peak SRAM; fit: the "
                   "fastest plan within the board's SRAM budget less 1 KiB for the firmware's other RAM (nothing "
                   "runs here to measure it: `tinyhil bench --fusion fit` does); off: every block plain.")
def command(model: Path, board: str, out_dir: Path, runtime: str, fusion: str) -> None:
    """Build the firmware for MODEL.tflite on BOARD: no probe or emulator needed."""
    from ..errors import ConfigError
    from ..hil.artifacts import write_artifacts
    from ..hil.bench import fit_arena_limit
    from ..hil.boards import load_profile
    from ..codegen import generate
    from ..hil.firmware import build_firmware

    profile = load_profile(board)
    if fusion != "auto" and runtime != "native":
        raise ConfigError(f"--fusion {fusion} plans tinyhil's own arena: it needs --runtime native")
    limit = fit_arena_limit(profile) if fusion == "fit" else None
    generated = generate(model, out_dir / "model", runtime=runtime, fusion=fusion, arena_limit_bytes=limit)
    image = build_firmware(Path(generated.out_dir), profile, out_dir / "build")
    artifacts = write_artifacts(image, profile, out_dir)
    click.echo(f"{model.name} for {profile.name} ({profile.cpu}, runtime {generated.runtime}, {image.toolchain})")
    for path in (artifacts.elf, artifacts.bin, artifacts.hex, artifacts.map):
        click.echo(f"  {path}  ({path.stat().st_size} bytes)")
    click.echo(artifacts.memory_report.read_text().rstrip())
    start = next((r.origin for r in profile.memory if "text" in r.holds), 0)
    click.echo(f"firmware.bin starts at {start:#010x} (the {profile.region_for('text').name} region): give that "
               "address to STM32CubeProgrammer; the .hex and .elf carry their addresses. Drag and drop: copy the "
               ".bin onto the board's ST-LINK drive (NODE_H743ZI on a Nucleo)")
