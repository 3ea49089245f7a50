"""Proxy-training throughput (images/s, host CPU, measured) for ~10, ~50 and ~100 M-MAC nets, and export time.

Run: .venv/bin/python benchmarks/training.py [--images 512] [--dataset fashion-mnist]
MACs are analytic (tinyhil.spec.cost); throughput and export seconds are wall-clock measurements on this host.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from tinyhil.spec.cost import estimate
from tinyhil.ml.data import load_dataset
from tinyhil.ml.export import export_int8
from tinyhil.spec.space import ArchSpec
from tinyhil.ml.train import TrainConfig, train


def _spec(resolution: int, stem_stride: int, c1: int, c2: int, c3: int, expand: int, head: int) -> ArchSpec:
    stage = lambda depth, c, stride, k: {"block": "ir", "depth": depth, "out_channels": c, "stride": stride,  # noqa: E731
                                         "kernel": k, "expand": expand}
    return ArchSpec.from_dict({"resolution": resolution, "stem_channels": 16, "stem_kernel": 3, "stem_stride": stem_stride,
                               "head_channels": head, "stages": [stage(2, c1, 1, 3), stage(3, c2, 2, 5), stage(3, c3, 2, 3)]})


NETS = {"~10M": _spec(32, 1, 16, 24, 32, 3, 128), "~50M": _spec(64, 2, 24, 40, 64, 6, 256),
        "~100M": _spec(96, 2, 24, 40, 64, 6, 256)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512, help="training images per net (one epoch)")
    parser.add_argument("--dataset", default="fashion-mnist")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    print(f"dataset: {dataset.provenance}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, channels_last")
    print(f"{'net':6} {'MACs (analytic)':>16} {'arena B (planner)':>18} {'train img/s (host)':>19} {'export s (host)':>16}")
    for name, spec in NETS.items():
        cost = estimate(spec, dataset.input_shape, dataset.num_classes)
        config = dataclasses.replace(TrainConfig.proxy(), epochs=1, train_subset=args.images, test_subset=200,
                                     batch_size=64)
        with tempfile.TemporaryDirectory() as tmp:
            result = train(spec, dataset, dataclasses.replace(config), checkpoint_dir=Path(tmp))
            started = time.perf_counter()
            export_int8(result.model, spec, dataset, Path(tmp) / "model.tflite", representative_count=100, test_count=100)
            export_s = time.perf_counter() - started
        print(f"{name:6} {cost.macs:>16,} {cost.peak_activation_bytes:>18,} {result.images_per_second:>19.1f} "
              f"{export_s:>16.1f}", flush=True)


if __name__ == "__main__":
    main()
