"""The previous Python decoder of Universal Binary JSON (XGBoost's ``.ubj`` models), kept only as
the test oracle of the Rust decoder.

Typed arrays (``[$d#...``) come back as numpy arrays, which keeps large models fast to read.
The decoder is iterative (an explicit stack, so any nesting depth decodes without recursion),
and every declared length or count is checked against the bytes that remain before anything
is allocated from it: a few bytes can never claim a huge container.
"""

from __future__ import annotations

import numpy as np

from treelens.exceptions import ModelFormatError

_NUMBERS = {
    b"i": ">i1",
    b"U": ">u1",
    b"I": ">i2",
    b"l": ">i4",
    b"L": ">i8",
    b"d": ">f4",
    b"D": ">f8",
}
#: Bytes one element of a typed container takes (after the shared type marker).
_SIZE = {m: np.dtype(t).itemsize for m, t in _NUMBERS.items()}
#: Types whose values take no byte at all: a typed container of them is all header, so a
#: count in it is not backed by any data. XGBoost never writes one; refusing them keeps a
#: 25-byte file from declaring 10**8 elements.
_EMPTY_TYPES = (b"Z", b"T", b"F", b"N")


def _corrupt(what: str, pos: int) -> ModelFormatError:
    return ModelFormatError(f"the UBJSON model is corrupt: {what} at byte {pos}")


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data) or n < 0:
            raise ModelFormatError(
                f"the UBJSON model is truncated: {n} bytes needed at byte {self.pos}, "
                f"{self.remaining()} left"
            )
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
        at = self.pos
        m = self.marker()
        if m not in _NUMBERS or m in (b"d", b"D"):
            raise _corrupt(f"expected an integer length, found {m!r}", at)
        n = self.number(m)
        if n < 0:
            raise _corrupt(f"negative length {n}", at)
        return n

    def string(self) -> str:
        n = self.length()
        raw = bytes(self.take(n))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt("a string is not UTF-8", self.pos - n) from None

    def scalar(self, m: bytes):
        """The value after marker ``m``; containers are handled by :func:`loads`."""
        if m in _NUMBERS:
            return self.number(m)
        if m == b"S":
            return self.string()
        if m == b"H":
            at = self.pos
            text = self.string()
            try:
                return float(text)
            except ValueError:
                raise _corrupt(f"bad high-precision number {text[:40]!r}", at) from None
        if m == b"C":
            return bytes(self.take(1)).decode("latin-1")
        if m == b"T":
            return True
        if m == b"F":
            return False
        if m == b"Z":
            return None
        raise _corrupt(f"unknown marker {m!r}", self.pos - 1)

    def header(self, is_object: bool):
        """The optional ``$type`` and ``#count`` after an opening bracket, checked against the
        bytes left; returns ``(type, count, first marker of an unsized container)``."""
        at = self.pos
        kind = None
        m = self.marker()
        if m == b"$":
            kind = bytes(self.take(1))
            if kind in _EMPTY_TYPES:
                raise _corrupt(f"a container typed {kind!r} (values without bytes)", at)
            if kind not in _NUMBERS:
                # XGBoost writes (and reads) typed containers of numbers only.
                raise _corrupt(f"a container typed {kind!r} (only numbers are typed)", at)
            m = self.marker()
            if m != b"#":
                raise _corrupt("a typed container needs a count", at)
        if m != b"#":
            return kind, None, m
        count = self.length()
        # Untyped elements take at least a marker byte; object keys at least two more.
        each = _SIZE.get(kind, 1) + (2 if is_object else 0)
        if count * each > self.remaining():
            raise ModelFormatError(
                f"the UBJSON model is corrupt or truncated: a container at byte {at} declares "
                f"{count} elements, but only {self.remaining()} bytes follow"
            )
        return kind, count, None


class _Frame:
    """An open container on the decoder's stack."""

    __slots__ = ("value", "kind", "left", "key")

    def __init__(self, value, kind, left):
        self.value = value
        self.kind = kind  # the shared type marker, or None
        self.left = left  # elements still to read, or None until the closing bracket
        self.key = None  # objects: the key whose value is being read


def loads(data: bytes):
    """Decodes one UBJSON document."""
    r = _Reader(data)
    stack: list[_Frame] = []
    m = r.marker()
    pending = None  # a marker already read for the innermost unsized container
    while True:
        # Decode the value that starts with marker m; a container opens a frame instead.
        done = True
        if m in (b"[", b"{"):
            is_object = m == b"{"
            kind, count, pending = r.header(is_object)
            if not is_object and count is not None and kind in _NUMBERS:
                dtype = np.dtype(_NUMBERS[kind])
                raw = r.take(count * dtype.itemsize)
                value = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
            else:
                stack.append(_Frame({} if is_object else [], kind, count))
                done = False
        else:
            value = r.scalar(m)
        # Hand finished values to their containers, closing those that are complete, until
        # one needs another element.
        while True:
            if done:
                if not stack:
                    return value
                top = stack[-1]
                if top.key is not None:
                    top.value[top.key] = value
                else:
                    top.value.append(value)
                if top.left is not None:
                    top.left -= 1
                done = False
            top = stack[-1]
            is_object = isinstance(top.value, dict)
            if top.left is not None:
                if top.left == 0:
                    value, done = stack.pop().value, True
                    continue
                if is_object:
                    top.key = r.string()
                m = top.kind if top.kind is not None else r.marker()
                break
            first = pending if pending is not None else r.marker()
            pending = None
            if first == (b"}" if is_object else b"]"):
                value, done = stack.pop().value, True
                continue
            if is_object:
                # Keys carry no 'S' marker: `first` is already the marker of the key's length.
                r.pos -= 1
                top.key = r.string()
                m = r.marker()
            else:
                m = first
            break
