"""A minimal progress bar on stderr, driven by the core between chunks of work."""

from __future__ import annotations

import sys
import time

#: Work smaller than this many rows never shows a bar unless asked.
_AUTO_MIN_ROWS = 200_000


class _Bar:
    def __init__(self, label: str):
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        frac = done / total if total else 1.0
        width = 30
        filled = int(frac * width)
        elapsed = now - self.start
        left = f"{elapsed / frac - elapsed:6.1f}s left" if frac > 0 else "  ...  left"
        sys.stderr.write(
            f"\r{self.label}: [{'#' * filled}{'.' * (width - filled)}] {frac:6.1%} "
            f"{elapsed:6.1f}s elapsed, {left}"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def progress_callback(progress: bool | None, label: str, size: int):
    """A callback for the core, or None: ``progress=None`` shows a bar only for long work on a
    terminal, True always, False never."""
    if progress is None:
        show = size >= _AUTO_MIN_ROWS and getattr(sys.stderr, "isatty", lambda: False)()
    else:
        show = bool(progress)
    return _Bar(label) if show else None
