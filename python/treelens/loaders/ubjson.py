"""A decoder for Universal Binary JSON, the format of XGBoost's ``.ubj`` model files.

Typed arrays (``[$d#...``) come back as numpy arrays, which keeps large models fast to read.
"""

from __future__ import annotations

import struct

import numpy as np

from ..exceptions import ModelFormatError

_NUMBERS = {
    b"i": ">i1",
    b"U": ">u1",
    b"I": ">i2",
    b"l": ">i4",
    b"L": ">i8",
    b"d": ">f4",
    b"D": ">f8",
}


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data) or n < 0:
            raise ModelFormatError("the UBJSON model is truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def marker(self) -> bytes:
        while True:
            m = bytes(self.take(1))
            if m != b"N":  # no-op
                return m

    def number(self, m: bytes):
        dtype = np.dtype(_NUMBERS[m])
        value = np.frombuffer(self.take(dtype.itemsize), dtype=dtype)[0]
        return float(value) if dtype.kind == "f" else int(value)

    def length(self) -> int:
        m = self.marker()
        if m not in _NUMBERS or m in (b"d", b"D"):
            raise ModelFormatError(f"UBJSON: expected an integer length, found {m!r}")
        n = self.number(m)
        if n < 0:
            raise ModelFormatError("UBJSON: negative length")
        return n

    def string(self) -> str:
        return bytes(self.take(self.length())).decode("utf-8")

    def value(self, m: bytes):
        if m in _NUMBERS:
            return self.number(m)
        if m == b"S":
            return self.string()
        if m == b"H":
            return float(self.string())
        if m == b"C":
            return bytes(self.take(1)).decode("latin-1")
        if m == b"T":
            return True
        if m == b"F":
            return False
        if m == b"Z":
            return None
        if m == b"[":
            return self.array()
        if m == b"{":
            return self.object()
        raise ModelFormatError(f"UBJSON: unknown marker {m!r} at byte {self.pos - 1}")

    def _container_header(self):
        """Optional ``$type`` and ``#count`` after an opening bracket."""
        kind = count = None
        m = self.marker()
        if m == b"$":
            kind = self.marker()
            m = self.marker()
            if m != b"#":
                raise ModelFormatError("UBJSON: a typed container needs a count")
        if m == b"#":
            count = self.length()
            return kind, count, None
        return kind, count, m

    def array(self):
        kind, count, first = self._container_header()
        if count is not None:
            if kind in _NUMBERS:
                dtype = np.dtype(_NUMBERS[kind])
                raw = self.take(count * dtype.itemsize)
                return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
            if kind is not None:
                return [self.value(kind) for _ in range(count)]
            return [self.value(self.marker()) for _ in range(count)]
        out = []
        m = first
        while m != b"]":
            out.append(self.value(m))
            m = self.marker()
        return out

    def object(self):
        kind, count, first = self._container_header()
        out = {}
        if count is not None:
            for _ in range(count):
                key = self.string()
                out[key] = self.value(kind if kind is not None else self.marker())
            return out
        m = first
        while m != b"}":
            # Keys carry no 'S' marker: m is already the first byte of the key's length.
            self.pos -= 1
            key = self.string()
            out[key] = self.value(self.marker())
            m = self.marker()
        return out


def loads(data: bytes):
    """Decodes one UBJSON document."""
    reader = _Reader(data)
    try:
        value = reader.value(reader.marker())
    except (struct.error, UnicodeDecodeError, KeyError, ValueError, IndexError) as e:
        if isinstance(e, ModelFormatError):
            raise
        raise ModelFormatError(f"the UBJSON model is corrupt: {e}") from None
    return value
