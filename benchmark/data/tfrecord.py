"""TFRecord files and ``tf.train.Example`` protobufs, read without TensorFlow.

TFRecord framing, per record: ``uint64 length`` (little endian), ``uint32 masked_crc32c(length)``,
``length`` bytes of data, ``uint32 masked_crc32c(data)``. An ``Example`` is parsed straight from the
protobuf wire format: ``Example.features (1) -> Features.feature (1, map<string, Feature>)``, where
``Feature`` is one of ``bytes_list (1)``, ``float_list (2)``, ``int64_list (3)``, each a repeated
``value (1)`` (packed or not).

>>> parse_example(b"")
{}
"""

from __future__ import annotations

import struct
from typing import IO, Iterator

import numpy as np

_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), pure Python (slow: used for the 8-byte length, and data on request)."""
    c = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class TFRecordError(ValueError):
    """A truncated or corrupt TFRecord file."""


def read_records(f: IO[bytes], name: str = "tfrecords", check_data_crc: bool = False) -> Iterator[bytes]:
    """Yield the records of a TFRecord stream; a truncated/corrupt frame raises naming ``name``."""
    n = 0
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise TFRecordError(f"{name}: truncated after {n} records (partial length header)")
        (length,), (crc,) = struct.unpack("<Q", head[:8]), struct.unpack("<I", head[8:])
        if masked_crc32c(head[:8]) != crc:
            raise TFRecordError(f"{name}: record {n}: length checksum mismatch (corrupt file)")
        data = f.read(length)
        tail = f.read(4)
        if len(data) < length or len(tail) < 4:
            raise TFRecordError(f"{name}: truncated in record {n} ({len(data)} of {length} bytes)")
        if check_data_crc and masked_crc32c(data) != struct.unpack("<I", tail)[0]:
            raise TFRecordError(f"{name}: record {n}: data checksum mismatch (corrupt file)")
        n += 1
        yield data


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise TFRecordError(f"unsupported protobuf wire type {wire}")
        yield num, wire, v


def _feature(buf: bytes) -> list[bytes] | np.ndarray:
    for kind, _, lst in _fields(buf):
        if kind == 1:
            return [v for num, _, v in _fields(lst) if num == 1]  # type: ignore[misc]
        if kind == 2:
            parts = [v for num, _, v in _fields(lst) if num == 1]
            return np.frombuffer(b"".join(parts), "<f4")  # packed payloads and unpacked 4-byte values alike
        if kind == 3:
            vals: list[int] = []
            for num, wire, v in _fields(lst):
                if num != 1:
                    continue
                if wire == 0:
                    vals.append(v)  # type: ignore[arg-type]
                else:
                    j = 0
                    while j < len(v):  # type: ignore[arg-type]
                        x, j = _varint(v, j)  # type: ignore[arg-type]
                        vals.append(x)
            return np.array([x - (1 << 64) if x >= 1 << 63 else x for x in vals], np.int64)
    return []


def parse_example(buf: bytes, keys: set[str] | None = None) -> dict[str, list[bytes] | np.ndarray]:
    """``{feature name: value}`` of a serialized ``tf.train.Example`` (only ``keys`` if given)."""
    out: dict[str, list[bytes] | np.ndarray] = {}
    for num, _, features in _fields(buf):
        if num != 1:
            continue
        for fnum, _, entry in _fields(features):  # type: ignore[arg-type]
            if fnum != 1:
                continue
            key, value = None, b""
            for enum, _, v in _fields(entry):  # type: ignore[arg-type]
                if enum == 1:
                    key = v.decode()  # type: ignore[union-attr]
                elif enum == 2:
                    value = v  # type: ignore[assignment]
            if key is not None and (keys is None or key in keys):
                out[key] = _feature(value)
    return out
