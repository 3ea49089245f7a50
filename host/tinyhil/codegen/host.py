"""Build a generated model for the host with gcc into a shared library and call it through ctypes:
fast bit-exact checks of the kernels without an emulator, either their portable C paths or their
Cortex-M DSP paths with the intrinsics emulated in C (TINYHIL_KERNELS_DSP_EMULATED)."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import BuildError
from .emit import KERNELS_DIR, GeneratedModel

log = logging.getLogger(__name__)

HOST_CFLAGS = ("-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror=implicit-function-declaration")
DSP_EMULATED_FLAGS = ("-DTINYHIL_KERNELS_DSP_EMULATED",)  # the DSP kernel paths, intrinsics in plain C


class HostModel:
    """A generated model loaded from a host .so; `invoke(x)` runs one inference per sample."""

    def __init__(self, library: Path, generated: GeneratedModel):
        self.library = library
        self.generated = generated
        self._lib = ctypes.CDLL(str(library))
        self._invoke = self._lib.tinyhil_model_invoke
        self._invoke.restype = ctypes.c_int
        self._invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """x: one int8 input of input_shape (or its flat bytes); returns the int8 output."""
        flat = np.ascontiguousarray(np.asarray(x, dtype=np.int8).reshape(-1))
        if flat.size != self.generated.input_bytes:
            raise BuildError(f"input has {flat.size} values; the model takes {self.generated.input_bytes} "
                             f"(shape {self.generated.input_shape})")
        out = np.empty(self.generated.output_bytes, dtype=np.int8)
        status = self._invoke(flat.ctypes.data, out.ctypes.data)
        if status != 0:
            raise BuildError(f"tinyhil_model_invoke returned {status}")
        return out.reshape(self.generated.output_shape)


def _run(command: list[str], what: str) -> None:
    log.debug("host build: %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"host build of {what} failed (exit {result.returncode}):\n{result.stderr.strip()[-3000:]}")


def _kernel_archive(compiler: str, cache_dir: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the kernels once per source version and flags into a PIC static archive."""
    sources = sorted(KERNELS_DIR.glob("*.c"))
    digest = hashlib.sha256(" ".join(extra_flags).encode())
    for path in sorted(KERNELS_DIR.glob("*.[ch]")):
        digest.update(path.name.encode() + path.read_bytes())
    archive = cache_dir / f"libtinyhil_kernels_{digest.hexdigest()[:12]}.a"
    if archive.is_file():
        return archive
    objects_dir = cache_dir / f"objects_{digest.hexdigest()[:12]}"
    objects_dir.mkdir(parents=True, exist_ok=True)
    flags = [f for f in HOST_CFLAGS if f != "-shared"] + list(extra_flags)
    objects = []
    for source in sources:
        obj = objects_dir / (source.stem + ".o")
        _run([compiler, *flags, "-c", f"-I{KERNELS_DIR}", str(source), "-o", str(obj)], f"kernel {source.name}")
        objects.append(str(obj))
    partial = archive.with_suffix(".tmp")
    _run(["ar", "rcs", str(partial), *objects], "the kernel archive")
    partial.replace(archive)  # atomic: concurrent builders never see half an archive
    return archive


def build_host_model(generated: GeneratedModel, build_dir: Path, compiler: str = "gcc",
                     kernels_cache: Path | None = None, dsp_emulated: bool = False) -> HostModel:
    """Compile model.c + the kernels with the host compiler and load the result.

    kernels_cache: a directory where the kernels are compiled once and reused (tests build many models).
    dsp_emulated: build the kernels' Cortex-M DSP paths, with the intrinsics emulated in C."""
    if shutil.which(compiler) is None:
        raise BuildError(f"host compiler '{compiler}' not found on PATH: install gcc to build models for the host")
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    extra = DSP_EMULATED_FLAGS if dsp_emulated else ()
    library = build_dir / f"tinyhil_model_{generated.model_hash[:12]}{'_dsp' if dsp_emulated else ''}.so"
    if kernels_cache is not None:
        kernels = [str(_kernel_archive(compiler, Path(kernels_cache), extra))]
        sources = [str(_model_object(compiler, generated, build_dir, path)) for path in generated.c_sources]
    else:
        kernels = [str(p) for p in sorted(KERNELS_DIR.glob("*.c"))]
        sources = [str(p) for p in generated.c_sources]
    _run([compiler, *HOST_CFLAGS, *extra, f"-I{KERNELS_DIR}", f"-I{generated.out_dir}",
          *sources, *kernels, "-o", str(library)], str(generated.out_dir))
    return HostModel(library, generated)


def _model_object(compiler: str, generated: GeneratedModel, build_dir: Path, source: Path) -> Path:
    """A generated source compiled once for both kernel builds (the portable and the DSP-emulated one link the same
    object): model.c holds the weights and the calls, and no code that the kernel flags select (those paths are
    inside the kernels), while parsing its arrays is most of a big model's build (ResNet50: 50 s of 52 s).
    Keyed by the source, the headers it includes and the flags."""
    digest = hashlib.sha256(" ".join((compiler, *HOST_CFLAGS)).encode())
    for path in (source, generated.header, KERNELS_DIR / "tinyhil_kernels.h"):
        digest.update(path.name.encode() + path.read_bytes())
    obj = build_dir / f"{source.stem}_{digest.hexdigest()[:12]}.o"
    if not obj.is_file():
        partial = obj.with_suffix(".tmp.o")
        flags = [f for f in HOST_CFLAGS if f != "-shared"]
        _run([compiler, *flags, "-c", f"-I{KERNELS_DIR}", f"-I{generated.out_dir}", str(source), "-o", str(partial)],
             str(generated.out_dir))
        partial.replace(obj)
    return obj
