"""Streamed vs seeded inputs, side by side in one run: serial bytes and wall time per inference on QEMU, the
same verdict and instruction counts, and what the bytes cost at the Nucleo's baud rates.

    .venv/bin/python benchmarks/serial_input_modes.py [--inputs 2] [--sides 32 96 160]

Model per side S: one AVERAGE_POOL_2D 8x8/8 over an S x S x 3 int8 image (every input byte is read; the
compute is small, so the run time is the transfer). The firmware is built once per model (build time
excluded); each mode runs the same inputs (seeded_input(seed + k), computed on the host for the streamed
run) through a fresh emulator. Frame bytes are exact (protocol v3 framing of each request and reply);
seconds at 115,200 and 2,000,000 baud are analytic (10 bits per byte, 8N1), not measured on a board.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.codegen.tflite_builder

from tests.codegen.tflite_builder import TensorSpec, build_model, pool_options  # noqa: E402
from tinyhil.hil.bench import SeededInputs, run_image, summarise  # noqa: E402
from tinyhil.hil.boards import load_profile  # noqa: E402
from tinyhil.codegen import generate  # noqa: E402
from tinyhil.hil.firmware import build_firmware  # noqa: E402
from tinyhil.hil.protocol import LAYER_STAMP, OUTPUT_CRC, RESULT_HEADER, SEED, FrameType, encode_frame  # noqa: E402
from tinyhil.codegen.reference import ReferenceInterpreter  # noqa: E402

BAUDS = (115_200, 2_000_000)


def pooled(side: int) -> bytes:
    quant = dict(scale=(0.05,), zero_point=(-3,))
    tensors = [TensorSpec((1, side, side, 3), **quant), TensorSpec((1, side // 8, side // 8, 3), **quant)]
    return build_model("AVERAGE_POOL_2D", tensors, [0], [1], pool_options((8, 8), (8, 8), "VALID", "NONE"))


def frame_bytes(request: int, payload_bytes: int, reply: int, reply_payload_bytes: int) -> tuple[int, int]:
    """(host -> device, device -> host) bytes of one request and its reply, as protocol v3 frames them."""
    return (len(encode_frame(request, 1, bytes(payload_bytes))), len(encode_frame(reply, 1, bytes(reply_payload_bytes))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2)
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 96, 160])
    args = parser.parse_args()
    profile = load_profile("qemu-m7")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyhil-serial-bench-") as tmp:
        for side in args.sides:
            blob = pooled(side)
            generated = generate(blob, Path(tmp) / f"c{side}")
            image = build_firmware(generated.out_dir, profile, Path(tmp) / "build")
            seeded = SeededInputs(seed=side, count=args.inputs)
            streamed = seeded.arrays((1, side, side, 3))
            reference = ReferenceInterpreter(blob)
            expected = np.stack([np.asarray(reference.invoke(x), np.int8) for x in streamed])
            outcomes, seconds = {}, {}
            for mode, inputs in (("stream", streamed), ("seeded", seeded)):
                started = time.perf_counter()
                outcomes[mode] = run_image(image, profile, inputs, Path(tmp) / f"run-{side}-{mode}", warmup=0)
                seconds[mode] = (time.perf_counter() - started) / args.inputs
            verdicts = {mode: summarise(image, profile, o, expected, "native").bit_exact for mode, o in outcomes.items()}
            stamps = LAYER_STAMP.size * len(generated.layers)
            n_in, n_out = streamed[0].nbytes, expected[0].nbytes
            wire = {"stream": frame_bytes(FrameType.INFER, n_in, FrameType.RESULT, RESULT_HEADER.size + stamps + n_out),
                    "seeded": frame_bytes(FrameType.INFER_SEEDED, SEED.size, FrameType.RESULT_CRC,
                                          RESULT_HEADER.size + stamps + OUTPUT_CRC.size)}
            same = outcomes["stream"].latencies == outcomes["seeded"].latencies
            rows.append((side, n_in, wire, seconds, verdicts, same, outcomes["stream"].latencies[0]))
    print(f"board {profile.name} ({profile.kind}); machine {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; {args.inputs} inputs per mode, no warm-up")
    print(f"{'input':>12} {'mode':>7} {'to device B':>12} {'from device B':>14} {'QEMU s/inf':>11} "
          + " ".join(f"{f'{b:,} Bd s/inf':>16}" for b in BAUDS) + f" {'bit-exact':>9} {'instructions':>13}")
    for side, n_in, wire, seconds, verdicts, same, instructions in rows:
        for mode in ("stream", "seeded"):
            up, down = wire[mode]
            analytic = " ".join(f"{10 * (up + down) / baud:>16.3f}" for baud in BAUDS)
            print(f"{f'{side}x{side}x3':>12} {mode:>7} {up:>12,} {down:>14,} {seconds[mode]:>11.2f} {analytic} "
                  f"{'yes' if verdicts[mode] else 'NO':>9} {instructions:>13,}")
        ratio = seconds["stream"] / seconds["seeded"]
        print(f"{'':>12} {'':>7} stream/seeded wall time on QEMU: {ratio:.1f}x; instruction counts "
              f"{'identical' if same else 'DIFFER'} in the two modes")
    print("QEMU s/inf: measured wall time (start of the emulator included, divided over the inputs); "
          "Bd columns: analytic serial time of the frames, 8N1.")


if __name__ == "__main__":
    main()
