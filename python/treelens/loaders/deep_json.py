"""JSON text at any nesting depth.

Python's ``json`` module recurses once per nesting level and raises ``RecursionError`` beyond
about a thousand levels, which XGBoost dumps of deep (lossguide) trees exceed: every tree level
nests an object and a ``children`` array. :func:`loads` tries ``json`` first (fast) and falls
back to an iterative parser with an explicit stack, which handles any depth.
"""

from __future__ import annotations

import json
import re

from ..exceptions import ModelFormatError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>[\[\]{}:,])
      | (?P<string>"(?:[^"\\\x00-\x1f]|\\.)*")
      | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | (?P<word>true|false|null|NaN|-?Infinity)
    )""",
    re.VERBOSE | re.DOTALL,
)
_WORDS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


def loads(text: str):
    """Parses JSON ``text``; :class:`ModelFormatError` when it is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        return _loads_iteratively(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"not valid JSON: {e}") from None


def _error(what: str, pos: int) -> ModelFormatError:
    return ModelFormatError(f"not valid JSON: {what} at character {pos}")


def _string(token: str, pos: int) -> str:
    try:
        return json.loads(token)
    except json.JSONDecodeError as e:
        raise _error(f"bad string ({e.msg})", pos) from None


def _loads_iteratively(text: str):
    # Each open container is [container, key]; `expect` says what the grammar allows next.
    stack: list[list] = []
    expect = "value"
    pos, end = 0, len(text)
    match = _TOKEN.match
    while True:
        m = match(text, pos)
        if m is None:
            if text[pos:].strip() == "" and expect == "done":
                break
            raise _error("unexpected text", pos)
        pos = m.end()
        kind = m.lastgroup
        token = m.group(kind)
        if expect == "done":
            raise _error("extra data after the document", m.start(kind))
        if kind == "punct":
            if token in "[{" and expect in ("value", "value_or_close"):
                stack.append([[] if token == "[" else {}, None])
                expect = "value_or_close" if token == "[" else "key_or_close"
                continue
            if token in "]}":
                top = stack[-1][0] if stack else None
                closes = isinstance(top, list) if token == "]" else isinstance(top, dict)
                allowed = ("comma_or_close", "value_or_close" if token == "]" else "key_or_close")
                if not closes or expect not in allowed:
                    raise _error(f"unexpected {token!r}", m.start(kind))
                value = stack.pop()[0]
            elif token == ":" and expect == "colon":
                expect = "value"
                continue
            elif token == "," and expect == "comma_or_close":
                expect = "value" if isinstance(stack[-1][0], list) else "key"
                continue
            else:
                raise _error(f"unexpected {token!r}", m.start(kind))
        elif expect in ("key", "key_or_close"):
            if kind != "string":
                raise _error("expected a string key", m.start(kind))
            stack[-1][1] = _string(token, m.start(kind))
            expect = "colon"
            continue
        elif expect not in ("value", "value_or_close"):
            raise _error(f"unexpected {token[:20]!r}", m.start(kind))
        elif kind == "string":
            value = _string(token, m.start(kind))
        elif kind == "number":
            value = int(token) if token.lstrip("-").isdigit() else float(token)
        else:
            value = _WORDS[token]
        # A complete value: it belongs to the innermost container, or it is the document.
        if not stack:
            expect = "done"
            result = value
            if pos >= end:
                break
            continue
        container, key = stack[-1]
        if isinstance(container, list):
            container.append(value)
        else:
            container[key] = value
        expect = "comma_or_close"
    return result
