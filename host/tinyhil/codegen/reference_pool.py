"""Many inputs through the bit-exact reference on several cores. The TFLM interpreter holds Python's GIL while it
runs (two threads took 1.3x one thread's time for the same 400 images), so the inputs are split over worker
processes, started once per process and reused, each keeping an interpreter of the last model it was sent.

The workers are `python -m tinyhil.codegen.reference_pool` children on pipes (length-prefixed pickles), not
multiprocessing's: its spawn and forkserver children import the parent's main module again, which runs a user's
unguarded script a second time; fork would copy torch's thread pools. What it serves: a search's int8 accuracy
check, 1,000 validation images one at a time (2.4-12.5 s with one interpreter on search-space nets), while the
other core waits for the next candidate's training."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from typing import Any, BinaryIO

import numpy as np

log = logging.getLogger(__name__)

WORKERS_ENV = "TINYHIL_REFERENCE_WORKERS"  # worker processes; 1: every input in this process
MIN_INPUTS_PER_WORKER = 128  # below this a worker's share does not pay for sending the model and the inputs
_LENGTH = struct.Struct("<Q")


class _Worker:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen([sys.executable, "-m", "tinyhil.codegen.reference_pool"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.digest: str | None = None  # the model it holds

    def send(self, digest: str, blob: bytes, inputs: np.ndarray) -> None:
        _write(self.process.stdin, (digest, None if digest == self.digest else blob, inputs))
        self.digest = digest

    def receive(self) -> np.ndarray:
        ok, value = _read(self.process.stdout)
        if not ok:
            self.digest = None
            raise RuntimeError(value)
        return value

    def stop(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


_workers: list[_Worker] = []


def default_workers() -> int:
    """TINYHIL_REFERENCE_WORKERS if set, else the cores this process may run on (at most 4)."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            log.warning("%s=%r is not a whole number; using one process", WORKERS_ENV, configured)
            return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def reference_outputs(blob: bytes, inputs: np.ndarray, workers: int | None = None) -> np.ndarray:
    """The reference interpreter's int8 output for each input (inputs[i] has the model's input shape without its
    batch of 1), on up to `workers` processes (default_workers()); the same bytes as one interpreter gives. If the
    workers fail (one died, none could start) the inputs run in this process, and a warning says why."""
    inputs = np.asarray(inputs)
    count = min(workers or default_workers(), len(inputs) // MIN_INPUTS_PER_WORKER)
    if count <= 1:
        return _outputs(_interpreter(blob), inputs)
    digest = hashlib.sha256(blob).hexdigest()
    try:
        while len(_workers) < count:
            _workers.append(_Worker())
        chunks = np.array_split(inputs, count)
        for worker, chunk in zip(_workers, chunks):
            worker.send(digest, blob, chunk)
        return np.concatenate([worker.receive() for worker in _workers[:count]])
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, struct.error) as exc:
        log.warning("the reference's worker processes failed (%s); running the inputs in this process", exc)
        shutdown()
        return _outputs(_interpreter(blob), inputs)


def shutdown() -> None:
    """Stop the worker processes (the next call starts new ones)."""
    while _workers:
        _workers.pop().stop()


atexit.register(shutdown)


def _interpreter(blob: bytes) -> Any:
    from .reference import ReferenceInterpreter

    return ReferenceInterpreter(blob)


def _outputs(interpreter: Any, inputs: np.ndarray) -> np.ndarray:
    return np.stack([interpreter.invoke(x[None])[0] for x in inputs]) if len(inputs) else np.zeros((0,), np.int8)


def _write(stream: BinaryIO, value: Any) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def _read(stream: BinaryIO) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the reference worker process ended")
    size = _LENGTH.unpack(header)[0]
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the reference worker process ended mid-reply")
    return pickle.loads(payload)


def _serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """A worker: (digest, model bytes or None for the one held, inputs) in, (True, outputs) or (False, why) out."""
    held: tuple[str, Any] | None = None
    while True:
        try:
            digest, blob, inputs = _read(requests)
        except EOFError:
            return
        try:
            if held is None or held[0] != digest:
                if blob is None:
                    raise RuntimeError("the worker was sent no model and holds another")
                held = (digest, _interpreter(blob))
            _write(replies, (True, _outputs(held[1], inputs)))
        except Exception as exc:  # noqa: BLE001 - the parent gets the reason and runs the inputs itself
            held = None
            _write(replies, (False, f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    # replies on a copy of the pipe; whatever the interpreter or Python prints goes to stderr, not into the protocol
    reply_stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, reply_stream)
