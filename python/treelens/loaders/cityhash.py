"""CityHash64, version 1.0: the string hash CatBoost applies to categorical values.

CatBoost keeps CityHash 1.0 (its ``util/digest/city``), whose results differ from later CityHash
releases, and uses the low 32 bits of it as a category's hash. Python integers stand in for
unsigned 64-bit arithmetic (every step is reduced modulo 2**64).
"""

from __future__ import annotations

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_K3 = 0xC949D7C7509E6557
_KMUL = 0x9DDFEA08EB382D69


def _u64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i : i + 8], "little")


def _u32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i : i + 4], "little")


def _rotate(v: int, shift: int) -> int:
    # Right rotation; a shift of 0 leaves the value as it is.
    return v if shift == 0 else ((v >> shift) | (v << (64 - shift))) & _MASK


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _hash_128_to_64(low: int, high: int) -> int:
    a = ((low ^ high) * _KMUL) & _MASK
    a ^= a >> 47
    b = ((high ^ a) * _KMUL) & _MASK
    b ^= b >> 47
    return (b * _KMUL) & _MASK


def _len_0_to_16(s: bytes) -> int:
    n = len(s)
    if n > 8:
        a = _u64(s, 0)
        b = _u64(s, n - 8)
        return _hash_128_to_64(a, _rotate((b + n) & _MASK, n)) ^ b
    if n >= 4:
        a = _u32(s, 0)
        return _hash_128_to_64((n + (a << 3)) & _MASK, _u32(s, n - 4))
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_shift_mix(((y * _K2) ^ (z * _K3)) & _MASK) * _K2) & _MASK
    return _K2


def _len_17_to_32(s: bytes) -> int:
    n = len(s)
    a = (_u64(s, 0) * _K1) & _MASK
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * _K2) & _MASK
    d = (_u64(s, n - 16) * _K0) & _MASK
    return _hash_128_to_64(
        (_rotate((a - b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
        (a + _rotate(b ^ _K3, 20) - c + n) & _MASK,
    )


def _len_33_to_64(s: bytes) -> int:
    n = len(s)
    z = _u64(s, 24)
    a = (_u64(s, 0) + (n + _u64(s, n - 16)) * _K0) & _MASK
    b = _rotate((a + z) & _MASK, 52)
    c = _rotate(a, 37)
    a = (a + _u64(s, 8)) & _MASK
    c = (c + _rotate(a, 7)) & _MASK
    a = (a + _u64(s, 16)) & _MASK
    vf = (a + z) & _MASK
    vs = (b + _rotate(a, 31) + c) & _MASK
    a = (_u64(s, 16) + _u64(s, n - 32)) & _MASK
    z = _u64(s, n - 8)
    b = _rotate((a + z) & _MASK, 52)
    c = _rotate(a, 37)
    a = (a + _u64(s, n - 24)) & _MASK
    c = (c + _rotate(a, 7)) & _MASK
    a = (a + _u64(s, n - 16)) & _MASK
    wf = (a + z) & _MASK
    ws = (b + _rotate(a, 31) + c) & _MASK
    r = _shift_mix(((vf + ws) * _K2 + (wf + vs) * _K0) & _MASK)
    return (_shift_mix((r * _K0 + vs) & _MASK) * _K2) & _MASK


def _weak_32_with_seeds(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    """A 128-bit mix of the 32 bytes at ``i`` and two seeds."""
    w, x, y, z = _u64(s, i), _u64(s, i + 8), _u64(s, i + 16), _u64(s, i + 24)
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def cityhash64(s: bytes) -> int:
    """CityHash64 (version 1.0) of ``s``, as an unsigned 64-bit integer."""
    n = len(s)
    if n <= 16:
        return _len_0_to_16(s)
    if n <= 32:
        return _len_17_to_32(s)
    if n <= 64:
        return _len_33_to_64(s)
    # Longer strings: the tail first, then 64-byte chunks from the start.
    x = _u64(s, 0)
    y = _u64(s, n - 16) ^ _K1
    z = _u64(s, n - 56) ^ _K0
    v = _weak_32_with_seeds(s, n - 64, n, y)
    w = _weak_32_with_seeds(s, n - 32, (n * _K1) & _MASK, _K0)
    z = (z + _shift_mix(v[1]) * _K1) & _MASK
    x = (_rotate((z + x) & _MASK, 39) * _K1) & _MASK
    y = (_rotate(y, 33) * _K1) & _MASK
    pos = 0
    remaining = (n - 1) & ~63
    while True:
        x = (_rotate((x + y + v[0] + _u64(s, pos + 16)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v[1] + _u64(s, pos + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w[1]
        y ^= v[0]
        z = _rotate(z ^ w[0], 33)
        v = _weak_32_with_seeds(s, pos, (v[1] * _K1) & _MASK, (x + w[0]) & _MASK)
        w = _weak_32_with_seeds(s, pos + 32, (z + w[1]) & _MASK, y)
        z, x = x, z
        pos += 64
        remaining -= 64
        if remaining == 0:
            break
    return _hash_128_to_64(
        (_hash_128_to_64(v[0], w[0]) + _shift_mix(y) * _K1 + z) & _MASK,
        (_hash_128_to_64(v[1], w[1]) + x) & _MASK,
    )
