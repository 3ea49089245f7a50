#!/usr/bin/env bash
# Installs everything tinyhil needs on a fresh Debian/Ubuntu machine (run as root, or with sudo):
# the Arm cross toolchain, QEMU, CMake, Fashion-MNIST (the offline dataset), and a Python venv
# in .venv with the CPU build of torch. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# python3 and python3-venv too: a bare Debian/Ubuntu image may have neither, and `python3 -m venv` needs ensurepip
APT_PACKAGES="python3 python3-venv gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm cmake make ninja-build ccache gcc dataset-fashion-mnist chromium"
missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== apt-get install:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "tinyhil needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1). Install one and run: PYTHON=python3.11 bash scripts/install.sh" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# torch first and pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
echo "== pip install -e .[dev]"
.venv/bin/pip install -q -e ".[dev]"
echo "== installed: $(.venv/bin/tinyhil --version)"
