"""Time of the int8 export of search-space nets: tinyhil's own writer against TensorFlow's TFLiteConverter, side by
side in one process, on the same weights and calibration images, with how far the two files' outputs differ.

    .venv/bin/python benchmarks/int8_writer.py [--specs 8] [--seed 0] [--repeats 3] [--calibration 50] [--trained]

Nets: random specs of the default search space (SearchSpace.random_spec), random weights with non-identity
BatchNorm, 1 input channel, 10 classes; calibration: the first images of Fashion-MNIST (digits if it is missing),
as a search's first rung (export_for_board: 50 images). Times are wall seconds, min of --repeats, after one
conversion of each writer that is reported separately (TensorFlow's first conversion includes its start-up). The
outputs are compared on 32 seeded int8 inputs with the TFLM reference interpreter (host).

--trained: also trains one net (TRAINED_SPEC) on digits (6 epochs, all 1,437 training images) and on 5,000
Fashion-MNIST images (3 epochs), exports it with each writer (export_int8: 200 calibration images, QAT off) and
prints float and int8 top-1 and their agreement on the test images (all 360 of digits, 1,000 of Fashion-MNIST)."""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.models.random_nets

from tests.models.random_nets import perturbed_net  # noqa: E402
from tinyhil.codegen.reader import read_tflite  # noqa: E402
from tinyhil.codegen.reference import ReferenceInterpreter  # noqa: E402
from tinyhil.ml.data import load_dataset, to_resolution  # noqa: E402
from tinyhil.ml.export import convert_int8  # noqa: E402
from tinyhil.spec.cost import estimate  # noqa: E402
from tinyhil.spec.space import SearchSpace  # noqa: E402


TRAINED_SPEC = {"resolution": 32, "stem_channels": 16, "stem_kernel": 3, "stem_stride": 2, "head_channels": 128,
                "stages": [{"block": "ir", "depth": 1, "out_channels": 24, "stride": 2, "kernel": 3, "expand": 3},
                           {"block": "dws", "depth": 1, "out_channels": 48, "stride": 2, "kernel": 3, "expand": 1}]}


def _trained_table() -> None:
    import tempfile

    from tinyhil.ml.export import export_int8
    from tinyhil.ml.train import TrainConfig, train
    from tinyhil.spec.space import ArchSpec

    spec = ArchSpec.from_dict(TRAINED_SPEC)
    print("| dataset | writer | float top-1 | int8 top-1 | agreement | test images | export s (int8 check included) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="tinyhil-int8-writer-") as tmp:
        for name, epochs in (("digits", 6), ("fashion-mnist", 3)):
            dataset = load_dataset(name)
            if name == "fashion-mnist":
                dataset = dataset.subset(train=5000, test=1000)
            result = train(spec, dataset, TrainConfig(epochs=epochs, batch_size=32, train_subset=None, seed=0),
                           checkpoint_dir=Path(tmp) / name)
            for writer in ("tinyhil", "tensorflow"):
                r = export_int8(result.model, spec, dataset, Path(tmp) / f"{name}-{writer}.tflite", test_count=None,
                                qat_threshold=None, writer=writer)
                print(f"| {name} | {writer} | {r.float_accuracy:.4f} | {r.int8_accuracy:.4f} | {r.agreement:.4f} | "
                      f"{r.test_images} | {r.seconds:.2f} |")


def _dataset():
    try:
        return load_dataset("fashion-mnist")
    except Exception:  # noqa: BLE001 - the benchmark runs where the Debian package is absent too
        return load_dataset("digits")


def _timed(convert, repeats: int) -> tuple[bytes, float]:
    times, blob = [], b""
    for _ in range(repeats):
        started = time.perf_counter()
        blob = convert()
        times.append(time.perf_counter() - started)
    return blob, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=50)
    parser.add_argument("--trained", action="store_true", help="also compare the int8 accuracy of a trained net")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dataset = _dataset()
    space, rng = SearchSpace(), random.Random(args.seed)
    specs = [space.random_spec(rng) for _ in range(args.specs)]
    first = {}
    for writer in ("tinyhil", "tensorflow"):  # start-up: imports, TensorFlow's graph machinery
        spec = specs[0]
        images = to_resolution(dataset.train_x[:args.calibration], spec.resolution)
        started = time.perf_counter()
        convert_int8(perturbed_net(spec, seed=0), spec, images, writer=writer)
        first[writer] = time.perf_counter() - started
    print(f"# int8 export, {args.specs} random specs (seed {args.seed}), {args.calibration} calibration images of "
          f"{dataset.name}, min of {args.repeats}; {platform.processor() or platform.machine()}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"first conversion in this process (start-up included): tinyhil {first['tinyhil']:.2f} s, "
          f"tensorflow {first['tensorflow']:.2f} s")
    print("| spec | px | ops | MACs | tensorflow s | tinyhil s | tinyhil / tensorflow | max output diff (steps) | "
          "same top-1 |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios, tf_total, ours_total = [], 0.0, 0.0
    for index, spec in enumerate(specs):
        model = perturbed_net(spec, seed=index)
        images = to_resolution(dataset.train_x[:args.calibration], spec.resolution)
        theirs, tf_s = _timed(lambda: convert_int8(model, spec, images, writer="tensorflow"), args.repeats)
        ours, ours_s = _timed(lambda: convert_int8(model, spec, images, writer="tinyhil"), args.repeats)
        a, b = ReferenceInterpreter(ours), ReferenceInterpreter(theirs)
        inputs = np.random.default_rng(index).integers(-128, 128, size=(32, 1, spec.resolution, spec.resolution, 1),
                                                       dtype=np.int8)
        outs = [(a.invoke(x).astype(int), b.invoke(x).astype(int)) for x in inputs]
        diff = max(int(np.abs(x - y).max()) for x, y in outs)
        same = sum(int(np.argmax(x) == np.argmax(y)) for x, y in outs)
        ratios.append(ours_s / tf_s)
        tf_total, ours_total = tf_total + tf_s, ours_total + ours_s
        macs = estimate(spec, (spec.resolution, spec.resolution, 1), 10).macs
        print(f"| {index} | {spec.resolution} | {len(read_tflite(ours).operators)} | {macs / 1e6:.1f} M | {tf_s:.3f} | "
              f"{ours_s:.3f} | {ours_s / tf_s:.2f} | {diff} | {same}/32 |")
    print(f"total: tensorflow {tf_total:.2f} s, tinyhil {ours_total:.2f} s ({ours_total / tf_total:.2f}x); "
          f"median ratio {statistics.median(ratios):.2f}")
    if args.trained:
        _trained_table()


if __name__ == "__main__":
    main()
