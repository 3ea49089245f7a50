"""The reference on several processes (codegen/reference_pool.py): the same bytes as one interpreter, the model
switched and kept, a dead worker survived, small batches and TINYHIL_REFERENCE_WORKERS=1 in this process."""

import logging
import random

import numpy as np
import pytest
import torch

from tinyhil.codegen import reference_pool
from tinyhil.codegen.reference import ReferenceInterpreter
from tinyhil.ml.export import convert_int8
from tinyhil.spec.space import SearchSpace

from ..models.random_nets import perturbed_net


def _model(seed: int) -> bytes:
    spec = SearchSpace().random_spec(random.Random(seed))
    r = spec.resolution
    return convert_int8(perturbed_net(spec, seed=seed), spec, torch.rand(8, 1, r, r)), r


def _serial(blob: bytes, inputs: np.ndarray) -> np.ndarray:
    interpreter = ReferenceInterpreter(blob)
    return np.stack([interpreter.invoke(x[None])[0] for x in inputs])


@pytest.fixture
def fresh_workers(monkeypatch):
    monkeypatch.setattr(reference_pool, "MIN_INPUTS_PER_WORKER", 16)  # small batches keep the test quick
    reference_pool.shutdown()
    yield
    reference_pool.shutdown()


def test_two_workers_give_the_interpreters_bytes_and_keep_or_switch_the_model(fresh_workers):
    (first, r1), (second, r2) = _model(1), _model(2)
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(40, r1, r1, 1), dtype=np.int8)
    b = rng.integers(-128, 128, size=(34, r2, r2, 1), dtype=np.int8)
    assert np.array_equal(reference_pool.reference_outputs(first, a, workers=2), _serial(first, a))
    assert len(reference_pool._workers) == 2 and all(w.digest for w in reference_pool._workers)
    again = reference_pool.reference_outputs(first, a[::-1], workers=2)  # the model is not sent again
    assert np.array_equal(again, _serial(first, a[::-1]))
    assert np.array_equal(reference_pool.reference_outputs(second, b, workers=2), _serial(second, b))


def test_a_dead_worker_is_survived_in_this_process_with_a_warning(fresh_workers, caplog):
    blob, r = _model(3)
    x = np.random.default_rng(1).integers(-128, 128, size=(40, r, r, 1), dtype=np.int8)
    reference_pool.reference_outputs(blob, x, workers=2)
    reference_pool._workers[0].process.kill()
    reference_pool._workers[0].process.wait()
    with caplog.at_level(logging.WARNING):
        outputs = reference_pool.reference_outputs(blob, x, workers=2)
    assert np.array_equal(outputs, _serial(blob, x))
    assert "worker processes failed" in caplog.text and not reference_pool._workers


def test_small_batches_and_one_worker_run_here(fresh_workers, monkeypatch, caplog):
    blob, r = _model(4)
    x = np.random.default_rng(2).integers(-128, 128, size=(40, r, r, 1), dtype=np.int8)
    assert np.array_equal(reference_pool.reference_outputs(blob, x[:20], workers=2), _serial(blob, x[:20]))
    monkeypatch.setenv(reference_pool.WORKERS_ENV, "1")
    assert reference_pool.default_workers() == 1
    assert np.array_equal(reference_pool.reference_outputs(blob, x), _serial(blob, x))
    assert not reference_pool._workers  # no process was started
    monkeypatch.setenv(reference_pool.WORKERS_ENV, "two")
    with caplog.at_level(logging.WARNING):
        assert reference_pool.default_workers() == 1
    assert "TINYHIL_REFERENCE_WORKERS='two' is not a whole number" in caplog.text
