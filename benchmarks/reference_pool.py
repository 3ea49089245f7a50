"""Time of a search's int8 accuracy check (the reference interpreter on 1,000 images) in one process against the
worker processes of codegen/reference_pool.py, side by side in one run, with the outputs compared.

    .venv/bin/python benchmarks/reference_pool.py [--specs 6] [--seed 0] [--images 1000] [--workers 2]

Nets: random specs of the default search space with random weights (tests/models/random_nets.py), written by the
int8 writer, calibrated on 50 Fashion-MNIST training images (digits if it is missing); inputs: the first --images
test images quantised as the model's input. Wall seconds; the pool's first call includes starting its workers."""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.models.random_nets

from tests.models.random_nets import perturbed_net  # noqa: E402
from tinyhil.codegen import reference_pool  # noqa: E402
from tinyhil.codegen.reference import ReferenceInterpreter  # noqa: E402
from tinyhil.ml.data import load_dataset, to_resolution  # noqa: E402
from tinyhil.ml.export import convert_int8  # noqa: E402
from tinyhil.ml.model_inputs import model_inputs  # noqa: E402
from tinyhil.spec.cost import estimate  # noqa: E402
from tinyhil.spec.space import SearchSpace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=reference_pool.default_workers())
    args = parser.parse_args()
    try:
        dataset = load_dataset("fashion-mnist")
    except Exception:  # noqa: BLE001 - where the Debian package is absent
        dataset = load_dataset("digits")
    space, rng = SearchSpace(), random.Random(args.seed)
    print(f"# int8 check of {args.images} {dataset.name} test images, {args.specs} random specs (seed {args.seed}); "
          f"{os.cpu_count()} cores, {platform.machine()}")
    print(f"| spec | px | MACs (analytic) | one process s | {args.workers} workers s | ratio | outputs identical |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for index in range(args.specs):
        spec = space.random_spec(rng)
        blob = convert_int8(perturbed_net(spec, seed=index), spec, to_resolution(dataset.train_x[:50], spec.resolution))
        x = model_inputs(dataset.test_x[:args.images], ReferenceInterpreter(blob))
        started = time.perf_counter()
        one = reference_pool.reference_outputs(blob, x, workers=1)
        one_s = time.perf_counter() - started
        started = time.perf_counter()
        many = reference_pool.reference_outputs(blob, x, workers=args.workers)
        many_s = time.perf_counter() - started
        macs = estimate(spec, (spec.resolution, spec.resolution, 1), 10).macs
        print(f"| {index} | {spec.resolution} | {macs / 1e6:.1f} M | {one_s:.2f} | {many_s:.2f} | {many_s / one_s:.2f} | "
              f"{np.array_equal(one, many)} |")
    reference_pool.shutdown()


if __name__ == "__main__":
    main()
