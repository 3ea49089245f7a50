"""Framing: round trips, resync on garbage, truncation, corrupt CRCs; the C CRC equals zlib's."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyhil.errors import ProtocolError
from tinyhil.hil.firmware import FIRMWARE_DIR
from tinyhil.hil.protocol import (HASH_CHARS, HELLO_FIXED, LAYER_STAMP, LENGTH_ESCAPE, MAGIC, MAX_PAYLOAD, OUTPUT_CRC,
                              PROTOCOL_VERSION, RESULT_HEADER, FrameReader, FrameType, Hello, Result, encode_frame,
                              seeded_input)

payloads = st.binary(max_size=300)
garbage = st.binary(max_size=200)
relaxed = settings(deadline=None)  # a loaded 2-core CI machine must not turn slowness into failures


@relaxed
@given(payloads, st.integers(0, 255))
def test_a_frame_round_trips(payload: bytes, seq: int) -> None:
    frames = FrameReader().feed(encode_frame(FrameType.INFER, seq, payload))
    assert [(f.type, f.seq, f.payload) for f in frames] == [(FrameType.INFER, seq, payload)]


@relaxed
@given(garbage, payloads, garbage)
def test_garbage_around_a_frame_is_skipped(before: bytes, payload: bytes, after: bytes) -> None:
    frames = FrameReader().feed(before + encode_frame(FrameType.RESULT, 7, payload) + after)
    assert any(f.type == FrameType.RESULT and f.seq == 7 and f.payload == payload for f in frames)


@relaxed
@given(payloads, st.data())
def test_a_frame_fed_in_arbitrary_chunks_decodes_once(payload: bytes, data: st.DataObject) -> None:
    stream = encode_frame(FrameType.HELLO, 1, payload)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader, frames, last = FrameReader(), [], 0
    for cut in [*cuts, len(stream)]:
        frames += reader.feed(stream[last:cut])
        last = cut
    assert [f.payload for f in frames] == [payload]


@relaxed
@given(payloads, st.integers(min_value=1))
def test_a_truncated_frame_yields_nothing_and_waits(payload: bytes, cut: int) -> None:
    stream = encode_frame(FrameType.RESULT, 3, payload)
    reader = FrameReader()
    assert reader.feed(stream[: max(0, len(stream) - 1 - cut % len(stream))]) == []


@relaxed
@given(payloads, st.data())
def test_a_corrupted_byte_is_rejected_and_the_next_frame_still_decodes(payload: bytes, data: st.DataObject) -> None:
    bad = bytearray(encode_frame(FrameType.RESULT, 1, payload))
    index = data.draw(st.integers(2, len(bad) - 1))  # anything after the magic
    bad[index] ^= data.draw(st.integers(1, 255))
    good = encode_frame(FrameType.RESULT, 2, b"ok")
    frames = FrameReader().feed(bytes(bad) + good)
    assert frames[-1].seq == 2 and frames[-1].payload == b"ok"
    assert all(f.seq != 1 or f.payload != payload for f in frames)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_reader(noise: bytes) -> None:
    reader = FrameReader()
    reader.feed(noise)
    assert len(reader.buffer) <= len(noise)


def test_a_length_beyond_the_limit_is_treated_as_garbage() -> None:
    reader = FrameReader(max_payload=16)
    frames = reader.feed(encode_frame(FrameType.INFER, 1, bytes(32)) + encode_frame(FrameType.INFER, 2, b"x"))
    assert [f.seq for f in frames] == [2]


def test_a_short_hello_is_a_clear_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="shorter than"):
        Hello.parse(bytes([PROTOCOL_VERSION, 1]))


def test_a_result_with_the_wrong_output_size_is_a_clear_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="output bytes"):
        Result.parse(bytes(20 + 3), output_bytes=10)


def test_an_oversize_payload_cannot_be_encoded() -> None:
    with pytest.raises(ProtocolError, match="frame limit"):
        encode_frame(FrameType.INFER, 1, bytes(MAX_PAYLOAD + 1))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not on PATH")
def test_the_firmware_crc32_equals_zlib(tmp_path: Path) -> None:
    library = tmp_path / "libcrc.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(FIRMWARE_DIR / "harness" / "crc32.c")],
                   check=True)
    crc = ctypes.CDLL(str(library)).crc32_update
    crc.restype = ctypes.c_uint32
    crc.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for sample in (b"", b"123456789", MAGIC * 40, bytes(range(256)) * 3):
        assert crc(0, sample, len(sample)) == zlib.crc32(sample)
    assert crc(crc(0, b"1234", 4), b"56789", 5) == zlib.crc32(b"123456789")  # incremental, as the harness uses it


def _result_payload(latency: int, stamps: list[int], output: bytes) -> bytes:
    return (RESULT_HEADER.pack(latency, 512, 256, 0) + b"".join(LAYER_STAMP.pack(s) for s in stamps) + output)


def test_a_result_with_layer_stamps_gives_each_layer_its_own_latency() -> None:
    result = Result.parse(_result_payload(1000, [300, 340, 960], b"\x01\x02"), output_bytes=2, layer_count=3)
    assert result.layer_latency == (300, 40, 620) and result.latency == 1000 and result.output == b"\x01\x02"


def test_layer_stamps_that_wrapped_the_32_bit_counter_still_give_the_right_latencies() -> None:
    start = (1 << 32) - 100  # a total past 2**32 units: the stamps are the low 32 bits
    result = Result.parse(_result_payload((1 << 32) + 500, [start, 400], b""), output_bytes=0, layer_count=2)
    assert result.layer_latency == (start, 500)


def test_a_result_without_the_announced_layer_stamps_is_a_clear_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="3 per-layer stamps"):
        Result.parse(_result_payload(1000, [300], b"\x01\x02"), output_bytes=2, layer_count=3)


def test_layer_stamps_past_the_total_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="past the whole inference"):
        Result.parse(_result_payload(1000, [300, 200], b""), output_bytes=0, layer_count=2)


def test_the_hello_announces_how_many_layer_stamps_each_result_carries() -> None:
    fixed = HELLO_FIXED.pack(PROTOCOL_VERSION, 0, 13, 256, 4096, 8192, 16384, 8, 4, 480_000_000)
    hello = Hello.parse(fixed + b"f" * HASH_CHARS + b"native")
    assert hello.layer_count == 13 and hello.latency_unit == "cycles" and hello.runtime == "native"
    assert hello.cpu_hz == 480_000_000


@pytest.mark.parametrize("version", [1, 2])
def test_the_hello_of_an_older_firmware_asks_for_a_rebuild(version: int) -> None:
    fixed = struct.pack("<BBHIIIIII", version, 0, 0, 256, 4096, 8192, 16384, 8, 4)  # the version-2 layout
    frames = FrameReader().feed(encode_frame(FrameType.HELLO, 0, fixed + b"f" * HASH_CHARS))  # v2's header too
    with pytest.raises(ProtocolError, match=f"version {version}, host {PROTOCOL_VERSION}: rebuild the firmware"):
        Hello.parse(frames[0].payload)


@pytest.mark.parametrize("length", [LENGTH_ESCAPE - 1, LENGTH_ESCAPE, LENGTH_ESCAPE + 1, 160 * 160 * 3])
def test_frames_past_64_kib_carry_a_u32_length_and_round_trip(length: int) -> None:
    payload = bytes(np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8))
    stream = encode_frame(FrameType.INFER, 5, payload)
    assert len(stream) == 2 + 4 + (4 if length >= LENGTH_ESCAPE else 0) + length + 4
    assert stream[4:6] == (b"\xff\xff" if length >= LENGTH_ESCAPE else length.to_bytes(2, "little"))
    reader, frames = FrameReader(), []
    for start in range(0, len(stream), 4096):  # as a serial port hands it over
        frames += reader.feed(stream[start:start + 4096])
    assert [(f.seq, f.payload) for f in frames] == [(5, payload)]


def test_a_corrupted_extended_length_is_skipped_and_the_next_frame_decodes() -> None:
    bad = bytearray(encode_frame(FrameType.INFER, 1, bytes(70_000)))
    bad[7] ^= 0x01  # the u32 length now announces 70,000 +/- 65,536 bytes
    frames = FrameReader().feed(bytes(bad) + encode_frame(FrameType.RESULT, 2, b"ok"))
    assert [(f.seq, f.payload) for f in frames] == [(2, b"ok")]


def test_a_digest_result_carries_the_outputs_crc_instead_of_the_output() -> None:
    payload = RESULT_HEADER.pack(900, 512, 256, 0) + OUTPUT_CRC.pack(zlib.crc32(b"\x01\x02\x03"))
    result = Result.parse(payload, output_bytes=3, digest=True)
    assert (result.output, result.output_crc, result.latency) == (None, zlib.crc32(b"\x01\x02\x03"), 900)
    assert Result.parse(RESULT_HEADER.pack(900, 512, 256, 0) + b"\x01\x02\x03", 3).output_crc == result.output_crc


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not on PATH")
def test_the_firmware_seeded_input_equals_the_hosts(tmp_path: Path) -> None:
    library = tmp_path / "libseeded.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library),
                    str(FIRMWARE_DIR / "harness" / "seeded_input.c")], check=True)
    generate = ctypes.CDLL(str(library)).seeded_input
    generate.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32]
    for seed, length in ((0, 1), (1, 7), (0xFFFFFFFF, 64), (12345, 160 * 160 * 3)):
        out = np.zeros(length, np.int8)
        generate(seed, out.ctypes.data, length)
        assert np.array_equal(out, seeded_input(seed, length)), (seed, length)
    assert np.array_equal(seeded_input(7, 100)[:33], seeded_input(7, 33))  # a prefix does not depend on the length
    assert not np.array_equal(seeded_input(7, 64), seeded_input(8, 64))
    values = seeded_input(3, 1 << 16)
    assert values.min() == -128 and values.max() == 127 and abs(float(values.mean())) < 1.5  # the whole int8 range
