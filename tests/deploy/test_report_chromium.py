"""The run report renders to one self-contained page that headless Chromium opens without console errors,
and whose screenshot shows the plots."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from tinyhil.report.page import CandidateRow, LayerRow, ReportData, Winner, render_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FRONT_ORANGE = (0xD9, 0x48, 0x0F)  # Pareto-front line colour in report.py
HV_BLUE = (0x1C, 0x7E, 0xD6)  # hypervolume line colour


def sample_data(tmp_path: Path) -> ReportData:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow(np.arange(64).reshape(8, 8), cmap="inferno")
    fig.savefig(tmp_path / "saliency.png")
    plt.close(fig)
    candidates = [CandidateRow(f"c{i}", "measured", accuracy=0.70 + 0.02 * i, accuracy_kind="int8", macs=10**6 * (i + 1),
                               peak_sram_bytes=50_000 + 9_000 * i, flash_bytes=90_000 + 4_000 * i, latency=300_000 * (i + 1),
                               latency_unit="instructions", provenance="emulator qemu-m7", on_front=i in (0, 2, 5))
                  for i in range(6)]
    candidates.append(CandidateRow("c6", "failed", reason="does not fit: RAM overflowed by 12288 bytes"))
    winner = Winner(
        "c5", {"int8_accuracy": 0.80, "float_accuracy": 0.805, "latency_median": 1_800_000, "latency_unit": "instructions",
               "latency_runs": [1_800_000] * 5, "peak_sram_bytes": 95_000, "static_ram_bytes": 80_000,
               "stack_high_water_bytes": 15_000, "arena_bytes": 60_000, "flash_bytes": 110_000, "bit_exact": True},
        {"board": "qemu-m7", "kind": "emulator", "runtime": "native"},
        [LayerRow(i, "CONV_2D" if i < 5 else "FULLY_CONNECTED", "1x8x8x16", 20_000 * i, 1024 * (i % 2), 4096 + 512 * i)
         for i in range(6)],
        60_000, [("class 0: T-shirt/top", tmp_path / "saliency.png")],
        {"gradcam": {"deletion_auc": 0.21, "insertion_auc": 0.77}}, 0.94,
        {"with_teacher": 0.80, "without_teacher": 0.77, "teacher": "efficientnet-lite0", "temperature": 4.0, "alpha": 0.5})
    return ReportData("run-test", "Fashion-MNIST (real images)", "qemu-m7 (emulator)", candidates,
                      [(i, 0.05 * i) for i in range(1, 8)], "normalised objectives, reference point (1, 1)", [winner])


def test_report_is_self_contained_and_says_where_numbers_come_from(tmp_path):
    html = render_report(sample_data(tmp_path), tmp_path / "report.html").read_text()
    assert html.count("<svg") >= 5  # two fronts, hypervolume, distillation, memory plan
    assert "data:image/png;base64," in html
    external = re.findall(r'(?:src|href)="(?!data:|#)([^"]+)"', html)
    assert external == [], f"report must not load anything: {external}"
    for phrase in ("Fashion-MNIST (real images)", "instructions", "emulator", "bit-exact", "analytic", "+3.00 points"):
        assert phrase in html


def _colour_pixels(png: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    pixels = (png[..., :3] * 255).astype(int) if png.dtype != np.uint8 else png[..., :3].astype(int)
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= tolerance).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; scripts/install.sh does)")
def test_headless_chromium_opens_the_report_without_console_errors_and_draws_the_plots(tmp_path):
    page = render_report(sample_data(tmp_path), tmp_path / "report.html")
    shot = tmp_path / "report.png"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=1200,2400"]
    result = subprocess.run(flags + [f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert shot.exists(), result.stderr[-2000:]
    assert console == [], "console messages:\n" + "\n".join(console)
    image = mpimg.imread(shot)
    front, hypervolume = _colour_pixels(image, FRONT_ORANGE), _colour_pixels(image, HV_BLUE)
    print(f"screenshot {image.shape[1]}x{image.shape[0]}: {front} front-orange pixels, {hypervolume} hypervolume-blue pixels")
    assert front > 200 and hypervolume > 200
